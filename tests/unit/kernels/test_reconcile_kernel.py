"""The compiled reconcile and risk kernels equal their pure-Python twins, and the order rows the tick path keeps
in step equal a fresh load after every change."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from thalex_modular.platform.domain import risk_kernel
from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind
from thalex_modular.platform.domain.jit import COMPILED
from thalex_modular.platform.domain.risk_kernel import new_context, risk_code, risk_limits, write_context
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.use_cases import reconcile_diff, reconcile_kernel
from thalex_modular.platform.use_cases.order_rows import OrderRows
from thalex_modular.platform.use_cases.reconcile_kernel import plan_requests, split_counts
from thalex_modular.platform.use_cases.sim_session import build_sim_session
from thalex_modular.platform.use_cases.synthetic_market import SyntheticMarketConfig, generate_events
from twins import pure

pytestmark = pytest.mark.skipif(not COMPILED, reason="numba is off: there is no compiled kernel to compare")

_quote = st.tuples(st.integers(0, 1), st.integers(990, 1010), st.integers(1, 4), st.integers(0, 3))
_order = st.tuples(
    st.integers(0, 1), st.integers(990, 1010), st.integers(0, 4), st.integers(0, 3), st.integers(0, 1)
)
_limits = st.tuples(
    st.floats(0.5, 20.0),  # max position
    st.floats(0.001, 0.01),  # max order amount
    st.integers(1, 12),  # max open orders
    st.floats(1.0, 200.0),  # band bps
    st.sampled_from([None, 5.0, 20.0]),  # max instrument notional USD
    st.sampled_from([None, 8.0, 40.0]),  # max account notional USD
)
_market = st.tuples(
    st.floats(-0.02, 0.02),  # position
    st.floats(995.0, 1005.0),  # reference = mark
    st.sampled_from([math.nan, 995.0, 1000.0]),  # collar low
    st.sampled_from([math.nan, 1000.0, 1005.0]),  # collar high
    st.floats(0.0, 0.005),  # extra bids
    st.floats(0.0, 0.005),  # extra asks
    st.floats(0.0, 10.0),  # other instruments' notional
)
_grid = st.tuples(st.integers(0, 3), st.integers(0, 200_000), st.integers(0, 999))
_budget = st.sampled_from([0, 1, 2, 3, 1 << 40])


def _run(kernel, desired, orders, limits, market, grid_values, budget):  # type: ignore[no-untyped-def]
    d = np.zeros((max(1, len(desired)), 4), dtype=np.int64)
    for i, row in enumerate(desired):
        d[i] = row
    o = np.zeros((max(1, len(orders)), 6), dtype=np.int64)
    f = np.zeros((max(1, len(orders)), 2), dtype=np.float64)
    for i, (is_buy, ticks, lots, filled_lots, in_flight) in enumerate(orders):
        o[i] = (is_buy, ticks, lots, filled_lots, in_flight, 100 + i)
        f[i] = (lots / 1000, filled_lots / 1000)
    max_position, max_order, max_open, band, instrument_notional, account_notional = limits
    lim, ilim = risk_limits(
        1.0, 0.001, 0.001, max_order, 1e9, band, max_position, max_open, None, instrument_notional, account_notional
    )
    position, reference, collar_low, collar_high, extra_bids, extra_asks, other = market
    ctx, ictx = new_context()
    write_context(ctx, ictx, position, reference, reference, collar_low, collar_high, other, 10, 0, False, budget,
                  extra_bids, extra_asks)
    tolerance, bps_milli, permille = grid_values
    grid = np.array([tolerance, 1, 1000, bps_milli, permille], dtype=np.int64)
    out = np.full((32, 4), -1, dtype=np.int64)
    den = np.full((32, 6), -1, dtype=np.int64)
    den_book = np.full((32, 2), -1.0)
    # the tables start as garbage: a plan must not read a cell it did not write
    work = np.full((reconcile_kernel.plan_work_rows(len(desired), len(orders)), reconcile_kernel.WORK_COLUMNS), -7,
                   dtype=np.int64)
    counts = kernel(d, len(desired), o, f, len(orders), lim, ilim, grid, ctx, ictx, out, den, den_book, work)
    n_out, n_den, n_deferred = split_counts(counts)
    return counts, out[:n_out].tolist(), den[:n_den].tolist(), den_book[:n_den].tolist(), n_deferred


@settings(max_examples=300, deadline=None)
@given(st.lists(_quote, max_size=8), st.lists(_order, max_size=8), _limits, _market, _grid, _budget)
def test_compiled_reconcile_equals_its_python_twin(desired, orders, limits, market, grid, budget) -> None:  # type: ignore[no-untyped-def]
    compiled = _run(plan_requests, desired, orders, limits, market, grid, budget)
    twin_kernel = pure(plan_requests, risk_kernel, reconcile_kernel, reconcile_diff)
    twin = _run(twin_kernel, desired, orders, limits, market, grid, budget)
    assert compiled == twin


_price = st.one_of(
    st.floats(1e-3, 1e7), st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e300, 99_999.5, 100_000.0])
)
_amount = st.one_of(st.floats(1e-4, 10.0), st.sampled_from([0.0, math.nan, math.inf, 0.0015, 0.001]))


@settings(max_examples=400, deadline=None)
@given(
    st.booleans(),
    _price,
    _amount,
    st.floats(0.0, 1.0),
    st.integers(0, 1),
    st.one_of(st.floats(-10.0, 10.0), st.just(math.nan)),
    st.one_of(st.floats(1.0, 2e5), st.just(math.nan)),
    st.integers(0, 3_000_000_000),
    st.booleans(),
    st.floats(0.0, 5.0),
    st.floats(0.0, 5.0),
    st.integers(0, 30),
    st.sampled_from([None, 1_000_000_000]),
    st.tuples(st.sampled_from([math.nan, 9e4, 1e5]), st.sampled_from([math.nan, 1e5, 1.1e5])),
    st.tuples(st.sampled_from([None, 2e5]), st.sampled_from([None, 5e5]), st.floats(0.0, 6e5)),
)
def test_compiled_risk_decision_equals_its_python_twin(  # type: ignore[no-untyped-def]
    is_buy, price, amount, old, added, position, reference, mark_age, known, bids, asks, count, max_age, collars,
    notionals,
) -> None:
    instrument_notional, account_notional, other = notionals
    lim, ilim = risk_limits(0.5, 0.001, 0.001, 5.0, 1e6, 100.0, 5.0, 20, max_age, instrument_notional, account_notional)
    ctx, ictx = new_context()
    write_context(ctx, ictx, position, reference, reference, collars[0], collars[1], other, 3_000_000_000,
                  3_000_000_000 - mark_age, known)
    args = (lim, ilim, ctx, ictx, is_buy, price, amount, amount, old, added, bids, asks, count)
    assert risk_code(*args) == pure(risk_code, risk_kernel)(*args)


def test_order_rows_kept_in_step_equal_a_fresh_load_after_every_tick() -> None:
    instrument = Instrument("BTC-PERPETUAL", InstrumentKind.PERPETUAL, "BTCUSD", 1.0, 0.001, 0.001, "FBTCUSD")
    market = SyntheticMarketConfig(seed=5)
    session = build_sim_session(instrument, market.start_ns, sim_config=SimMatchConfig(
        order_entry_latency_ns=1_000_000, cancel_latency_ns=1_000_000, response_latency_ns=1_000_000))
    core = session.core
    reloads = 0
    for event in generate_events(instrument, market, 3_000):
        session.on_ticker(event.ticker)
        if event.trade is not None:
            session.on_trade(event.trade)
        kept = core.order_rows
        fresh = OrderRows(instrument)
        fresh.load(core.tracker.open_orders(instrument.instrument_name))
        in_step = core.order_rows_in_step
        reloads += not in_step
        if in_step:
            assert kept.count == fresh.count
            assert kept.orders == fresh.orders
            assert kept.ints[: kept.count].tolist() == fresh.ints[: fresh.count].tolist()
            assert kept.floats[: kept.count].tolist() == fresh.floats[: fresh.count].tolist()
    # every change of this session goes through the core, so the rows never needed a reload
    assert reloads == 0


def test_int_valued_market_data_compiles_no_second_specialization() -> None:
    # Arrange: a core that has run once on float data
    from thalex_modular.platform.domain.entities import Ticker
    from thalex_modular.platform.domain.market import vol_kernel
    from thalex_modular.strategies import as_kernel

    instrument = Instrument("BTC-PERPETUAL", InstrumentKind.PERPETUAL, "BTCUSD", 1.0, 0.001, 0.001, "FBTCUSD")
    market = SyntheticMarketConfig(seed=3)
    session = build_sim_session(instrument, market.start_ns)
    for event in generate_events(instrument, market, 50):
        session.on_ticker(event.ticker)
    kernels = (plan_requests, as_kernel.quote_kernel, vol_kernel.regime_step)
    before = [len(k.signatures) for k in kernels]  # type: ignore[attr-defined]
    # Act: tickers whose prices are ints (a CSV import, a hand-written test)
    ts = session.clock.now_ns()
    for i in range(5):
        ts += 1_000_000_000
        mark = 100_000 + i
        session.on_ticker(Ticker(instrument.instrument_name, mark, ts, ts, mark - 1, 1, mark + 1, 1, mark))
    # Assert: the kernels ran on the specializations they had (a new one would stall the tick path for seconds)
    assert [len(k.signatures) for k in kernels] == before  # type: ignore[attr-defined]
