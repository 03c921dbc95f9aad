"""QuotingService: one instrument quoting live (ThalexGateway) or in shadow (SimGateway), on the shared QuotingCore.

market data → StateTracker → RegimeAnalyzer → Strategy → RiskCheck → OrderReconciler → gateway.

* It is the instrument's :class:`MarketDataSink`: ``on_ticker``/``on_trade`` only record and schedule, they never
  await (the websocket reader is never blocked, LESSONS 14). Runs coalesce: at most one run executes and at most
  one more is pending per instrument, whatever the number of updates in between. Live and shadow, the reader calls
  :meth:`QuotingService.run_pending` once it has handled a received chunk: the pending run then happens at once
  (no event-loop hop) when no run holds the lock; the run task is the fallback.
* Each reconciliation (plan + register PENDING + send) is atomic under an ``asyncio.Lock``; resync takes the same
  lock, so no plan is ever built on half-rebuilt state.
* Fast reconcile on every ticker and every public trade (all of them are aggressive: a taker hit the book); an own
  fill (:meth:`on_fill_event`) requotes at once.
* Toxic-flow defence: a one-sided aggressive burst (ToxicFlowDetector) pulls the threatened side (or both) until
  its cool-down ends; the strategy's quotes on that side are dropped before the reconciler runs.
* Stale-data guard (LESSONS 15, 17): quotes come down when no ticker arrived for ``max_feed_silence_ns`` (the feed
  went silent, whatever RPC does), when the newest ticker's exchange timestamp stopped advancing for
  ``max_data_age_ns``, or when the feed reports itself down. Only real new data lifts it; nothing resets the stamps.
* Resync (a ResyncRequest from the tracker, a reconnect): stop quoting, rebuild open orders and positions from
  ``gateway.open_orders()`` + ``gateway.portfolio()``, then resume. A failed resync keeps quoting stopped and is
  retried.
* Mass-quote mode (a :class:`MassQuoter` and settings given): ``set_mm_protection`` first, then each change of the
  desired levels is one ``mass_quote``; otherwise insert/amend/cancel by diff (queue priority kept). When the
  exchange reports (``session.mm_protection``, :meth:`on_mm_protection`) that the protection group tripped, our
  quotes are gone: quoting pauses for ``trip_cooldown_ns``, then the group is refilled and the levels sent again; a
  group reset by a cancel, a session end or a failover is refilled at the next run.

Times are int ns from the injected Clock; prices USD; amounts in the underlying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.entities import Fill, OrderUpdate, PortfolioEntry, Ticker, Trade
from thalex_modular.platform.domain.enums import OrderStatus, Side
from thalex_modular.platform.domain.error_codes import TEMPORARY_FAILURE, THROTTLE_EXCEEDED
from thalex_modular.platform.domain.events import MmProtectionUpdate, RequestRejected
from thalex_modular.platform.domain.market.toxic_flow import ToxicFlowDetector
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder, OrderRequest
from thalex_modular.platform.domain.risk import RiskCheck
from thalex_modular.platform.use_cases.inline_run import run_inline
from thalex_modular.platform.use_cases.mass_quoting import Level, MassQuoter, MassQuoteSettings, plan_mass_quote
from thalex_modular.platform.use_cases.order_reconciler import ReconcilePlan
from thalex_modular.platform.use_cases.ports import GatewayAnswer, OrderGateway
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.quoting_service_config import QuotingServiceConfig, ServiceStats
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
        mass_quoter / mass_quote: both given → mass-quote mode; ``risk`` then checks each level.
        record_prices: keep (side, price) of every insert/amend/level sent in ``stats.sent_prices`` (tests).
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
        risk: RiskCheck | None = None,
        record_prices: bool = False,
    ) -> None:
        if (mass_quoter is None) != (mass_quote is None) or (mass_quoter is not None and risk is None):
            raise ValueError("mass-quote mode needs mass_quoter, mass_quote settings and risk together")
        self.core = core
        self.gateway = gateway
        self.clock = clock
        self.config = config or QuotingServiceConfig()
        self.toxic = toxic
        self.stats = ServiceStats()
        self._filter = side_filter(core.strategy)
        core.strategy = self._filter
        self._mq = mass_quoter
        self._mq_settings = mass_quote
        self._risk = risk
        self._mq_last: tuple[list[Level], list[Level]] | None = None
        self._mq_armed = False
        self._mq_paused_until_ns = 0  # after a protection trip: no mass quote before this time
        self._record = record_prices
        self._name = core.instrument.instrument_name
        self._lock = asyncio.Lock()
        self._dirty = False
        self._run_task: asyncio.Task[None] | None = None
        self._inline_tail: asyncio.Task[None] | None = None  # an inline run that had to wait, finished on a task
        self._reader_drains = False  # the market data reader calls run_pending: market data schedules no task
        self._guard_task: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._started = False
        self._resyncing = False
        self._stopping = False
        self._pending_ticker: Ticker | None = None
        self._last_ticker: Ticker | None = None
        self._last_receive_ns: int | None = None
        self._last_exchange_ts: int | None = None
        self._last_advance_ns: int | None = None
        self._feed_down: str | None = None
        self._throttled_until_ns = 0
        self._signature: tuple[object, ...] = ()
        gateway.set_answer_sink(self.on_answer)

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild state from the exchange, arm MM protection in mass-quote mode, then start quoting and the guard.

        Raises:
            Exception: whatever the gateway raises when the first snapshot fails (nothing is quoted then).
        """
        started_ns = self.clock.now_ns()
        self.core.warm_up()  # instant when the builder compiled the kernels before connecting (it logged the time)
        warm_up_s = (self.clock.now_ns() - started_ns) / 1e9
        log.log(logging.INFO if warm_up_s >= 0.5 else logging.DEBUG, "%s: tick path ready in %.1f s", self._name,
                warm_up_s)
        await self._resync_once("start", connection_lost=False, settle=False)  # no fill of ours can be in flight
        self._started = True
        self._guard_task = asyncio.get_running_loop().create_task(self._guard(), name=f"guard-{self._name}")
        self._schedule()

    async def stop(self, cancel_orders: bool = True) -> int:
        """Stop quoting; with ``cancel_orders`` pull every order through ``gateway.cancel_all()`` (returns the
        count). Waits for a run in progress to finish first."""
        self._stopping = True
        self._started = False
        for task in (self._guard_task, self._resync_task):
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
        """True while the service may place quotes (started, not resyncing, data fresh)."""
        return self._started and not self._resyncing and self._pull_reason(self.clock.now_ns()) is None

    # -- MarketDataSink (never awaits) ------------------------------------------------------------------

    def on_ticker(self, ticker: Ticker) -> None:
        now = self.clock.now_ns()
        self.stats.tickers += 1
        self._last_receive_ns = now
        if self._last_exchange_ts is None or ticker.ts_exchange_ns > self._last_exchange_ts:
            self._last_exchange_ts = ticker.ts_exchange_ns
            self._last_advance_ns = now
        self._feed_down = None
        self._pending_ticker = ticker
        self._last_ticker = ticker
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
        self._feed_down = reason
        self._schedule()

    # -- answers, fills, resync ---------------------------------------------------------------------------

    def on_answer(self, answer: GatewayAnswer) -> None:
        """One gateway answer: feed the tracker; fills requote at once, desyncs trigger a resync."""
        tracker = self.core.tracker
        if isinstance(answer, RequestRejected):
            self.stats.rejections += 1
            self.core.on_request_failed(answer.client_order_id, answer.ts_local_ns, answer.message)
            if answer.code == THROTTLE_EXCEEDED:
                self.stats.throttled += 1
            if answer.code in _BACKOFF_CODES:
                self._throttled_until_ns = self.clock.now_ns() + self.config.throttle_backoff_ns
            # no immediate re-run: a refused request is retried at the next market event or when the back-off
            # ends (the guard notices), never in a tight loop (a retry storm)
            return
        adopted_quote = (
            self._mq is not None
            and answer.client_order_id is None
            and tracker.order_by_order_id(answer.order_id) is None
        )
        for event in self.core.on_order_update(answer):
            if isinstance(event, Fill):
                self.on_fill_event(event)
            elif not adopted_quote:  # our own mass quotes have no client_order_id: adopting them is expected
                self.request_resync(event.reason)
        if answer.status.is_terminal:
            self._schedule()

    def on_mm_protection(self, update: MmProtectionUpdate) -> None:
        """A ``session.mm_protection`` item (mass-quote mode). A trip (executions used up the group) or a reset
        (cancel, session end, failover) means the exchange pulled the group's quotes: the group is refilled before
        the next mass quote, after ``trip_cooldown_ns`` for a trip. Other products and refills are ignored."""
        if self._mq is None or self._mq_settings is None or update.product != self.core.instrument.product:
            return
        if not update.needs_refill:
            return
        self._mq_armed = False
        self._mq_last = None
        if update.tripped:
            self.stats.mm_protection_trips += 1
            self._mq_paused_until_ns = self.clock.now_ns() + self._mq_settings.trip_cooldown_ns
            log.warning(
                "%s: MM protection of %s tripped (remaining %s); quoting again in %.1f s", self._name,
                update.product, update.remaining_amount, self._mq_settings.trip_cooldown_ns / 1e9,
            )
        self._schedule()

    def on_own_trade(self, trade: Fill) -> None:
        """One of our trades as the exchange books it (``account.trade_history``, with its fee, lagging the order
        feed): its fee is charged to realised PnL once; the position already moved with the order update."""
        if trade.instrument_name == self._name and self.core.tracker.on_trade_fee(trade):
            self.stats.fees_usd += trade.fee

    def on_fill_event(self, fill: Fill) -> None:
        """An own fill: the position moved, requote at once."""
        self.stats.fills += 1
        self._schedule()

    def request_resync(self, reason: str, connection_lost: bool = False) -> None:
        """Stop quoting and rebuild state from the exchange (idempotent while one is running)."""
        if self._stopping:
            return
        self._resyncing = True
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.get_running_loop().create_task(
                self._resync_loop(reason, connection_lost), name=f"resync-{self._name}"
            )

    def on_reconnect(self) -> None:
        """The gateway reconnected (a new session): resync before quoting again."""
        self._mq_armed = False
        self._mq_last = None
        self.request_resync("reconnected", connection_lost=True)

    def on_exchange_snapshot(
        self, orders: Sequence[OrderUpdate], portfolio: Sequence[PortfolioEntry], reconnected: bool
    ) -> None:
        """The gateway fetched the exchange's state on a (re)connect (ThalexGateway ``on_resync``): stop quoting
        at once and rebuild from it under the lock. Ignored before :meth:`start` (start fetches its own)."""
        if not self._started or self._stopping:
            return
        if reconnected:
            self._mq_armed = False
            self._mq_last = None
        self._resyncing = True
        self._resync_task = asyncio.get_running_loop().create_task(
            self._apply_snapshot(orders, portfolio, reconnected), name=f"snapshot-{self._name}"
        )

    async def _apply_snapshot(
        self, orders: Sequence[OrderUpdate], portfolio: Sequence[PortfolioEntry], reconnected: bool
    ) -> None:
        await self._resync_once("exchange snapshot", reconnected, (orders, portfolio))
        self._schedule()

    async def resync(self, reason: str, connection_lost: bool = False) -> None:
        """Resync now and wait for it (tests, the adapter's reconnect callback)."""
        self._resyncing = True
        await self._resync_once(reason, connection_lost)
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
        if self._mq is not None:
            tail = run_inline(self._run_once(), name=f"quote-tail-{self._name}")
        else:
            self._dirty = False
            tail = self._reconcile_now()
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
                await self._reconcile_once()
            except Exception:
                self._run_failed()

    async def _guard(self) -> None:
        """Re-run when the pull state, the toxic sides or the throttle state change without new data."""
        interval_s = self.config.check_interval_ns / 1e9
        while True:
            await asyncio.sleep(interval_s)
            now = self.clock.now_ns()
            for resync in self.core.tracker.overdue_resyncs(now):  # fills reported but never received
                self.request_resync(resync.reason)
            if self._dirty or self._signature != self._state_signature(now):
                self._schedule()

    def _state_signature(self, now: int) -> tuple[object, ...]:
        return self._signature_of(now, self._pull_reason(now), self._threatened_sides(now))

    def _signature_of(self, now: int, pull_reason: str | None, toxic: frozenset[Side]) -> tuple[object, ...]:
        """What the guard compares to notice a change that needs a run without new data."""
        return (
            pull_reason is None, toxic, now < self._throttled_until_ns, self._resyncing,
            now < self._mq_paused_until_ns,
        )

    def _threatened_sides(self, now: int) -> frozenset[Side]:
        return self.toxic.threatened_sides(now) if self.toxic is not None else _NO_SIDES

    def _pull_reason(self, now: int) -> str | None:
        if self._feed_down is not None:
            return f"feed down: {self._feed_down}"
        if self._last_receive_ns is not None and now - self._last_receive_ns > self.config.max_feed_silence_ns:
            return f"feed silent for {(now - self._last_receive_ns) / 1e9:.1f} s"
        if self._last_advance_ns is not None and now - self._last_advance_ns > self.config.max_data_age_ns:
            return f"market data not advancing for {(now - self._last_advance_ns) / 1e9:.1f} s"
        return None

    # -- one reconciliation (under the lock) -----------------------------------------------------------------

    async def _reconcile_once(self) -> None:
        if not self._started or self._resyncing:
            return
        now = self.clock.now_ns()
        if self._mq is not None:
            if self._pull_check(now):
                await self._send_levels([], [])
            else:
                ticker, self._pending_ticker = self._pending_ticker, None
                await self._mass_quote(ticker, now)
                self.core.after_sends()
            return
        plan = self._plan(now)
        await self._send_from(plan, self._send_now(plan, now), now)
        self.core.after_sends()

    def _reconcile_now(self) -> asyncio.Task[None] | None:
        """:meth:`_reconcile_once` of insert/amend mode as plain code; returns the task finishing what could not be
        sent at once (None when all went)."""
        try:
            if not self._started or self._resyncing:
                return None
            now = self.clock.now_ns()
            plan = self._plan(now)
            sent = self._send_now(plan, now)
            tail = None
            if sent < len(plan.requests):
                tail = run_inline(self._finish_send(plan, sent, now), name=f"quote-tail-{self._name}")
            self.core.after_sends()  # off the order path: what went out did not need it
            return tail
        except Exception:
            self._run_failed()
            return None

    async def _finish_send(self, plan: ReconcilePlan, sent: int, now: int) -> None:
        async with self._lock:
            try:
                await self._send_from(plan, sent, now)
            except Exception:
                self._run_failed()

    def _run_failed(self) -> None:
        """A bug in one run must not kill quoting silently: log it, pull and resync (called in an except block)."""
        log.exception("reconcile of %s failed", self._name)
        self.request_resync("reconcile failed")

    def _pull_check(self, now: int) -> bool:
        """The run's common start: count it, note the state the guard compares, block the threatened sides; True
        when quotes must come down (stale or silent data)."""
        self.stats.runs += 1
        reason = self._pull_reason(now)
        toxic = self._threatened_sides(now)
        self._signature = self._signature_of(now, reason, toxic)
        if reason is None:
            self.stats.last_pull_reason = None
            self._filter.blocked = toxic
            return False
        if self.stats.last_pull_reason != reason.split(" for ")[0]:
            log.warning("%s: pulling quotes (%s)", self._name, reason)
        self.stats.last_pull_reason = reason.split(" for ")[0]
        self.stats.stale_pulls += 1
        return True

    def _plan(self, now: int) -> ReconcilePlan:
        """The insert/amend/cancel requests of one run."""
        if self._pull_check(now):
            return self.core.pull_quotes(now)
        ticker, self._pending_ticker = self._pending_ticker, None
        plan = self.core.on_ticker(ticker, now) if ticker is not None else self.core.requote(now)
        if now < self._throttled_until_ns:  # back off: only cancels (their own budget) go out
            plan = ReconcilePlan([r for r in plan.requests if isinstance(r, CancelOrder)], plan.denials)
        return plan

    def _send_now(self, plan: ReconcilePlan, now: int) -> int:
        """Register and send the plan's requests while the gateway takes them at once; returns how many went (the
        next one, if any, is registered and must be awaited: :meth:`_send_from`)."""
        self.stats.denials += len(plan.denials)
        gateway = self.gateway
        requests = plan.requests
        for i, request in enumerate(requests):
            self.core.register_sent(request, now)
            try:
                done = gateway.submit_now(request)
            except Exception as exc:
                self._send_failed(request, exc)
                return len(requests)
            if not done:
                return i
            self._sent(request)
        return len(requests)

    async def _send_from(self, plan: ReconcilePlan, sent: int, now: int) -> None:
        """Send ``plan.requests[sent:]`` (the first of them already registered), awaiting the gateway."""
        requests = plan.requests
        for i in range(sent, len(requests)):
            request = requests[i]
            if i > sent:
                self.core.register_sent(request, now)
            try:
                await self.gateway.submit(request)
            except Exception as exc:
                self._send_failed(request, exc)
                return
            self._sent(request)

    def _sent(self, request: OrderRequest) -> None:
        self.stats.requests_sent += 1
        if self._record:
            self._record_price(request)

    def _send_failed(self, request: OrderRequest, exc: Exception) -> None:
        """The connection broke: the request never left; resync decides the rest."""
        self.stats.send_failures += 1
        self.core.on_request_failed(request.client_order_id, self.clock.now_ns(), str(exc))
        log.warning("%s: send failed (%s); resync", self._name, exc)
        self.request_resync(f"send failed: {exc}")

    def _record_price(self, request: OrderRequest) -> None:
        if isinstance(request, InsertOrder):
            self.stats.sent_prices.append((request.side, request.price))
        elif isinstance(request, AmendOrder):
            order = self.core.tracker.order_by_client_id(request.client_order_id)
            if order is not None:
                self.stats.sent_prices.append((order.side, request.price))

    async def _mass_quote(self, ticker: Ticker | None, now: int) -> None:
        core = self.core
        if ticker is not None:
            core.observe(ticker)
        if now < self._mq_paused_until_ns:  # the exchange pulled our quotes on a protection trip: cool down
            return
        wanted = core.desired_quotes(now)
        if wanted is None:
            return
        assert self._risk is not None and self._mq_settings is not None
        desired, ctx = wanted
        plan = plan_mass_quote(core.instrument, desired, self._risk, ctx, self._mq_settings.quote_amount)
        self.stats.denials += len(plan.denials)
        await self._send_levels(plan.bids, plan.asks)

    async def _send_levels(self, bids: list[Level], asks: list[Level]) -> None:
        assert self._mq is not None and self._mq_settings is not None
        if self._mq_last == (bids, asks):
            return
        settings = self._mq_settings
        try:
            if not self._mq_armed:
                product = self.core.instrument.product
                await self._mq.set_mm_protection(product, settings.trade_amount, settings.quote_amount)
                self._mq_armed = True
            failed_sides = await self._mq.mass_quote(self._name, bids, asks, post_only=settings.post_only)
        except Exception as exc:
            self.stats.send_failures += 1
            self._mq_armed = False
            self._mq_last = None
            log.warning("%s: mass quote failed (%s)", self._name, exc)
            return
        self.stats.mass_quotes_sent += 1
        if failed_sides:
            # not what rests: the next run sends the levels again (a trip's notification re-arms the group)
            self.stats.mass_quote_failed_sides += failed_sides
            self._mq_last = None
            return
        self._mq_last = (bids, asks)
        if self._record:
            self.stats.sent_prices.extend((Side.BUY, p) for p, _ in bids)
            self.stats.sent_prices.extend((Side.SELL, p) for p, _ in asks)

    # -- resync ---------------------------------------------------------------------------------------------

    async def _resync_loop(self, reason: str, connection_lost: bool) -> None:
        while not self._stopping:
            try:
                await self._resync_once(reason, connection_lost)
            except Exception as exc:
                log.warning("%s: resync failed (%s); retrying", self._name, exc)
                await asyncio.sleep(self.config.resync_retry_ns / 1e9)
                continue
            self._schedule()
            return

    async def _resync_once(
        self,
        reason: str,
        connection_lost: bool,
        state: tuple[Sequence[OrderUpdate], Sequence[PortfolioEntry]] | None = None,
        *,
        settle: bool = True,
    ) -> None:
        self._resyncing = True
        async with self._lock:
            log.info("%s: resync (%s)", self._name, reason)
            if state is None:
                orders = await self.gateway.open_orders()
                portfolio = await self.gateway.portfolio()
            else:
                orders, portfolio = state
            tracker = self.core.tracker
            now = self.clock.now_ns()
            for event in tracker.on_open_orders_snapshot(_of(orders, self._name), now, (self._name,)):
                if isinstance(event, Fill):
                    self.stats.fills += 1
            if settle and not connection_lost:  # after a reconnect no late notification of the old session comes
                portfolio = await self._settled_portfolio(portfolio)
            tracker.on_portfolio(portfolio, self.clock.now_ns(), complete=True)
            if connection_lost:
                # answers to requests of the lost session never come: inserts the snapshot did not show were
                # never placed (or were deleted by cancel-on-disconnect), amends/cancels are not pending anymore
                for order in tracker.open_orders(self._name):
                    if order.request_in_flight is not None or order.status is OrderStatus.PENDING:
                        self.core.on_request_failed(order.client_order_id, now, "connection lost")
            self.stats.resyncs += 1
            self._resyncing = False


    async def _settled_portfolio(self, portfolio: Sequence[PortfolioEntry]) -> Sequence[PortfolioEntry]:
        """The portfolio to adopt our position from. A difference from the tracker's position may be a fill racing
        the snapshot: its notification still on the way (adopting would count it twice) or the portfolio not
        updated yet (adopting would drop it). Quoting is stopped (the lock is held) while notifications keep
        arriving; the portfolio is fetched again after ``resync_settle_ns`` and a difference is adopted only when
        it held with no fill received in between (after ``resync_settle_rounds`` waits, the latest is adopted)."""
        tolerance = 0.5 * self.core.instrument.volume_tick_size
        tracker = self.core.tracker
        for _ in range(self.config.resync_settle_rounds):
            difference = _position_in(portfolio, self._name) - tracker.position_amount(self._name)
            if abs(difference) <= tolerance:
                return portfolio
            fills = self.stats.fills
            await asyncio.sleep(self.config.resync_settle_ns / 1e9)
            fresh = await self.gateway.portfolio()
            held = _position_in(fresh, self._name) - tracker.position_amount(self._name)
            if self.stats.fills == fills and abs(held - difference) <= tolerance:
                return fresh
            portfolio = fresh
        return portfolio


def _position_in(portfolio: Sequence[PortfolioEntry], name: str) -> float:
    """Our position in ``name`` per a complete portfolio (absent = flat), underlying."""
    return next((entry.position for entry in portfolio if entry.instrument_name == name), 0.0)


def _of(orders: Sequence[OrderUpdate], name: str) -> list[OrderUpdate]:
    return [o for o in orders if o.instrument_name == name]
