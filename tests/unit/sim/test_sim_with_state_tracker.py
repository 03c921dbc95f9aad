"""SimMatchEngine events fed into the StateTracker: the tracker sees a clean exchange (no resync, nothing
ignored), each fill once, and ends with the same orders and position as the simulated exchange.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from sim_harness import MS, NAME, Harness

from thalex_modular.platform.domain.entities import Fill, OrderUpdate
from thalex_modular.platform.domain.enums import OrderStatus, Side
from thalex_modular.platform.domain.events import RequestRejected, ResyncRequest
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.domain.sim.results import SimEvent
from thalex_modular.platform.domain.tracking import StateTracker

LOT = 0.001


class Wired:
    """Engine + tracker as the live code path wires them: register before sending, feed every answer back."""

    def __init__(self, feed_latency_ms: int = 0) -> None:
        self.h = Harness(SimMatchConfig(order_entry_latency_ns=3 * MS, cancel_latency_ns=2 * MS,
                                        response_latency_ns=1 * MS, feed_latency_ns=feed_latency_ms * MS))
        self.tracker = StateTracker([self.h.instrument])
        self.fills: list[Fill] = []
        self.resyncs: list[ResyncRequest] = []

    def feed(self, events: list[SimEvent]) -> None:
        for e in events:
            if isinstance(e, RequestRejected):
                self.tracker.on_request_failed(e.client_order_id, e.ts_local_ns, f"{e.code}: {e.message}")
                continue
            for out in self.tracker.on_order_update(e):
                if isinstance(out, Fill):
                    self.fills.append(out)
                else:
                    self.resyncs.append(out)

    def at(self, ms: float) -> None:
        self.feed(self.h.at(ms))

    def send(self, request: InsertOrder | AmendOrder | CancelOrder) -> None:
        now = self.h.clock.now_ns()
        if isinstance(request, InsertOrder):
            self.tracker.register_pending(request, now)
        elif isinstance(request, AmendOrder):
            self.tracker.register_amend(request, now)
        else:
            self.tracker.register_cancel(request, now)
        self.h.engine.submit(request)

    def can_modify(self, coid: int) -> bool:
        order = self.tracker.order_by_client_id(coid)
        return order is not None and not order.status.is_terminal and order.request_in_flight is None


def test_fill_before_cancel_ack_reaches_the_tracker_once() -> None:
    # Arrange
    w = Wired()
    w.h.book(99_990.0, 100_001.0)
    w.send(InsertOrder(1, NAME, Side.BUY, 99_995.0, 0.3))
    w.at(5)
    # Act: cancel in flight while a sell sweeps through our bid
    w.send(CancelOrder(1, None, NAME))
    w.at(6)
    w.feed(w.h.trade(99_990.0, 0.1, Side.SELL))
    w.at(20)
    # Assert
    order = w.tracker.order_by_client_id(1)
    assert order is not None
    assert (order.status, order.filled_amount, order.request_in_flight) == (
        OrderStatus.CANCELLED_PARTIALLY_FILLED, 0.1, None)
    assert [(f.amount, f.price) for f in w.fills] == [(0.1, 99_995.0)]
    assert w.tracker.position(NAME).position == 0.1
    assert w.resyncs == [] and w.tracker.ignored_updates == 0


_PRICES = st.integers(95, 105)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("book"), _PRICES, st.integers(1, 3), st.integers(0, 20), st.integers(0, 20)),
        st.tuples(st.just("trade"), _PRICES, st.integers(1, 30), st.sampled_from([Side.BUY, Side.SELL])),
        st.tuples(st.just("insert"), st.sampled_from([Side.BUY, Side.SELL]), _PRICES, st.integers(1, 20),
                  st.booleans()),
        st.tuples(st.just("amend"), st.integers(0, 7), _PRICES, st.integers(1, 20)),
        st.tuples(st.just("cancel"), st.integers(0, 7)),
    ),
    min_size=10,
    max_size=50,
)


@settings(max_examples=100, deadline=None)
@given(steps=_STEPS, feed_latency_ms=st.sampled_from([0, 0, 5]))
def test_tracker_agrees_with_the_simulated_exchange(steps: list[tuple[object, ...]], feed_latency_ms: int) -> None:
    w = Wired(feed_latency_ms)
    coids: list[int] = []
    t = 0.0
    for step in steps:
        t += 0.7
        w.at(t)
        kind = step[0]
        if kind == "book":
            _, bid, width, bid_lots, ask_lots = step
            w.feed(w.h.book(99_900.0 + bid, 99_900.0 + bid + width,  # type: ignore[operator]
                            bid_lots * LOT, ask_lots * LOT))  # type: ignore[operator]
        elif kind == "trade":
            _, px, lots, side = step
            w.feed(w.h.trade(99_900.0 + px, lots * LOT, side))  # type: ignore[operator,arg-type]
        elif kind == "insert":
            _, side, px, lots, post_only = step
            coid = 1 + len(coids)
            coids.append(coid)
            w.send(InsertOrder(coid, NAME, side, 99_900.0 + px, lots * LOT, post_only=post_only))  # type: ignore[arg-type,operator]
        elif coids:
            coid = coids[step[1] % len(coids)]  # type: ignore[operator]
            if w.can_modify(coid):
                if kind == "amend":
                    _, _, px, lots = step
                    w.send(AmendOrder(coid, None, NAME, 99_900.0 + px, lots * LOT))  # type: ignore[operator]
                else:
                    w.send(CancelOrder(coid, None, NAME))
    w.at(t + 50)

    # a clean exchange: nothing to resync, nothing ignored, every fill exactly once
    assert w.resyncs == []
    assert w.tracker.ignored_updates == 0
    engine_fills = [(f.trade_id, f.amount) for e in w.h.events if isinstance(e, OrderUpdate) for f in e.fills]
    assert sorted((f.trade_id, f.amount) for f in w.fills) == sorted(engine_fills)
    signed = sum(e.side.sign * f.amount for e in w.h.events if isinstance(e, OrderUpdate) for f in e.fills)
    assert abs(w.tracker.position(NAME).position - signed) < 1e-9
    # same orders, same state
    last: dict[int, OrderUpdate] = {}
    for e in w.h.events:
        if isinstance(e, OrderUpdate) and e.client_order_id is not None:
            last[e.client_order_id] = e
    for coid, update in last.items():
        order = w.tracker.order_by_client_id(coid)
        assert order is not None
        assert (order.status, order.order_id, order.price) == (update.status, update.order_id, update.price)
        assert abs(order.filled_amount - update.filled_amount) < 1e-9
        assert order.request_in_flight is None
    assert len(w.tracker.open_orders(NAME)) == w.h.engine.open_order_count()
