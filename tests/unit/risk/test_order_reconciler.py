"""OrderReconciler: quote by diff in ticks, one request per order, cancels first, risk before sending."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from stubs import perpetual
from thalex_modular.platform.domain.entities import Order, Quote
from thalex_modular.platform.domain.enums import OrderStatus, Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.requests import (
    AmendOrder,
    CancelOrder,
    ClientOrderIds,
    InsertOrder,
    OrderRequest,
)
from thalex_modular.platform.domain.risk import RiskCheck, RiskConfig, RiskContext, RiskLimit
from thalex_modular.platform.use_cases.order_reconciler import OrderReconciler, ReconcilePlan

BTC = perpetual()  # tick 1 USD, volume tick 0.001 BTC
NOW = 1_700_000_000 * 10**9
MARK = 100_000.0


def make_risk(max_position: float = 5.0, max_open_orders: int = 20, band_bps: float = 100.0) -> RiskCheck:
    return RiskCheck(RiskConfig(max_position, 5.0, 1e9, max_open_orders, band_bps))


def make_reconciler(risk: RiskCheck | None = None, tolerance: int = 0) -> OrderReconciler:
    return OrderReconciler(risk or make_risk(), ClientOrderIds(1000), amend_tolerance_ticks=tolerance)


def ctx(position: float = 0.0) -> RiskContext:
    return RiskContext(position, MARK, NOW)


def live_order(
    cid: int, side: Side, price: float, amount: float, filled: float = 0.0, in_flight: str | None = None
) -> Order:
    status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.OPEN
    return Order(
        cid,
        BTC.instrument_name,
        side,
        price,
        amount,
        NOW,
        order_id=f"ex-{cid}",
        filled_amount=filled,
        status=status,
        request_in_flight=in_flight,
    )


def bid(ticks: int, lots: int, level: int = 0) -> Quote:
    return Quote(Side.BUY, ticks, lots, level)


def ask(ticks: int, lots: int, level: int = 0) -> Quote:
    return Quote(Side.SELL, ticks, lots, level)


def apply_acks(plan: ReconcilePlan, live: list[Order]) -> list[Order]:
    """The exchange accepts every request: cancels remove, amends set price and total, inserts rest."""
    by_cid = {o.client_order_id: o for o in live}
    for req in plan.requests:
        if isinstance(req, CancelOrder):
            del by_cid[req.client_order_id]
        elif isinstance(req, AmendOrder):
            order = by_cid[req.client_order_id]
            order.price, order.amount = req.price, req.amount
        else:
            by_cid[req.client_order_id] = Order(
                req.client_order_id,
                req.instrument_name,
                req.side,
                req.price,
                req.amount,
                NOW,
                order_id=f"ex-{req.client_order_id}",
                status=OrderStatus.OPEN,
            )
    return list(by_cid.values())


def kinds(requests: list[OrderRequest]) -> list[str]:
    return [type(r).__name__ for r in requests]


# -- diffing ---------------------------------------------------------------------------------------------


def test_empty_book_inserts_every_quote_with_fresh_ids() -> None:
    plan = make_reconciler().reconcile(BTC, [bid(99_990, 100), ask(100_010, 100), bid(99_980, 200, 1)], [], ctx())
    assert kinds(plan.requests) == ["InsertOrder"] * 3
    inserts = [r for r in plan.requests if isinstance(r, InsertOrder)]
    assert len({r.client_order_id for r in inserts}) == 3
    assert {(r.side, r.price, r.amount) for r in inserts} == {
        (Side.BUY, 99_990.0, 0.1),
        (Side.SELL, 100_010.0, 0.1),
        (Side.BUY, 99_980.0, 0.2),
    }
    assert all(r.post_only for r in inserts)
    assert plan.denials == []


def test_order_within_tolerance_and_same_amount_is_kept() -> None:
    live = [live_order(1, Side.BUY, 99_989.0, 0.1), live_order(2, Side.SELL, 100_012.0, 0.1)]
    plan = make_reconciler(tolerance=2).reconcile(BTC, [bid(99_990, 100), ask(100_010, 100)], live, ctx())
    assert plan.requests == [] and plan.is_empty


def test_price_beyond_tolerance_is_amended_not_cancelled() -> None:
    live = [live_order(1, Side.BUY, 99_985.0, 0.1)]
    plan = make_reconciler(tolerance=2).reconcile(BTC, [bid(99_990, 100)], live, ctx())
    assert plan.requests == [AmendOrder(1, "ex-1", BTC.instrument_name, 99_990.0, 0.1)]


def test_amend_sends_new_total_amount_filled_plus_desired() -> None:
    # 0.3 of a 0.5 bid filled: 0.2 rests; the strategy wants 0.4 resting → total 0.3 + 0.4 = 0.7
    live = [live_order(1, Side.BUY, 99_990.0, 0.5, filled=0.3)]
    plan = make_reconciler(tolerance=5).reconcile(BTC, [bid(99_990, 400)], live, ctx(position=0.3))
    assert plan.requests == [AmendOrder(1, "ex-1", BTC.instrument_name, 99_990.0, 0.7)]


def test_extra_orders_cancelled_first() -> None:
    live = [
        live_order(1, Side.BUY, 99_990.0, 0.1),
        live_order(2, Side.BUY, 99_980.0, 0.1),
        live_order(3, Side.BUY, 99_970.0, 0.1),
    ]
    desired = [bid(99_995, 100), ask(100_010, 100), ask(100_020, 100, 1)]
    plan = make_reconciler().reconcile(BTC, desired, live, ctx())
    assert kinds(plan.requests) == ["CancelOrder", "CancelOrder", "AmendOrder", "InsertOrder", "InsertOrder"]
    # the best bid is amended (nearest), the two deeper ones cancelled
    assert {r.client_order_id for r in plan.requests if isinstance(r, CancelOrder)} == {2, 3}


def test_orders_of_other_instruments_and_closed_orders_are_ignored() -> None:
    other = Order(7, "ETH-PERPETUAL", Side.BUY, 3_000.0, 1.0, NOW, order_id="e", status=OrderStatus.OPEN)
    closed = Order(8, BTC.instrument_name, Side.BUY, 99_990.0, 0.1, NOW, order_id="c", status=OrderStatus.CANCELLED)
    plan = make_reconciler().reconcile(BTC, [bid(99_990, 100)], [other, closed], ctx())
    assert kinds(plan.requests) == ["InsertOrder"]


# -- one request in flight per order ----------------------------------------------------------------------


def test_orders_in_flight_are_left_alone_and_occupy_their_level() -> None:
    live = [
        live_order(1, Side.BUY, 99_990.0, 0.1, in_flight="insert"),  # matches level 0 but not acked yet
        live_order(2, Side.SELL, 100_050.0, 0.1, in_flight="amend"),  # far from anything wanted
    ]
    plan = make_reconciler().reconcile(BTC, [bid(99_990, 100), ask(100_010, 100)], live, ctx())
    assert plan.requests == []  # no duplicate bid, no touching the amending ask


def test_in_flight_order_counts_for_risk() -> None:
    # limit 0.15: an in-flight bid of 0.1 leaves room for 0.05 only
    risk = make_risk(max_position=0.15)
    live = [live_order(1, Side.BUY, 99_990.0, 0.1, in_flight="insert")]
    plan = make_reconciler(risk).reconcile(BTC, [bid(99_990, 100), bid(99_980, 100, 1)], live, ctx())
    assert plan.requests == []
    assert [d.limit for d in plan.denials] == [RiskLimit.MAX_POSITION]


# -- risk ----------------------------------------------------------------------------------------------------


def test_denied_insert_is_not_sent_and_names_the_limit() -> None:
    plan = make_reconciler(make_risk(band_bps=10.0)).reconcile(BTC, [bid(99_000, 100), ask(100_010, 100)], [], ctx())
    assert [(type(r).__name__, r.side) for r in plan.requests if isinstance(r, InsertOrder)] == [
        ("InsertOrder", Side.SELL)
    ]
    assert len(plan.denials) == 1
    denial = plan.denials[0]
    assert denial.limit == RiskLimit.PRICE_BAND and denial.instrument_name == BTC.instrument_name
    assert denial.ts_ns == NOW and "99000.0" in denial.reason


def test_position_limit_per_side_counts_open_orders() -> None:
    # long 0.8, limit 1.0, a bid of 0.15 rests: a second bid of 0.1 would make 1.05 → denied; asks unaffected
    live = [live_order(1, Side.BUY, 99_990.0, 0.15)]
    desired = [bid(99_990, 150), bid(99_980, 100, 1), ask(100_010, 1_000)]
    plan = make_reconciler(make_risk(max_position=1.0)).reconcile(BTC, desired, live, ctx(position=0.8))
    assert [(r.side, r.amount) for r in plan.requests if isinstance(r, InsertOrder)] == [(Side.SELL, 1.0)]
    assert [d.limit for d in plan.denials] == [RiskLimit.MAX_POSITION]


def test_shrinking_amend_still_counts_until_confirmed_so_the_dependent_insert_waits() -> None:
    # Arrange: limit 0.2; one bid of 0.2 rests; the strategy splits it into 0.05 at the touch and 0.15 deeper
    rec = make_reconciler(make_risk(max_position=0.2))
    live = [live_order(1, Side.BUY, 99_990.0, 0.2)]
    desired = [bid(99_990, 50), bid(99_980, 150, 1)]
    # Act: round 1
    plan = rec.reconcile(BTC, desired, live, ctx())
    # Assert: the amend down goes out; the insert would exceed the limit if the amend failed → not sent
    assert plan.requests == [AmendOrder(1, "ex-1", BTC.instrument_name, 99_990.0, 0.05)]
    assert [d.limit for d in plan.denials] == [RiskLimit.MAX_POSITION]
    # Round 2, after the amend is confirmed: the insert fits now
    live = apply_acks(plan, live)
    plan = rec.reconcile(BTC, desired, live, ctx())
    assert len(plan.requests) == 1 and plan.denials == []
    insert = plan.requests[0]
    assert isinstance(insert, InsertOrder) and (insert.side, insert.price, insert.amount) == (Side.BUY, 99_980.0, 0.15)
    # Round 3: nothing left to do
    assert rec.reconcile(BTC, desired, apply_acks(plan, live), ctx()).is_empty


def test_cancel_of_an_extra_order_precedes_amends_and_inserts() -> None:
    # an in-flight bid claims the only wanted bid level, so the free bid is extra; asks need an amend and an insert
    live = [
        live_order(1, Side.BUY, 99_990.0, 0.2),
        live_order(2, Side.BUY, 99_900.0, 0.1, in_flight="amend"),
        live_order(3, Side.SELL, 100_030.0, 0.1),
    ]
    desired = [ask(100_020, 100, 1), bid(99_905, 100), ask(100_010, 100)]
    plan = make_reconciler().reconcile(BTC, desired, live, ctx())
    assert kinds(plan.requests) == ["CancelOrder", "AmendOrder", "InsertOrder"]
    assert plan.requests[0] == CancelOrder(1, "ex-1", BTC.instrument_name)
    assert plan.requests[1] == AmendOrder(3, "ex-3", BTC.instrument_name, 100_010.0, 0.1)


def test_denied_amend_cancels_the_order_instead_of_leaving_a_stale_quote() -> None:
    live = [live_order(1, Side.BUY, 99_990.0, 0.1)]
    plan = make_reconciler(make_risk(band_bps=10.0)).reconcile(BTC, [bid(98_000, 100)], live, ctx())
    assert plan.requests == [CancelOrder(1, "ex-1", BTC.instrument_name)]
    assert [d.limit for d in plan.denials] == [RiskLimit.PRICE_BAND]


def test_kill_switch_blocks_inserts_and_amends_but_cancels_go_out() -> None:
    risk = make_risk()
    risk.engage_kill_switch("operator")
    live = [
        live_order(1, Side.BUY, 99_990.0, 0.1),  # would be kept
        live_order(2, Side.SELL, 100_030.0, 0.1),  # would be amended
        live_order(3, Side.SELL, 100_040.0, 0.1, in_flight="insert"),  # in flight: left alone
    ]
    plan = make_reconciler(risk).reconcile(BTC, [bid(99_990, 100), ask(100_010, 100), ask(100_020, 100)], live, ctx())
    assert all(isinstance(r, CancelOrder) for r in plan.requests)
    assert {r.client_order_id for r in plan.requests} == {1, 2}
    assert [d.limit for d in plan.denials] == [RiskLimit.KILL_SWITCH] * 3
    assert all("operator" in d.reason for d in plan.denials)


def test_negative_tolerance_refused() -> None:
    with pytest.raises(InvalidValue, match="amend_tolerance_ticks"):
        OrderReconciler(make_risk(), ClientOrderIds(), amend_tolerance_ticks=-1)


# -- convergence and safety (property) --------------------------------------------------------------------

_cids = itertools.count(1)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Quote], list[Order], float, int, float]:
    quotes = [
        Quote(draw(st.sampled_from(Side)), draw(st.integers(98_800, 101_200)), draw(st.integers(1, 400)), level)
        for level in range(draw(st.integers(0, 6)))
    ]
    orders = []
    for _ in range(draw(st.integers(0, 6))):
        lots = draw(st.integers(1, 400))
        filled = draw(st.integers(0, lots - 1))
        orders.append(
            live_order(
                next(_cids),
                draw(st.sampled_from(Side)),
                float(draw(st.integers(98_800, 101_200))),
                BTC.amount(lots),
                BTC.amount(filled),
                draw(st.sampled_from([None, None, None, "insert", "cancel"])),
            )
        )
    position = BTC.amount(draw(st.integers(-1_000, 1_000)))
    return quotes, orders, position, draw(st.integers(0, 3)), draw(st.sampled_from([0.5, 1.0, 3.0]))


def worst_case(requests: list[OrderRequest], live: list[Order]) -> tuple[float, float]:
    """Open bids/asks if every insert and amend lands and every cancel fails."""
    rem = {o.client_order_id: (o.side, o.remaining_amount) for o in live}
    for req in requests:
        if isinstance(req, AmendOrder):
            order = next(o for o in live if o.client_order_id == req.client_order_id)
            side, old = rem[req.client_order_id]
            rem[req.client_order_id] = (side, max(old, req.amount - order.filled_amount))
        elif isinstance(req, InsertOrder):
            rem[req.client_order_id] = (req.side, req.amount)
    bids = sum(a for s, a in rem.values() if s is Side.BUY)
    asks = sum(a for s, a in rem.values() if s is Side.SELL)
    return bids, asks


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_plan_converges_touches_no_in_flight_order_and_keeps_limits(
    scenario: tuple[list[Quote], list[Order], float, int, float],
) -> None:
    desired, live, position, tolerance, max_position = scenario
    rec = make_reconciler(make_risk(max_position=max_position, max_open_orders=10), tolerance)
    in_flight = {o.client_order_id for o in live if o.request_in_flight is not None}
    for round_no in range(4):
        plan = rec.reconcile(BTC, desired, live, ctx(position))
        # one request per order, none for an order in flight, cancels first
        targets = [r.client_order_id for r in plan.requests if not isinstance(r, InsertOrder)]
        assert len(targets) == len(set(targets)) and not set(targets) & in_flight
        k = kinds(plan.requests)
        assert k == sorted(k, key=["CancelOrder", "AmendOrder", "InsertOrder"].index)
        # never more exposure than the limit allows, even if every cancel failed
        bids0, asks0 = worst_case([], live)
        bids, asks = worst_case(plan.requests, live)
        assert position + bids <= max(position + bids0, max_position) + 1e-9
        assert position - asks >= min(position - asks0, -max_position) - 1e-9
        if round_no == 0 and not plan.denials:
            second = rec.reconcile(BTC, desired, apply_acks(plan, live), ctx(position))
            assert second.requests == []
        if plan.is_empty:
            assert rec.reconcile(BTC, desired, live, ctx(position)).is_empty
            return
        live = apply_acks(plan, live)
    pytest.fail(f"no convergence after 4 rounds: {plan}")
