"""SimGateway: the OrderGateway of shadow mode, around SimMatchEngine (simulated fills on live public data).

It can never reach an exchange: it holds no credentials and no connection, only the simulated engine (LESSONS 1).

Timing follows STYLE 15 on wall time: market data is fed to the engine *before* the strategy sees it
(:meth:`SimGateway.market_sink` wraps the service's sink); requests are submitted to the engine at ``clock.now_ns()``
and a Clock-driven asyncio timer advances the engine while anything is in flight, so entry and response latencies
play out in wall time. Every answer (OrderUpdate or RequestRejected) goes to the answer sink in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Final

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.entities import Fill, OrderUpdate, PortfolioEntry, Ticker, Trade
from thalex_modular.platform.domain.enums import ChangeReason
from thalex_modular.platform.domain.events import RequestRejected
from thalex_modular.platform.domain.requests import CancelOrder, OrderRequest
from thalex_modular.platform.domain.risk_kernel import UNLIMITED_BUDGET
from thalex_modular.platform.domain.sim.results import SimEvent
from thalex_modular.platform.domain.sim_match_engine import SimMatchEngine
from thalex_modular.platform.use_cases.ports import AnswerSink, GatewayAnswer, MarketDataSink

__all__ = ["SimGateway"]

_DEFAULT_TICK_NS: Final = 1_000_000  # how often the timer advances the engine while requests are in flight: 1 ms


def _drop(_: GatewayAnswer | Fill) -> None:
    """Answer and trade sink used until the owner sets one."""


class _EngineFirstSink:
    """A MarketDataSink that hands each item to the simulated exchange before the strategy's sink."""

    __slots__ = ("_downstream", "_gateway")

    def __init__(self, gateway: SimGateway, downstream: MarketDataSink) -> None:
        self._gateway = gateway
        self._downstream = downstream

    def on_ticker(self, ticker: Ticker) -> None:
        self._gateway.feed_ticker(ticker)
        self._downstream.on_ticker(ticker)

    def on_trade(self, trade: Trade) -> None:
        self._gateway.feed_trade(trade)
        self._downstream.on_trade(trade)

    def on_feed_down(self, reason: str) -> None:
        self._downstream.on_feed_down(reason)


