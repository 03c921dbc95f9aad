"""Avellaneda-Stoikov: formulas, rounding against the book, inventory limits, skew, regime → quotes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from stubs import option, perpetual, ticker
from thalex_modular.platform.domain.entities import Instrument, Quote
from thalex_modular.platform.domain.enums import InstrumentKind, Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market import MultiWindowRegimeAnalyzer, RegimeLabel
from thalex_modular.strategies import (
    AvellanedaStoikovConfig,
    AvellanedaStoikovStrategy,
    QuoteContext,
    Strategy,
    optimal_spread,
    reservation_price,
    usd_sigma_per_sqrt_s,
)

S = 1_000_000_000
NOW = 1_700_000_000 * S


def _config(**overrides: object) -> AvellanedaStoikovConfig:
    base: dict[str, object] = {
        "gamma": 0.01, "max_position_underlying": 1.0, "level_amounts": (0.1,), "horizon_s": 60.0,
        "kappa_per_usd": 0.1, "min_spread_ticks": 2, "max_skew_ticks": 20,
    }
    base.update(overrides)
    return AvellanedaStoikovConfig(**base)  # type: ignore[arg-type]


def _ctx(position: float = 0.0, sigma: float = 1e-5, mult: float = 1.0, bid: float | None = 99_999.0,
         ask: float | None = 100_001.0, inst: Instrument | None = None, now_ns: int = NOW) -> QuoteContext:
    tk = ticker(bid, ask)
    return QuoteContext(inst or perpetual(), tk, tk.mid_price, position, sigma, mult, now_ns)


def _sides(quotes: list[Quote] | tuple[Quote, ...]) -> tuple[list[Quote], list[Quote]]:
    return [q for q in quotes if q.side is Side.BUY], [q for q in quotes if q.side is Side.SELL]


# -- formulas --------------------------------------------------------------------------------------------


def test_formulas_against_hand_computed_values() -> None:
    # 100 - 2 * 0.1 * 0.5² * 10 = 99.5
    assert reservation_price(100.0, 2.0, 0.1, 0.5, 10.0) == pytest.approx(99.5, abs=1e-12)
    assert reservation_price(100.0, -2.0, 0.1, 0.5, 10.0) == pytest.approx(100.5, abs=1e-12)
    # 0.1 * 0.25 * 10 + (2 / 0.1) * ln(1 + 0.1 / 1.5) = 0.25 + 20 * ln(16/15) = 1.5407704227514236
    assert optimal_spread(0.1, 0.5, 10.0, 1.5) == pytest.approx(1.5407704227514236, rel=1e-14)
    # small gamma: the spread tends to 2 / kappa
    assert optimal_spread(1e-9, 0.0, 60.0, 0.1) == pytest.approx(20.0, rel=1e-6)
    # 1e-5 per sqrt(s) relative at 100 000 USD is 1 USD per sqrt(s)
    assert usd_sigma_per_sqrt_s(1e-5, 100_000.0) == pytest.approx(1.0)


def test_quotes_match_a_hand_computed_example() -> None:
    # sigma 1 USD/sqrt(s), order size 0.1: spread = 0.001 * 1 * 60 + 2000 * ln(1.01) = 19.961 → half 9.980
    strat = AvellanedaStoikovStrategy(_config(level_amounts=(0.1, 0.25), level_spacing_ticks=3))
    quotes = strat.compute_quotes(_ctx())
    assert list(quotes) == [
        Quote(Side.BUY, 99_990, 100, 0),  # floor(99 990.020)
        Quote(Side.BUY, 99_987, 250, 1),
        Quote(Side.SELL, 100_010, 100, 0),  # ceil(100 009.980)
        Quote(Side.SELL, 100_013, 250, 1),
    ]
    # with inventory +0.5: shift 0.5 * 0.01 * 1 * 60 = 0.3 USD down
    bids, asks = _sides(strat.compute_quotes(_ctx(position=0.5)))
    assert (bids[0].price_ticks, asks[0].price_ticks) == (99_989, 100_010)  # floor(99 989.720), ceil(100 009.680)


def test_strategy_satisfies_the_protocol() -> None:
    strategy: Strategy = AvellanedaStoikovStrategy(_config())
    assert strategy.compute_quotes(_ctx())


# -- rounding and the book -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    tick=st.sampled_from([0.01, 0.5, 1.0, 5.0, 2.5]),
    mid_ticks=st.integers(100, 10_000_000),
    book_half_ticks=st.integers(1, 50),
    bid_present=st.booleans(),
    ask_present=st.booleans(),
    position=st.floats(-3.0, 3.0),
    sigma=st.floats(0.0, 1e-2),
    gamma=st.floats(1e-6, 10.0),
    kappa=st.floats(1e-3, 100.0),
    cross=st.integers(0, 3),
    min_spread=st.integers(1, 5),
    skew=st.integers(0, 100),
)
def test_rounding_never_crosses_the_book(
    tick: float, mid_ticks: int, book_half_ticks: int, bid_present: bool, ask_present: bool, position: float,
    sigma: float, gamma: float, kappa: float, cross: int, min_spread: int, skew: int,
) -> None:
    # Arrange
    inst = perpetual(tick_size=tick)
    best_bid = mid_ticks - book_half_ticks
    best_ask = mid_ticks + book_half_ticks
    tk = ticker(inst.price(best_bid) if bid_present else None, inst.price(best_ask) if ask_present else None,
                mark=inst.price(mid_ticks))
    ctx = QuoteContext(inst, tk, tk.mid_price, position, sigma, 1.0, NOW)
    strat = AvellanedaStoikovStrategy(_config(
        gamma=gamma, kappa_per_usd=kappa, max_cross_ticks=cross, min_spread_ticks=min_spread, max_skew_ticks=skew,
        max_position_underlying=5.0, level_amounts=(0.1, 0.2),
    ))
    # Act
    bids, asks = _sides(strat.compute_quotes(ctx))
    # Assert
    assert asks  # bids may vanish when the spread reaches below a zero price
    if bids:
        assert max(b.price_ticks for b in bids) + min_spread <= min(a.price_ticks for a in asks)
    for b in bids:
        if ask_present:
            assert b.price_ticks <= best_ask - 1 + cross
    for a in asks:
        if bid_present:
            assert a.price_ticks >= best_bid + 1 - cross


def test_one_sided_and_empty_books_quote_around_the_mark() -> None:
    strat = AvellanedaStoikovStrategy(_config())
    for bid, ask in ((None, 100_001.0), (99_999.0, None), (None, None)):
        bids, asks = _sides(strat.compute_quotes(_ctx(bid=bid, ask=ask)))
        assert (bids[0].price_ticks, asks[0].price_ticks) == (99_990, 100_010)  # mark 100 000 ± 9.980


def test_quote_is_held_behind_the_touch() -> None:
    # the book is far wider than our spread on one side: best ask 100 003 with reservation pulling us up
    strat = AvellanedaStoikovStrategy(_config(kappa_per_usd=10.0, max_skew_ticks=50, max_position_underlying=2.0))
    bids, asks = _sides(strat.compute_quotes(_ctx(position=-1.0, sigma=1e-4, bid=99_990.0, ask=100_003.0)))
    assert bids[0].price_ticks == 100_002  # capped at best ask - 1
    assert asks[0].price_ticks >= bids[0].price_ticks + 2


# -- inventory -------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    position=st.floats(-2.5, 2.5),
    amounts=st.lists(st.floats(0.0005, 0.8), min_size=1, max_size=5),
    max_pos=st.floats(0.01, 2.0),
)
def test_quotes_never_take_the_position_past_the_limit(position: float, amounts: list[float], max_pos: float) -> None:
    inst = perpetual()
    strat = AvellanedaStoikovStrategy(_config(level_amounts=tuple(amounts), max_position_underlying=max_pos))
    bids, asks = _sides(strat.compute_quotes(_ctx(position=position)))
    tolerance = 1e-9
    assert position + sum(inst.amount(q.amount_lots) for q in bids) <= max(max_pos, position) + tolerance
    assert position - sum(inst.amount(q.amount_lots) for q in asks) >= min(-max_pos, position) - tolerance
    if position >= max_pos:
        assert not bids
    if position <= -max_pos:
        assert not asks
    assert all(q.amount_lots >= inst.min_order_lots for q in bids + asks)


def test_limit_trims_the_last_level_to_the_remaining_room() -> None:
    strat = AvellanedaStoikovStrategy(_config(level_amounts=(0.3, 0.3, 0.3), max_position_underlying=1.0))
    bids, asks = _sides(strat.compute_quotes(_ctx(position=0.45)))
    assert [q.amount_lots for q in bids] == [300, 250]  # 0.45 + 0.55 = 1.0
    assert [q.amount_lots for q in asks] == [300, 300, 300]  # selling reduces, room 1.45


@settings(max_examples=100, deadline=None)
@given(position=st.floats(0.01, 1.0), sigma=st.floats(1e-6, 1e-4))
def test_skew_moves_quotes_toward_reducing_inventory(position: float, sigma: float) -> None:
    strat = AvellanedaStoikovStrategy(_config(max_position_underlying=2.0))
    flat_b, flat_a = _sides(strat.compute_quotes(_ctx(0.0, sigma, bid=None, ask=None)))
    long_b, long_a = _sides(strat.compute_quotes(_ctx(position, sigma, bid=None, ask=None)))
    short_b, short_a = _sides(strat.compute_quotes(_ctx(-position, sigma, bid=None, ask=None)))
    # long: both quotes no higher (buy less eagerly, sell more eagerly); short: the mirror image
    assert long_b[0].price_ticks <= flat_b[0].price_ticks and long_a[0].price_ticks <= flat_a[0].price_ticks
    assert short_b[0].price_ticks >= flat_b[0].price_ticks and short_a[0].price_ticks >= flat_a[0].price_ticks
    # the side that adds inventory is the one farther from the mark (100 000)
    assert 100_000 - long_b[0].price_ticks >= long_a[0].price_ticks - 100_000
    assert short_a[0].price_ticks - 100_000 >= 100_000 - short_b[0].price_ticks


def test_skew_is_linear_then_capped() -> None:
    strat = AvellanedaStoikovStrategy(_config(gamma=1.0, kappa_per_usd=1.0, max_skew_ticks=30,
                                              max_position_underlying=1000.0))
    mark = 100_000

    def center_shift(q: float) -> float:
        bids, asks = _sides(strat.compute_quotes(_ctx(q, 1e-6, bid=None, ask=None)))  # sigma 0.1 USD/sqrt(s)
        return mark - 0.5 * (bids[0].price_ticks + asks[0].price_ticks)

    # shift = q * 1.0 * 0.01 * 60 = 0.6 q USD: linear in q until the 30-tick cap
    assert center_shift(10.0) == pytest.approx(6.0, abs=0.5)
    assert center_shift(20.0) == pytest.approx(12.0, abs=0.5)
    assert center_shift(100.0) == pytest.approx(30.0, abs=0.5)
    assert center_shift(900.0) == pytest.approx(30.0, abs=0.5)


# -- regime, sizes, expiry, kappa -------------------------------------------------------------------------


def test_regime_change_changes_the_quotes() -> None:
    # Arrange: the same history, then a quiet or a violent last stretch
    rng = np.random.default_rng(11)
    base = rng.normal(0.0, 1e-4, 600)
    strat = AvellanedaStoikovStrategy(_config(gamma=0.05))
    quotes = {}
    for _name, tail_sigma in (("calm", 0.2e-4), ("volatile", 4e-4)):
        analyzer = MultiWindowRegimeAnalyzer()
        price, ts = 100_000.0, NOW
        for r in np.concatenate([base, rng.normal(0.0, tail_sigma, 20)]):
            price *= math.exp(float(r))
            ts += S
            analyzer.update(price, ts)
        regime = analyzer.regime()
        # Act
        tk = ticker(None, None)
        ctx = QuoteContext.from_regime(perpetual(), tk, tk.mark_price, 0.3, regime, ts)
        quotes[regime.label] = _sides(strat.compute_quotes(ctx))
    # Assert: the volatile regime quotes wider and skews harder
    (calm_b, calm_a), (vol_b, vol_a) = quotes[RegimeLabel.CALM], quotes[RegimeLabel.VOLATILE]
    assert vol_a[0].price_ticks - vol_b[0].price_ticks > calm_a[0].price_ticks - calm_b[0].price_ticks
    assert vol_b[0].price_ticks < calm_b[0].price_ticks


def test_risk_multiplier_alone_changes_the_quotes() -> None:
    strat = AvellanedaStoikovStrategy(_config())
    assert strat.compute_quotes(_ctx(0.5, 1e-4, mult=1.0)) != strat.compute_quotes(_ctx(0.5, 1e-4, mult=3.0))


def test_sizes_are_floored_and_too_small_levels_dropped() -> None:
    inst = Instrument("BTC-X", InstrumentKind.PERPETUAL, "BTCUSD", 1.0, 0.001, 0.01, "FBTCUSD")
    strat = AvellanedaStoikovStrategy(_config(level_amounts=(0.0159, 0.005, 0.02)))
    bids, asks = _sides(strat.compute_quotes(_ctx(inst=inst)))
    assert [(q.level, q.amount_lots) for q in bids] == [(0, 15), (2, 20)]
    assert [(q.level, q.amount_lots) for q in asks] == [(0, 15), (2, 20)]


def test_dated_instrument_uses_time_to_expiry_and_stops_at_expiry() -> None:
    opt = option()  # tick 5, expiry 1 735 286 400 s
    expiry = opt.expiry_ns
    assert expiry is not None
    strat = AvellanedaStoikovStrategy(_config(gamma=1.0, kappa_per_usd=1.0, horizon_s=3600.0, max_skew_ticks=1000,
                                              max_position_underlying=5.0))
    far = _sides(strat.compute_quotes(_ctx(1.0, 1e-5, bid=None, ask=None, inst=opt, now_ns=expiry - 7200 * S)))
    near = _sides(strat.compute_quotes(_ctx(1.0, 1e-5, bid=None, ask=None, inst=opt, now_ns=expiry - 60 * S)))
    # near expiry the inventory and vol terms shrink with time left: a narrower spread
    assert near[1][0].price_ticks - near[0][0].price_ticks < far[1][0].price_ticks - far[0][0].price_ticks
    assert strat.compute_quotes(_ctx(inst=opt, now_ns=expiry)) == ()


def test_online_kappa_is_used_after_enough_trades() -> None:
    from stubs import trade

    strat = AvellanedaStoikovStrategy(_config(kappa_per_usd=None, kappa_fallback_per_usd=0.1, kappa_min_trades=5,
                                              kappa_window_trades=10))
    before = strat.compute_quotes(_ctx())
    assert strat.kappa_per_usd() == 0.1
    for _ in range(5):
        strat.on_trade(trade(100_003.0, 0.1, Side.BUY, NOW))  # 3 USD from the mid, 1 inside the book
        strat.on_trade(trade(100_003.0, 0.1, Side.BUY, NOW, name="ETH-PERPETUAL"))  # other instrument: ignored
    after = strat.compute_quotes(_ctx(now_ns=NOW + S))  # they count once no fill of ours claimed them (1 s)
    assert strat.kappa_per_usd() == pytest.approx(0.5)
    assert after != before  # higher kappa: tighter quotes
    bids_b, _ = _sides(before)
    bids_a, _ = _sides(after)
    assert bids_a[0].price_ticks > bids_b[0].price_ticks


def test_context_and_config_errors_name_field_and_value() -> None:
    with pytest.raises(InvalidValue, match=re.escape("QuoteContext.sigma_per_s must be finite and >= 0, was -1.0")):
        _ctx(sigma=-1.0)
    with pytest.raises(InvalidValue, match=re.escape("QuoteContext.risk_multiplier must be finite and > 0, was 0.0")):
        _ctx(mult=0.0)
    with pytest.raises(InvalidValue, match=re.escape("QuoteContext.position must be finite, was nan")):
        _ctx(position=math.nan)
    with pytest.raises(InvalidValue, match=re.escape("AvellanedaStoikovConfig.gamma must be finite and > 0, was 0.0")):
        _config(gamma=0.0)
    with pytest.raises(InvalidValue, match=r"level_amounts\[1\] must be finite and > 0, was -1.0"):
        _config(level_amounts=(0.1, -1.0))
    with pytest.raises(InvalidValue, match=re.escape("min_spread_ticks must be an int >= 1, was 0")):
        _config(min_spread_ticks=0)
    with pytest.raises(InvalidValue, match=re.escape("kappa_per_usd must be None or finite and > 0, was -2.0")):
        _config(kappa_per_usd=-2.0)


# -- the order size (Guéant: trades of size delta) ------------------------------------------------------------


def test_spread_terms_scale_with_the_order_size_and_unit_size_is_the_paper() -> None:
    # gamma 0.002 /USD, 50 %/yr at 100 000 USD (8.90 USD/sqrt(s)), T 60 s, kappa 0.1 /USD, delta 0.01 BTC
    sigma = usd_sigma_per_sqrt_s(0.5 / math.sqrt(365 * 24 * 3600), 100_000.0)
    gamma, horizon, kappa, delta = 0.002, 60.0, 0.1, 0.01
    inventory_term = gamma * delta * sigma**2 * horizon
    assert inventory_term == pytest.approx(0.0951, rel=1e-3)  # 9.51 USD for a whole BTC per trade
    expected = inventory_term + 2.0 / (gamma * delta) * math.log1p(gamma * delta / kappa)
    assert optimal_spread(gamma, sigma, horizon, kappa, delta) == pytest.approx(expected, rel=1e-15)
    assert optimal_spread(gamma, sigma, horizon, kappa, delta) == pytest.approx(20.0931, abs=1e-4)
    # the default order size is one unit of the underlying: the paper's formula, bit for bit
    assert optimal_spread(gamma, sigma, horizon, kappa) == gamma * sigma**2 * horizon + (2.0 / gamma) * math.log1p(
        gamma / kappa)
    assert optimal_spread(gamma, sigma, horizon, kappa, 1.0) == optimal_spread(gamma, sigma, horizon, kappa)


def test_quotes_use_the_order_size_of_the_nearest_level() -> None:
    # Arrange: the defaults, 0.01 BTC per level; the skew at full inventory keeps q * gamma * sigma**2 * T
    sigma_rel = 0.5 / math.sqrt(365 * 24 * 3600)
    strat = AvellanedaStoikovStrategy(_config(gamma=0.002, kappa_per_usd=0.1, level_amounts=(0.01, 0.02),
                                              max_position_underlying=0.51, max_skew_ticks=100))
    # Act
    bids, asks = _sides(strat.compute_quotes(_ctx(0.0, sigma_rel, bid=None, ask=None)))
    long_b, long_a = _sides(strat.compute_quotes(_ctx(0.5, sigma_rel, bid=None, ask=None)))
    # Assert: half spread 10.047 USD (was 14.66 with unit-size terms); the skew at 0.5 BTC is 4.76 USD
    assert (bids[0].price_ticks, asks[0].price_ticks) == (99_989, 100_011)
    assert (long_b[0].price_ticks, long_a[0].price_ticks) == (99_985, 100_006)


# -- fees: the half spread clears the maker fee plus a minimum edge --------------------------------------------


@settings(max_examples=200, deadline=None)
@given(kappa=st.floats(0.01, 100.0), sigma=st.floats(0.0, 1e-4), mult=st.floats(0.2, 5.0),
       fee_bps=st.floats(-0.5, 3.0), edge_bps=st.floats(0.0, 2.0), fair=st.floats(1_000.0, 200_000.0))
def test_the_half_spread_covers_the_maker_fee_plus_the_minimum_edge(
    kappa: float, sigma: float, mult: float, fee_bps: float, edge_bps: float, fair: float
) -> None:
    # Arrange: flat (no skew), an empty book (nothing holds the quotes back)
    strat = AvellanedaStoikovStrategy(_config(kappa_per_usd=kappa, maker_fee_bps=fee_bps, min_edge_bps=edge_bps,
                                              min_spread_ticks=1))
    tk = ticker(None, None, mark=fair)
    # Act
    bids, asks = _sides(strat.compute_quotes(QuoteContext(perpetual(), tk, fair, 0.0, sigma, mult, NOW)))
    # Assert: both quotes at least (fee + edge) of the price away from the fair price, rebates included
    floor_usd = (fee_bps + edge_bps) * 1e-4 * fair
    assert fair - bids[0].price_ticks >= floor_usd - 1e-6 * fair
    assert asks[0].price_ticks - fair >= floor_usd - 1e-6 * fair


def test_a_wide_a_s_spread_is_kept_and_a_rebate_lowers_the_floor() -> None:
    # kappa 0.1 /USD: the A-S half spread (9.98 USD) is below a 1 bp fee + 0.2 bp edge at 100 000 (12 USD)
    strat = AvellanedaStoikovStrategy(_config(kappa_per_usd=0.1, maker_fee_bps=1.0, min_edge_bps=0.2))
    bids, asks = _sides(strat.compute_quotes(_ctx(bid=None, ask=None)))
    assert (bids[0].price_ticks, asks[0].price_ticks) == (99_988, 100_012)
    # kappa 0.02 /USD: half spread ~50 USD, far above the floor: A-S decides
    wide = AvellanedaStoikovStrategy(_config(kappa_per_usd=0.02, maker_fee_bps=1.0, min_edge_bps=0.2))
    plain = AvellanedaStoikovStrategy(_config(kappa_per_usd=0.02))
    assert wide.compute_quotes(_ctx(bid=None, ask=None)) == plain.compute_quotes(_ctx(bid=None, ask=None))
    # a 0.5 bp rebate with no edge asks for nothing: A-S alone
    rebate = AvellanedaStoikovStrategy(_config(kappa_per_usd=0.1, maker_fee_bps=-0.5))
    assert rebate.compute_quotes(_ctx(bid=None, ask=None)) == AvellanedaStoikovStrategy(_config()).compute_quotes(
        _ctx(bid=None, ask=None))
