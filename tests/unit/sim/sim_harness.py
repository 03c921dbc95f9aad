"""A SimMatchEngine on a SimClock with millisecond helpers, and checks shared by the sim tests."""

from __future__ import annotations

from collections import defaultdict

from stubs import perpetual, ticker
from thalex_modular.platform.domain.clock import SimClock
from thalex_modular.platform.domain.entities import OrderUpdate, Trade
from thalex_modular.platform.domain.enums import ChangeReason, DeleteReason, OrderStatus, Side
from thalex_modular.platform.domain.events import RequestRejected
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.domain.sim.results import SimEvent
from thalex_modular.platform.domain.sim_match_engine import SimMatchEngine

T0 = 1_700_000_000 * 10**9
MS = 1_000_000
NAME = "BTC-PERPETUAL"


class Harness:
    """Engine plus clock; every call returns the events that reached us and also appends them to ``events``."""

    def __init__(self, config: SimMatchConfig | None = None) -> None:
        self.clock = SimClock(T0)
        self.instrument = perpetual()
        self.engine = SimMatchEngine(
            self.instrument,
            self.clock,
            config
            or SimMatchConfig(order_entry_latency_ns=10 * MS, cancel_latency_ns=5 * MS, response_latency_ns=2 * MS,
                              feed_latency_ns=0),
        )
        self.events: list[SimEvent] = []

    def _keep(self, out: list[SimEvent]) -> list[SimEvent]:
        self.events.extend(out)
        return out

    def at(self, ms: float) -> list[SimEvent]:
        """Move the clock to T0 + ``ms`` and let the engine catch up."""
        self.clock.advance_to(T0 + round(ms * MS))
        return self._keep(self.engine.advance(self.clock.now_ns()))

    def book(self, bid: float | None, ask: float | None, bid_amount: float | None = 1.0,
             ask_amount: float | None = 1.0) -> list[SimEvent]:
        """A ticker seen now; a None amount is a side whose displayed size the feed did not give."""
        return self._keep(self.engine.on_ticker(
            ticker(bid=bid, ask=ask, bid_amount=bid_amount, ask_amount=ask_amount, ts_ns=self.clock.now_ns())
        ))

    def trade(self, price: float, amount: float, taker_side: Side, lag_ms: float = 0.0) -> list[SimEvent]:
        """A public trade seen now that happened ``lag_ms`` earlier at the exchange (its two stamps)."""
        now = self.clock.now_ns()
        print_ = Trade(NAME, price, amount, taker_side, now - round(lag_ms * MS), now)
        return self._keep(self.engine.on_trade(print_))

    def buy(self, coid: int, price: float, amount: float, **kw: object) -> None:
        self.engine.submit(InsertOrder(coid, NAME, Side.BUY, price, amount, **kw))  # type: ignore[arg-type]

    def sell(self, coid: int, price: float, amount: float, **kw: object) -> None:
        self.engine.submit(InsertOrder(coid, NAME, Side.SELL, price, amount, **kw))  # type: ignore[arg-type]

    def amend(self, coid: int, price: float, amount: float) -> None:
        self.engine.submit(AmendOrder(coid, None, NAME, price, amount))

    def cancel(self, coid: int) -> None:
        self.engine.submit(CancelOrder(coid, None, NAME))

    def updates(self, coid: int | None = None) -> list[OrderUpdate]:
        return [e for e in self.events if isinstance(e, OrderUpdate) and (coid is None or e.client_order_id == coid)]

    def rejections(self) -> list[RequestRejected]:
        return [e for e in self.events if isinstance(e, RequestRejected)]

    def filled(self, coid: int) -> float:
        ups = self.updates(coid)
        return ups[-1].filled_amount if ups else 0.0


def check_update_stream(events: list[SimEvent], lot: float) -> None:
    """Thalex OrderStatus consistency of a whole event stream (per order, in arrival order)."""
    eps = lot * 1e-6
    seen_trade_ids: set[str] = set()
    last: dict[str, OrderUpdate] = {}
    closed: set[str] = set()
    delivered: list[int] = []
    for e in events:
        delivered.append(e.ts_local_ns)
        if not isinstance(e, OrderUpdate):
            continue
        assert e.order_id not in closed, f"update after close: {e}"
        new = sum(f.amount for f in e.fills)
        prev = last[e.order_id].filled_amount if e.order_id in last else 0.0
        assert abs(e.filled_amount - (prev + new)) < eps, f"filled_amount not cumulative: {e}"
        assert e.filled_amount <= e.amount + eps
        for f in e.fills:
            assert f.trade_id not in seen_trade_ids, f"trade_id repeated: {f.trade_id}"
            seen_trade_ids.add(f.trade_id)
        if e.change_reason is ChangeReason.FILL:
            assert e.fills, "a fill update without fills"
        if e.status.is_terminal:
            assert e.remaining_amount == 0.0
            assert e.delete_reason is not None
            closed.add(e.order_id)
        else:
            assert e.delete_reason is None
            assert abs(e.filled_amount + e.remaining_amount - e.amount) < eps
        expected_by_status = {
            OrderStatus.OPEN: e.filled_amount == 0.0,
            OrderStatus.PARTIALLY_FILLED: 0.0 < e.filled_amount < e.amount - eps,
            OrderStatus.FILLED: abs(e.filled_amount - e.amount) < eps and e.delete_reason is DeleteReason.FILLED,
            OrderStatus.CANCELLED: e.filled_amount == 0.0,
            OrderStatus.CANCELLED_PARTIALLY_FILLED: e.filled_amount > 0.0,
        }
        assert expected_by_status[e.status], f"status inconsistent with amounts: {e}"
        last[e.order_id] = e
    assert delivered == sorted(delivered), "events delivered out of time order"


def fills_by_exchange_time(events: list[SimEvent]) -> dict[int, float]:
    """Maker fill amount grouped by the exchange time of the fill (one trade per instant in our scripts)."""
    out: dict[int, float] = defaultdict(float)
    for e in events:
        if isinstance(e, OrderUpdate) and e.change_reason is ChangeReason.FILL:
            for f in e.fills:
                out[f.ts_exchange_ns] += f.amount
    return out