class SimGateway:
    """OrderGateway for one instrument backed by :class:`SimMatchEngine`.

    Args:
        engine: the simulated exchange; it must read the same ``clock``.
        clock: time source (LiveClock in shadow mode), int ns.
        tick_ns: interval of the advance timer while requests or answers are in flight, ns (> 0).

    The gateway keeps the exchange's view built from its own answers (open orders, positions from fills), which
    :meth:`open_orders` and :meth:`portfolio` return for a resync, as the live exchange would.
    """

    def __init__(self, engine: SimMatchEngine, clock: Clock, tick_ns: int = _DEFAULT_TICK_NS) -> None:
        if tick_ns <= 0:
            raise ValueError(f"invalid SimGateway tick_ns <= 0, was {tick_ns}")
        self._engine = engine
        self._clock = clock
        self._tick_s = tick_ns / 1e9
        self._sink: AnswerSink = _drop
        self._trade_sink: Callable[[Fill], None] = _drop
        self._open: dict[str, OrderUpdate] = {}  # order_id -> latest update of open orders
        self._positions: dict[str, float] = {}  # instrument -> signed position, underlying
        self._trade_ids: set[str] = set()
        self._fees_usd = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._submitted = 0

    # -- OrderGateway --------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Always: the simulated exchange has no connection to lose."""
        return True

    def request_budget(self) -> int:
        """Unlimited: the simulated exchange has no rate limit."""
        return UNLIMITED_BUDGET

    def set_answer_sink(self, sink: AnswerSink) -> None:
        self._sink = sink

    def set_fill_sink(self, sink: Callable[[Fill], None]) -> None:
        """Where our trades go with their fees, after the order update that carried them (live: the exchange's
        ``account.trade_history``)."""
        self._trade_sink = sink

    async def submit(self, request: OrderRequest) -> None:
        """Send ``request`` to the simulated exchange at ``clock.now_ns()``; the answer follows after the
        engine's latencies."""
        self.submit_now(request)

    def submit_now(self, request: OrderRequest) -> bool:
        """:meth:`submit`, which never waits: always done (True)."""
        self._ensure_timer()
        self._engine.submit(request)
        self._submitted += 1
        self._wake.set()
        return True

    async def cancel_all(self) -> int:
        """Cancel every open order of the simulated exchange; returns how many cancels were sent. Requests in
        flight are let through first, so an insert not yet acknowledged is cancelled too."""
        self._ensure_timer()
        await self.flush()
        orders = list(self._open.values())
        for update in orders:
            self._engine.submit(CancelOrder(update.client_order_id or 0, update.order_id, update.instrument_name))
        self._wake.set()
        return len(orders)

    async def open_orders(self) -> Sequence[OrderUpdate]:
        """The simulated exchange's open orders (as ``existing`` snapshot entries)."""
        self._pump()
        return [dataclasses.replace(u, change_reason=ChangeReason.EXISTING, fills=()) for u in self._open.values()]

    async def portfolio(self) -> Sequence[PortfolioEntry]:
        """Positions from every fill the simulated exchange reported (instruments ever traded)."""
        self._pump()
        return [PortfolioEntry(name, position) for name, position in self._positions.items()]

    # -- market data and lifecycle ---------------------------------------------------------------------------

    def market_sink(self, downstream: MarketDataSink) -> MarketDataSink:
        """A sink that feeds the engine first, then ``downstream`` (the QuotingService)."""
        return _EngineFirstSink(self, downstream)

    def feed_ticker(self, ticker: Ticker) -> None:
        self._deliver(self._engine.on_ticker(ticker))

    def feed_trade(self, trade: Trade) -> None:
        self._deliver(self._engine.on_trade(trade))

    @property
    def fees_usd(self) -> float:
        """Fees of all simulated fills so far, USD (positive = paid)."""
        return self._fees_usd

    @property
    def requests_submitted(self) -> int:
        return self._submitted

    @property
    def engine(self) -> SimMatchEngine:
        return self._engine

    async def flush(self, timeout_s: float = 1.0) -> None:
        """Wait until nothing is in flight in the engine (tests, shutdown), at most ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._engine.pending_count() and loop.time() < deadline:
            self._pump()
            await asyncio.sleep(self._tick_s)
        self._pump()

    async def close(self) -> None:
        """Stop the advance timer."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- internals ----------------------------------------------------------------------------------------------

    def _ensure_timer(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._timer(), name="sim-gateway-timer")

    async def _timer(self) -> None:
        while True:
            if not self._engine.pending_count():
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(self._tick_s)
            self._pump()

    def _pump(self) -> None:
        self._deliver(self._engine.advance(self._clock.now_ns()))

    def _deliver(self, answers: list[SimEvent]) -> None:
        for answer in answers:
            if isinstance(answer, OrderUpdate):
                trades = self._book(answer)
                self._sink(answer)
                for trade in trades:
                    self._trade_sink(trade)
            elif isinstance(answer, RequestRejected):
                self._sink(answer)
            else:  # pragma: no cover - SimEvent is closed
                raise TypeError(f"unexpected simulated answer {answer!r}")

    def _book(self, update: OrderUpdate) -> list[Fill]:
        """Track the exchange's view; returns the trades new in ``update``, with their fees."""
        trades = [trade for trade in self._engine.booked_trades(update) if trade.trade_id not in self._trade_ids]
        for trade in trades:
            self._trade_ids.add(trade.trade_id)
            self._fees_usd += trade.fee
            name = update.instrument_name
            self._positions[name] = self._positions.get(name, 0.0) + trade.signed_amount
        if update.status.is_open:
            self._open[update.order_id] = update
        else:
            self._open.pop(update.order_id, None)
        return trades
