"""QuotingService: one instrument quoting live (ThalexGateway) or in shadow (SimGateway), on the shared QuotingCore.

market data → StateTracker → RegimeAnalyzer → Strategy → RiskCheck → OrderReconciler → gateway.

* It is the instrument's :class:`MarketDataSink`: ``on_ticker``/``on_trade`` only record and schedule, they never
  await (the websocket reader is never blocked, LESSONS 14). Runs coalesce: at most one run executes and at most
  one more is pending per instrument, whatever the number of updates in between. Live and shadow, the reader calls
  :meth:`QuotingService.run_pending` once it has handled a received chunk: the pending run then happens at once
  (no event-loop hop) when no run holds the lock; the run task is the fallback.
* A run is decided here (:class:`~.quote_sender.Run`) and sent by the send mode: :class:`~.order_sender.OrderSender`
  (insert / amend / cancel by diff, queue priority kept) or :class:`~.mass_quote_sender.MassQuoteSender`
  (``private/mass_quote`` under market-maker protection, live only). Each run is atomic under an ``asyncio.Lock``;
  resync takes the same lock, so no plan is ever built on half-rebuilt state.
* No order-bearing request leaves unless the gateway is ready (connected, logged in, resynced) and no resync is due:
  a lost connection stops quoting at once, and the reconnect's snapshot rebuilds the state before the next quote.
* Fast reconcile on every ticker and every public trade (all of them are aggressive: a taker hit the book); an own
  fill (:meth:`on_fill_event`) requotes at once.
* Toxic-flow defence: a one-sided aggressive burst (ToxicFlowDetector) pulls the threatened side (or both) until
  its cool-down ends; the strategy's quotes on that side are dropped before the reconciler runs.
* Quotes come down while the ticker feed is stale (silent, not advancing, or down: ``FeedWatch``; only real new
  data lifts it), while an operator paused the instrument and while the kill switch is engaged
  (:class:`~.operator_controls.OperatorControls`, ``service.controls``: the service feeds its triggers and asks it
  before each run; only an operator's resume lifts a pause or the kill switch).
* Resync (a ResyncRequest from the tracker, an order the exchange no longer has, a position the exchange's portfolio
  feed contradicts, a reconnect): quoting stops until the exchange's state is rebuilt. When and how resyncs run,
  one at a time and retried until one succeeds, is :class:`~.resync_runner.ResyncRunner` (``service.resyncs``).

Times are int ns from the injected Clock; prices USD; amounts in the underlying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.entities import Fill, PortfolioEntry, Ticker, Trade
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.error_codes import ORDER_NOT_FOUND, TEMPORARY_FAILURE, THROTTLE_EXCEEDED
from thalex_modular.platform.domain.events import MmProtectionUpdate, RequestRejected
from thalex_modular.platform.domain.kill_switch import KillSwitchConfig
from thalex_modular.platform.domain.market.toxic_flow import ToxicFlowDetector
from thalex_modular.platform.domain.requests import InsertOrder
from thalex_modular.platform.domain.tracking.feed_watch import FeedWatch
from thalex_modular.platform.use_cases.mass_quote_sender import MassQuoteSender
from thalex_modular.platform.use_cases.mass_quoting import MassQuoter, MassQuoteSettings
from thalex_modular.platform.use_cases.operator_controls import OperatorControls
from thalex_modular.platform.use_cases.order_sender import OrderSender
from thalex_modular.platform.use_cases.ports import GatewayAnswer, OrderGateway, SessionJournal
from thalex_modular.platform.use_cases.quote_sender import QuoteSender, Run
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.quoting_service_config import QuotingServiceConfig, ServiceStats
from thalex_modular.platform.use_cases.resync import ExchangeState
from thalex_modular.platform.use_cases.resync_runner import ResyncRunner
from thalex_modular.strategies.protocol import Strategy
from thalex_modular.strategies.side_filter import side_filter

__all__ = ["QuotingService"]

log = logging.getLogger(__name__)

_BACKOFF_CODES = frozenset({THROTTLE_EXCEEDED, TEMPORARY_FAILURE})  # the gateway's "not connected" is 20
_NO_SIDES: frozenset[Side] = frozenset()


class QuotingService:
    """Live/shadow quoting of one instrument. Implements :class:`~.ports.MarketDataSink`.

    Args:
        core: the instrument's QuotingCore (its strategy is wrapped in a :class:`SideFilter`).
        gateway: where orders go (ThalexGateway live, SimGateway shadow); the service sets its answer sink.
        clock: the time source (LiveClock).
        config: guard timings.
        toxic: the toxic-flow detector, None to disable the defence.
        mass_quoter / mass_quote: both given → mass-quote mode (checked by the core's RiskCheck).
        kill_switch: the kill switch's triggers, None for none (``controls.kill`` still engages the switch).
        journal: where our orders' updates and our trades are recorded (persistence), None for nowhere.
        record_prices: keep (side, price) of every insert/amend/level sent in ``stats.sent_prices`` (tests).

    Attributes:
        controls: the operator's pause and the kill switch (:class:`~.operator_controls.OperatorControls`).
        resyncs: the instrument's resyncs (:class:`~.resync_runner.ResyncRunner`): the gateway's connection-lost,
            desync and (re)connect snapshot events go there; ``resyncs.resyncing`` stops quoting.
    """

    def __init__(
        self,
        core: QuotingCore,
        gateway: OrderGateway,
        clock: Clock,
        config: QuotingServiceConfig | None = None,
        *,
        toxic: ToxicFlowDetector | None = None,
        mass_quoter: MassQuoter | None = None,
        mass_quote: MassQuoteSettings | None = None,
        kill_switch: KillSwitchConfig | None = None,
        journal: SessionJournal | None = None,
        record_prices: bool = False,
    ) -> None:
        if (mass_quoter is None) != (mass_quote is None):
            raise ValueError("mass-quote mode needs mass_quoter and mass_quote settings together")
        self.core = core
        self.gateway = gateway
        self.clock = clock
        self.config = config or QuotingServiceConfig()
        self.toxic = toxic
        self.journal = journal
        self.stats = ServiceStats()
        self._filter = side_filter(core.strategy)
        core.strategy = self._filter
        self._name = core.instrument.instrument_name
        self._lock = asyncio.Lock()
        self.controls = OperatorControls(core, clock, self.stats, kill_switch, self._schedule)
        self.resyncs = ResyncRunner(
            core, gateway, clock, self.config, self.stats, self._lock,
            forget_sent=lambda: self._sender.reset(), on_resynced=self.controls.on_resync, schedule=self._schedule,
        )
        self._sender: QuoteSender
        if mass_quoter is not None and mass_quote is not None:
            self._mass: MassQuoteSender | None = MassQuoteSender(
                core, mass_quoter, mass_quote, clock, self.stats, self._lock, self.resyncs.request, self._schedule,
                record_prices=record_prices,
            )
            self._sender = self._mass
        else:
            self._mass = None
            self._sender = OrderSender(
                core, gateway, clock, self.stats, self._lock, self.resyncs.request, record_prices=record_prices
            )
        self._feed = FeedWatch(self.config.max_feed_silence_ns, self.config.max_data_age_ns)
        self._dirty = False
        self._run_task: asyncio.Task[None] | None = None
        self._inline_tail: asyncio.Task[None] | None = None  # an inline run that had to wait, finished on a task
        self._reader_drains = False  # the market data reader calls run_pending: market data schedules no task
        self._guard_task: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False
        self._pending_ticker: Ticker | None = None
        self._throttled_until_ns = 0
        self._signature: tuple[object, ...] = ()
        gateway.set_answer_sink(self.on_answer)

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self, snapshot: ExchangeState | None = None) -> None:
        """Rebuild state from the exchange (``snapshot`` when the gateway already fetched it at connect: one resync,
        not two), then start quoting and the guard.

        Raises:
            Exception: whatever the gateway raises when the first snapshot fails (nothing is quoted then).
        """
        started_ns = self.clock.now_ns()
        self.core.warm_up()  # instant when the builder compiled the kernels before connecting (it logged the time)
        warm_up_s = (self.clock.now_ns() - started_ns) / 1e9
        log.log(logging.INFO if warm_up_s >= 0.5 else logging.DEBUG, "%s: tick path ready in %.1f s", self._name,
                warm_up_s)
        await self.resyncs.start(snapshot)
        self._started = True
        self._guard_task = asyncio.get_running_loop().create_task(self._guard(), name=f"guard-{self._name}")
        self._schedule()

    async def stop(self, cancel_orders: bool = True) -> int:
        """Stop quoting; with ``cancel_orders`` pull every order of ours through ``gateway.cancel_all()`` (returns
        the count). Waits for a run in progress to finish first."""
        self._stopping = True
        self._started = False
        resync_task = self.resyncs.stop()
        for task in (self._guard_task, resync_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        async with self._lock:
            for task in (self._run_task, self._inline_tail):
                if task is not None and not task.done():
                    task.cancel()
            if cancel_orders:
                return await self.gateway.cancel_all()
        return 0

    @property
    def quoting(self) -> bool:
        """True while the service may place quotes (started, connected, not resyncing, data fresh, not paused)."""
        return (
            self._started and not self.resyncs.resyncing and self.gateway.ready
            and self.pull_reason(self.clock.now_ns()) is None
        )

    # -- new strategy parameters, state ------------------------------------------------------------------

    def replace_strategy(self, strategy: Strategy, amend_tolerance_ticks: int, amend_tolerance_bps: float,
                         amount_tolerance: float) -> None:
        """Quote with ``strategy`` and these keep tolerances from the next run on (an operator's new parameters);
        the toxic-flow filter wraps the new strategy as it did the old one.

        Raises:
            InvalidValue: a tolerance out of range (nothing is changed then).
        """
        self.core.reconciler.set_tolerances(amend_tolerance_ticks, amend_tolerance_bps, amount_tolerance)
        blocked = self._filter.blocked
        self._filter = side_filter(strategy)
        self._filter.blocked = blocked
        self.core.strategy = self._filter
        self._schedule()

    # -- MarketDataSink (never awaits) ------------------------------------------------------------------

    def on_ticker(self, ticker: Ticker) -> None:
        now = self.clock.now_ns()
        stats = self.stats
        stats.tickers += 1
        if self._pending_ticker is not None:
            stats.coalesced += 1
        stats.feed_lag.add(ticker.ts_local_ns - ticker.ts_exchange_ns)
        self._feed.on_ticker(ticker.ts_exchange_ns, now)
        self._pending_ticker = ticker
        self._market_data_arrived()

    def on_trade(self, trade: Trade) -> None:
        if trade.instrument_name != self._name:
            return
        self.stats.trades += 1
        self.core.on_trade(trade)
        if self.toxic is not None and self.toxic.on_trade(trade, self.clock.now_ns()):
            self.stats.toxic_pulls += 1
        self._market_data_arrived()

    def on_feed_down(self, reason: str) -> None:
        self._feed.on_feed_down(reason)
        self._schedule()

    # -- answers, fills, the account ----------------------------------------------------------------------

    def on_answer(self, answer: GatewayAnswer) -> None:
        """One gateway answer: feed the tracker; fills requote at once, desyncs trigger a resync."""
        tracker = self.core.tracker
        if isinstance(answer, RequestRejected):
            self._on_rejected(answer)
            return
        adopted_quote = (
            self._sender.quotes_without_ids
            and answer.client_order_id is None
            and tracker.order_by_order_id(answer.order_id) is None
        )
        for event in self.core.on_order_update(answer):
            if isinstance(event, Fill):
                self.on_fill_event(event)
            elif not adopted_quote:  # our own mass quotes have no client_order_id: adopting them is expected
                self.resyncs.request(event.reason)
        if self.journal is not None:
            self.journal.order(answer)
        if answer.status.is_terminal or self.controls.paused or self.core.reconciler.halted:
            self._schedule()  # a slot freed, or an order to pull arrived

    def _on_rejected(self, answer: RequestRejected) -> None:
        self.stats.rejections += 1
        by_code = self.stats.rejections_by_code
        by_code[answer.code] = by_code.get(answer.code, 0) + 1
        now = self.clock.now_ns()
        order = self.core.on_request_failed(answer.client_order_id, answer.ts_local_ns, answer.message)
        code = answer.code
        if code == THROTTLE_EXCEEDED:
            self.stats.throttled += 1
        if code in _BACKOFF_CODES:
            self._throttled_until_ns = now + self.config.throttle_backoff_ns
        else:
            self.controls.on_reject(now)
        if (code == ORDER_NOT_FOUND and not isinstance(answer.request, InsertOrder) and order is not None
                and order.status.is_open):
            # the exchange no longer has the order (filled or cancelled, perhaps by someone else): never address it
            # again; the resync closes it and brings in any fill it had
            self.resyncs.request(f"order {order.order_id} not found by the exchange ({answer.message})")
        # no immediate re-run: a refused request is retried at the next market event or when the back-off ends
        # (the guard notices), never in a tight loop (a retry storm)

    def on_mm_protection(self, update: MmProtectionUpdate) -> None:
        """A ``session.mm_protection`` item (mass-quote mode; see :class:`~.mass_quote_sender.MassQuoteSender`)."""
        if self._mass is not None:
            self._mass.on_mm_protection(update)

    def on_own_trade(self, trade: Fill) -> None:
        """One of our trades as the exchange books it (``account.trade_history``, with its fee, lagging the order
        feed): its fee is charged to realised PnL once; the position already moved with the order update."""
        if trade.instrument_name != self._name:
            return
        tracker = self.core.tracker
        if tracker.on_trade_fee(trade):
            self.stats.fees_usd += trade.fee
        if self.journal is not None and trade.order_id is not None and tracker.order_by_order_id(trade.order_id):
            self.journal.trade(trade)

    def on_portfolio(self, entries: Sequence[PortfolioEntry], snapshot: bool) -> None:
        """The exchange's portfolio feed moved (the gateway updated the account's exposure first): a position that
        differs from ours is noticed now and resynced once it held with no fill of ours (PositionWatch)."""
        self.resyncs.watch_position(self.clock.now_ns())

    def on_fill_event(self, fill: Fill) -> None:
        """An own fill: the position moved, requote at once."""
        self.stats.fills += 1
        self.controls.check(self.clock.now_ns())
        self._schedule()

    # -- scheduling -------------------------------------------------------------------------------------

    def drained_by_reader(self) -> None:
        """Declare that the market data reader calls :meth:`run_pending` after each received chunk: tickers and
        trades then only mark a run pending (no task per message); the reader runs it."""
        self._reader_drains = True

    def run_pending(self) -> None:
        """Run the pending reconciliation now, in the caller, when no run holds the lock (else the run task takes
        it once the lock is free). The websocket reader calls this once it has handled every frame received so far,
        so a burst still coalesces into one run on its newest data, and the first request leaves without an
        event-loop hop to the run task. In insert/amend mode the run is plain synchronous code (nothing else can
        run before it returns, so it needs no lock); requests the gateway cannot take at once (a full socket
        buffer) and mass-quote runs, which await their RPCs, are finished on a task holding the lock."""
        if not self._dirty or self._stopping:
            return
        if self._lock.locked():
            self._schedule()
            return
        self._dirty = False
        try:
            run = self._decide()
            tail = self._sender.send_now(run) if run is not None else None
        except Exception:
            self._run_failed()
            return
        if tail is not None:
            self._inline_tail = tail

    def _market_data_arrived(self) -> None:
        if self._reader_drains:
            self._dirty = True
        else:
            self._schedule()

    def _schedule(self) -> None:
        self._dirty = True
        if self._run_task is None or self._run_task.done():
            self._run_task = asyncio.get_running_loop().create_task(self._run_loop(), name=f"quote-{self._name}")

    async def _run_loop(self) -> None:
        while self._dirty and not self._stopping:
            await self._run_once()
            await asyncio.sleep(0)  # let the reader and the answers in between runs

    async def _run_once(self) -> None:
        self._dirty = False
        async with self._lock:
            try:
                run = self._decide()
                if run is not None:
                    await self._sender.send(run)
            except Exception:
                self._run_failed()

    def _run_failed(self) -> None:
        """A bug in one run must not kill quoting silently: log it, pull and resync (called in an except block)."""
        log.exception("reconcile of %s failed", self._name)
        self.resyncs.request("reconcile failed")

    async def _guard(self) -> None:
        """Re-run when the pull state, the toxic sides or the throttle state change without new data, when the
        sender held quotes back; watch the kill switch's triggers and the exchange's position."""
        interval_s = self.config.check_interval_ns / 1e9
        while True:
            await asyncio.sleep(interval_s)
            now = self.clock.now_ns()
            self.resyncs.check(now)
            self.controls.check(now)
            if self._dirty or self._sender.wants_run(now) or self._signature != self._state_signature(now):
                self._schedule()

    def _state_signature(self, now: int) -> tuple[object, ...]:
        return self._signature_of(now, self.pull_reason(now), self._threatened_sides(now))

    def _signature_of(self, now: int, pull_reason: str | None, toxic: frozenset[Side]) -> tuple[object, ...]:
        """What the guard compares to notice a change that needs a run without new data."""
        return pull_reason is None, toxic, now < self._throttled_until_ns, self.resyncs.resyncing, self.gateway.ready

    def _threatened_sides(self, now: int) -> frozenset[Side]:
        return self.toxic.threatened_sides(now) if self.toxic is not None else _NO_SIDES

    def pull_reason(self, now: int) -> str | None:
        """Why quotes are pulled at ``now`` (an operator's hold first, then stale data), None when they are not."""
        held = self.controls.held_reason
        if held is not None:
            return held
        return self._feed.stale_reason(now)

    # -- one run ---------------------------------------------------------------------------------------------

    def _decide(self) -> Run | None:
        """The run to send now, or None when nothing may leave (not started, resyncing, the gateway not ready).
        Counts the run, notes the state the guard compares and blocks the threatened sides."""
        if not self._started or self.resyncs.resyncing or not self.gateway.ready:
            return None
        now = self.clock.now_ns()
        self.stats.runs += 1
        reason = self.pull_reason(now)
        toxic = self._threatened_sides(now)
        self._signature = self._signature_of(now, reason, toxic)
        ticker, self._pending_ticker = self._pending_ticker, None
        if reason is None:
            self.stats.last_pull_reason = None
            self._filter.blocked = toxic
            return Run(now, False, ticker, now < self._throttled_until_ns, self.gateway.request_budget())
        kind = reason.split(" for ")[0]
        if self.stats.last_pull_reason != kind:
            log.warning("%s: pulling quotes (%s)", self._name, reason)
        self.stats.last_pull_reason = kind
        self.stats.stale_pulls += 1
        return Run(now, True, ticker, False, self.gateway.request_budget())
