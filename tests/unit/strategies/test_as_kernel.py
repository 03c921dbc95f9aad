"""The compiled A-S kernel: equal to its pure-Python twin, and quote_into equal to compute_quotes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from stubs import perpetual, ticker, trade
from thalex_modular.platform.domain.entities import Instrument, Quote, Ticker
from thalex_modular.platform.domain.enums import InstrumentKind, Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.jit import python_twin
from thalex_modular.platform.domain.quote_array import new_quote_array, quotes_from_array
from thalex_modular.strategies import AvellanedaStoikovConfig, AvellanedaStoikovStrategy, QuoteContext
from thalex_modular.strategies.as_kernel import ERR_RANGE, TICK_RANGE, pack_parameters, quote_kernel
from thalex_modular.strategies.protocol import ArrayStrategy

S = 1_000_000_000
NOW = 1_700_000_000 * S
NAN = math.nan


@dataclass
class Scenario:
    inst: Instrument
    cfg: AvellanedaStoikovConfig
    best_bid: float | None
    best_ask: float | None
    fair: float
    position: float
    sigma: float
    mult: float
    now_ns: int
    kappa: float


def _log_uniform(low_exp: float, high_exp: float) -> st.SearchStrategy[float]:
    return st.floats(low_exp, high_exp).map(lambda e: 10.0**e)


@st.composite
def scenarios(draw: st.DrawFn, extreme: bool = False) -> Scenario:
    tick = draw(st.sampled_from([0.1, 0.5, 1.0, 2.5, 5.0]))
    volume_tick = draw(st.sampled_from([0.001, 0.01, 1.0]))
    min_amount = volume_tick * draw(st.sampled_from([1, 1, 3, 10]))
    now = NOW + draw(st.integers(0, 10**12))
    expiry_kind = draw(st.sampled_from(["none", "none", "none", "past", "at", "near", "near", "far"]))
    expiry = {
        "none": None,
        "past": now - draw(st.integers(1, 10**13)),
        "at": now,
        "near": now + draw(st.integers(1, 600 * S)),
        "far": now + draw(st.integers(600 * S, 2**62 - NOW)),  # past 2**53 ns too
    }[expiry_kind]
    inst = Instrument("X-1", InstrumentKind.FUTURE, "BTCUSD", tick, volume_tick, min_amount, "FBTCUSD",
                      expiry_ns=expiry)
    price = st.one_of(_log_uniform(-3, 20 if extreme else 7), _log_uniform(2, 7))
    # half the prices on the grid: where the rounding epsilons decide
    fair = draw(price) if draw(st.booleans()) else inst.price(draw(st.integers(1, 10**8)) * draw(st.sampled_from(
        [1, 100])))
    levels = draw(st.integers(1, 5))
    max_pos = volume_tick * draw(st.integers(1, 400)) * draw(st.sampled_from([1.0, 0.777, 1e-3, 1e3]))
    cfg = AvellanedaStoikovConfig(
        gamma=draw(_log_uniform(-300, 300) if extreme else _log_uniform(-6, 1)),
        max_position_underlying=max_pos,
        level_amounts=tuple(volume_tick * draw(st.integers(1, 50)) * draw(st.sampled_from([1.0, 1.37, 0.999, 0.01]))
                            for _ in range(levels)),
        horizon_s=1e12 if expiry_kind == "far" else draw(st.sampled_from([60.0, 0.5, 3600.0])),
        kappa_per_usd=1.0,  # unused by the kernel: kappa is an argument
        min_spread_ticks=draw(st.integers(1, 6)),
        max_cross_ticks=draw(st.sampled_from([0, 1, 3, 2**31]) if extreme else st.integers(0, 3)),
        level_spacing_ticks=draw(st.integers(1, 5)),
        max_skew_ticks=draw(st.sampled_from([0, 1, 20, 200, 10**19, 10**22]) if extreme else st.integers(0, 200)),
        maker_fee_bps=draw(st.sampled_from([0.0, 0.0, 1.0, -0.5, 2.5])),
        min_edge_bps=draw(st.sampled_from([0.0, 0.0, 0.5, 10.0])),
    )
    position = draw(st.one_of(
        st.sampled_from([1.0, -1.0, 1 - 1e-12, -1 + 1e-12, 1 + 1e-12, -1 - 1e-12, 0.0, 0.5, -0.999]).map(
            lambda f: f * max_pos),
        st.floats(-2.0, 2.0).map(lambda f: f * max_pos),
        *([st.floats(-1e300, 1e300)] if extreme else []),
    ))

    def touch(sign: float) -> float | None:
        kind = draw(st.sampled_from(["none", "near", "grid", "far"]))
        if kind == "none":
            return None
        if kind == "grid":
            return inst.price(max(1, round(fair / tick) + int(sign) * draw(st.integers(-3, 30))))
        if kind == "far" and extreme:
            return draw(_log_uniform(-3, 21))
        return fair * (1.0 + sign * draw(_log_uniform(-9, -0.5)))

    best_bid = touch(-1.0)
    best_ask = touch(1.0)
    sigma = draw(st.one_of(st.just(0.0), _log_uniform(-9, -4), _log_uniform(-9, 0),
                           *([_log_uniform(100, 160)] if extreme else [])))
    mult = draw(_log_uniform(-2, 2))
    kappa = draw(_log_uniform(-3, 4))
    return Scenario(inst, cfg, best_bid, best_ask, fair, position, sigma, mult, now, kappa)


def _run(fn: object, sc: Scenario, as_lists: bool = False) -> tuple[object, list[list[int]]]:
    """The kernel's result and rows (or the exception it raised). ``as_lists`` passes the parameters as lists of
    Python floats and ints: the twin then runs on CPython's own number semantics (no numpy scalars), so an int64
    overflow in the compiled kernel would show as a difference."""
    fp, ip = pack_parameters(sc.inst, sc.cfg)
    out = new_quote_array(2 * sc.cfg.levels)
    try:
        n = fn(  # type: ignore[operator]
            out, fp.tolist() if as_lists else fp, ip.tolist() if as_lists else ip,
            NAN if sc.best_bid is None else sc.best_bid, NAN if sc.best_ask is None else sc.best_ask,
            sc.fair, sc.position, sc.sigma, sc.mult, sc.now_ns, sc.kappa,
        )
    except ArithmeticError as exc:  # 2.0 / gamma when gamma underflows to 0.0: Python and numba both raise
        return type(exc).__name__, []
    return int(n), out[: max(int(n), 0)].tolist()


# -- twin ------------------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(sc=scenarios())
def test_compiled_kernel_equals_its_python_twin(sc: Scenario) -> None:
    assert _run(quote_kernel, sc) == _run(python_twin(quote_kernel), sc, as_lists=True)


@settings(max_examples=400, deadline=None)
@given(sc=scenarios(extreme=True))
def test_compiled_kernel_equals_its_python_twin_on_absurd_inputs_without_overflow(sc: Scenario) -> None:
    compiled = _run(quote_kernel, sc)
    assert compiled == _run(python_twin(quote_kernel), sc, as_lists=True)
    assert all(abs(v) <= TICK_RANGE + 2**48 for row in compiled[1] for v in row)


# -- quote_into == compute_quotes ------------------------------------------------------------------------


def _context(sc: Scenario) -> QuoteContext:
    tk = Ticker(sc.inst.instrument_name, sc.fair, NOW, NOW, best_bid_price=sc.best_bid, best_ask_price=sc.best_ask)
    return QuoteContext(sc.inst, tk, sc.fair, sc.position, sc.sigma, sc.mult, sc.now_ns)


def _strategy(sc: Scenario) -> AvellanedaStoikovStrategy:
    cfg = sc.cfg
    return AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
        gamma=cfg.gamma, max_position_underlying=cfg.max_position_underlying, level_amounts=cfg.level_amounts,
        horizon_s=cfg.horizon_s, kappa_per_usd=sc.kappa, min_spread_ticks=cfg.min_spread_ticks,
        max_cross_ticks=cfg.max_cross_ticks, level_spacing_ticks=cfg.level_spacing_ticks,
        max_skew_ticks=cfg.max_skew_ticks, maker_fee_bps=cfg.maker_fee_bps, min_edge_bps=cfg.min_edge_bps,
    ))


@settings(max_examples=300, deadline=None)
@given(scs=st.lists(scenarios(), min_size=1, max_size=4))
def test_quote_into_writes_what_compute_quotes_returns(scs: list[Scenario]) -> None:
    # one strategy per call path, fed the same sequence (caches and the instrument switch included)
    into, ctx_strat = _strategy(scs[0]), _strategy(scs[0])
    out = new_quote_array(into.max_quotes)
    for sc in scs:
        sc.cfg, sc.kappa = scs[0].cfg, scs[0].kappa
        try:
            n = into.quote_into(out, sc.inst, sc.best_bid, sc.best_ask, sc.fair, sc.position, sc.sigma, sc.mult,
                                sc.now_ns)
            written: object = quotes_from_array(out, n)
        except InvalidValue as exc:  # a ladder past the tick range (a 1e12 s horizon, say)
            written = str(exc)
        try:
            returned: object = tuple(ctx_strat.compute_quotes(_context(sc)))
        except InvalidValue as exc:
            returned = str(exc)
        assert written == returned
        if isinstance(written, tuple):
            assert _run(quote_kernel, sc) == (n, out[:n].tolist())


def test_quote_into_matches_a_hand_computed_example() -> None:
    # the example of test_avellaneda_stoikov: half spread 9.980 around 100 000
    strat = AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
        gamma=0.01, max_position_underlying=1.0, level_amounts=(0.1, 0.25), kappa_per_usd=0.1,
        level_spacing_ticks=3))
    out = new_quote_array(strat.max_quotes)
    n = strat.quote_into(out, perpetual(), 99_999.0, 100_001.0, 100_000.0, 0.0, 1e-5, 1.0, NOW)
    assert out[:n].tolist() == [[1, 99_990, 100, 0], [1, 99_987, 250, 1], [0, 100_010, 100, 0],
                                [0, 100_013, 250, 1]]


def test_a_nan_touch_is_a_missing_one() -> None:
    strat = AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
        gamma=1.0, max_position_underlying=2.0, level_amounts=(0.1,), kappa_per_usd=10.0, max_skew_ticks=50))
    a, b = new_quote_array(2), new_quote_array(2)
    n_none = strat.quote_into(a, perpetual(), None, None, 100_000.0, -1.0, 1e-4, 1.0, NOW)
    n_nan = strat.quote_into(b, perpetual(), NAN, NAN, 100_000.0, -1.0, 1e-4, 1.0, NOW)
    assert (n_none, a.tolist()) == (n_nan, b.tolist())


# -- the strategy around the kernel ----------------------------------------------------------------------


def _config(**overrides: object) -> AvellanedaStoikovConfig:
    base: dict[str, object] = {"gamma": 0.01, "max_position_underlying": 1.0, "level_amounts": (0.1, 0.2, 0.3),
                               "kappa_per_usd": 0.1}
    base.update(overrides)
    return AvellanedaStoikovConfig(**base)  # type: ignore[arg-type]


def test_strategy_is_an_array_strategy_with_room_for_both_sides() -> None:
    strat = AvellanedaStoikovStrategy(_config())
    assert isinstance(strat, ArrayStrategy)
    assert strat.max_quotes == 6


@pytest.mark.parametrize(("field", "value", "message"), [
    ("fair", 0.0, "QuoteContext.fair_price must be finite and > 0, was 0.0"),
    ("fair", math.inf, "QuoteContext.fair_price must be finite and > 0, was inf"),
    ("position", math.nan, "QuoteContext.position must be finite, was nan"),
    ("sigma", -1.0, "QuoteContext.sigma_per_s must be finite and >= 0, was -1.0"),
    ("sigma", math.inf, "QuoteContext.sigma_per_s must be finite and >= 0, was inf"),
    ("mult", 0.0, "QuoteContext.risk_multiplier must be finite and > 0, was 0.0"),
    ("mult", math.nan, "QuoteContext.risk_multiplier must be finite and > 0, was nan"),
])
def test_quote_into_refuses_what_the_context_refuses_with_its_message(field: str, value: float, message: str) -> None:
    # Arrange
    args = {"fair": 100_000.0, "position": 0.0, "sigma": 1e-5, "mult": 1.0}
    args[field] = value
    strat = AvellanedaStoikovStrategy(_config(kappa_per_usd=None))
    tk = ticker()
    # Act / Assert: the same message as QuoteContext, and no kappa bookkeeping
    with pytest.raises(InvalidValue, match=re.escape(message)):
        QuoteContext(perpetual(), tk, args["fair"], args["position"], args["sigma"], args["mult"], NOW)
    with pytest.raises(InvalidValue, match=re.escape(message)):
        strat.quote_into(new_quote_array(6), perpetual(), 99_999.0, 100_001.0, args["fair"], args["position"],
                         args["sigma"], args["mult"], NOW)
    strat.on_trade(trade(100_002.0, 0.1, Side.BUY, NOW))
    assert strat._estimator is not None and strat._estimator.count == 0


def test_quote_into_keeps_the_kappa_bookkeeping() -> None:
    strat = AvellanedaStoikovStrategy(_config(kappa_per_usd=None, kappa_min_trades=2, kappa_window_trades=10))
    out = new_quote_array(strat.max_quotes)
    strat.quote_into(out, perpetual(), 99_999.0, 100_001.0, 100_000.0, 0.0, 1e-5, 1.0, NOW)
    strat.on_trade(trade(100_004.0, 0.1, Side.BUY, NOW))
    strat.on_trade(trade(99_996.0, 0.1, Side.SELL, NOW))
    strat.on_trade(trade(100_004.0, 0.1, Side.BUY, NOW, name="ETH-PERPETUAL"))  # not the quoted instrument
    strat.quote_into(out, perpetual(), 99_999.0, 100_001.0, 100_000.0, 0.0, 1e-5, 1.0, NOW + 10**9)  # 1 s later
    assert strat.kappa_per_usd() == pytest.approx(1 / 3)  # 2 trades, 4 USD from the mid, 1 of it inside the book


def test_quote_into_refuses_a_too_small_array() -> None:
    strat = AvellanedaStoikovStrategy(_config())
    for out in (new_quote_array(5), np.zeros((6, 3), dtype=np.int64)):
        with pytest.raises(InvalidValue, match="at least 6 rows of 4"):
            strat.quote_into(out, perpetual(), None, None, 100_000.0, 0.0, 1e-5, 1.0, NOW)


def test_nothing_is_quoted_on_or_after_expiry() -> None:
    inst = Instrument("BTC-X", InstrumentKind.FUTURE, "BTCUSD", 1.0, 0.001, 0.001, "FBTCUSD", expiry_ns=NOW)
    strat = AvellanedaStoikovStrategy(_config())
    out = new_quote_array(6)
    assert strat.quote_into(out, inst, None, None, 100_000.0, 0.0, 1e-5, 1.0, NOW - 1) == 6
    assert strat.quote_into(out, inst, None, None, 100_000.0, 0.0, 1e-5, 1.0, NOW) == 0
    assert strat.quote_into(out, inst, None, None, 100_000.0, 0.0, 1e-5, 1.0, NOW + S) == 0


def test_instruments_alternate_with_their_own_parameters() -> None:
    strat = AvellanedaStoikovStrategy(_config())
    coarse, fine = perpetual(tick_size=5.0), perpetual(name="FINE", tick_size=0.5)
    out = new_quote_array(6)
    strat.quote_into(out, coarse, None, None, 100_000.0, 0.0, 1e-5, 1.0, NOW)
    coarse_rows = out.tolist()
    strat.quote_into(out, fine, None, None, 100_000.0, 0.0, 1e-5, 1.0, NOW)
    assert out.tolist() != coarse_rows
    strat.quote_into(out, coarse, None, None, 100_000.0, 0.0, 1e-5, 1.0, NOW)
    assert out.tolist() == coarse_rows


def test_compute_quotes_returns_the_same_tuple_for_an_unchanged_ladder() -> None:
    strat = AvellanedaStoikovStrategy(_config())
    first = strat.compute_quotes(QuoteContext(perpetual(), ticker(), 100_000.0, 0.0, 1e-5, 1.0, NOW))
    again = strat.compute_quotes(QuoteContext(perpetual(), ticker(), 100_000.01, 0.0, 1e-5, 1.0, NOW))
    moved = strat.compute_quotes(QuoteContext(perpetual(), ticker(), 100_003.0, 0.0, 1e-5, 1.0, NOW))
    assert again is first
    assert moved != first
    assert all(type(q) is Quote and type(q.price_ticks) is int for q in moved)


# -- range: every integer inside int64 -------------------------------------------------------------------


def test_a_ladder_past_the_tick_range_is_refused() -> None:
    # short 1e6 with sigma 1e6 USD/sqrt(s): the skew (capped only at 1e22 ticks) lifts the centre to ~6e19 ticks
    strat = AvellanedaStoikovStrategy(_config(gamma=1.0, max_skew_ticks=10**22, max_position_underlying=1e9))
    out = new_quote_array(6)
    with pytest.raises(InvalidValue, match=re.escape("would be priced beyond +-2**62 ticks")):
        strat.quote_into(out, perpetual(), None, None, 100_000.0, -1e6, 10.0, 1.0, NOW)
    fp, ip = pack_parameters(perpetual(), strat.config)
    assert quote_kernel(out, fp, ip, NAN, NAN, 1e300, 0.0, 1e-150, 1.0, NOW, 0.1) == ERR_RANGE  # asks ~3e301


def test_bids_below_the_tick_range_are_cut_like_any_bid_below_zero() -> None:
    # long 1 with gamma * sigma**2 * T ~ 2**62 USD: skew ~2**62 ticks down, half spread ~2**61: the bids fall below
    # -2**62 ticks and are cut, the asks (~ -2**61) are held behind the best bid, as Python's ints were
    strat = AvellanedaStoikovStrategy(_config(gamma=1.0, max_skew_ticks=10**22, max_position_underlying=10.0))
    out = new_quote_array(6)
    n = strat.quote_into(out, perpetual(), 99_999.0, None, 100_000.0, 1.0, 2772.0, 1.0, NOW)
    assert out[:n].tolist() == [[0, 100_000, 100, 0], [0, 100_001, 200, 1], [0, 100_002, 300, 2]]


def test_pack_parameters_refuses_what_would_overflow() -> None:
    with pytest.raises(InvalidValue, match="max_cross_ticks must be <= 2147483648"):
        pack_parameters(perpetual(), _config(max_cross_ticks=2**40))
    with pytest.raises(InvalidValue, match="lots of BTC-PERPETUAL in all"):
        pack_parameters(perpetual(), _config(level_amounts=(1e13,)))


# -- time to expiry ---------------------------------------------------------------------------------------


@settings(max_examples=2000, deadline=None)
@given(whole=st.one_of(st.integers(0, 2**34), st.integers(9_007_190, 9_007_210), st.integers(0, 2**52 + 2**34)),
       rem=st.integers(0, S - 1))
def test_the_kernels_split_time_to_expiry_is_pythons_int_division(whole: int, rem: int) -> None:
    # the kernel's formula (no int64 overflow) against Python's correctly rounded int / int
    split = (whole * S + rem) / S if whole < 9_007_198 else whole + rem / S
    assert split == (whole * S + rem) / S
