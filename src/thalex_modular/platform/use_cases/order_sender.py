"""OrderSender: the QuotingService's insert / amend / cancel mode (quote by diff, queue priority kept).

A run plans through the QuotingCore (strategy, risk, reconcile), registers each request with the tracker (PENDING
first, LESSONS 12) and sends it. From the reader the run is plain synchronous code: ``OrderGateway.submit_now``
sends at once while the websocket takes the frame; the rare request that must wait, and those after it, are
finished on a task holding the service's lock (``submit``). Requests the budget held back are counted, and the
service runs again once the rate limiter has tokens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder, OrderRequest
from thalex_modular.platform.use_cases.inline_run import run_inline
from thalex_modular.platform.use_cases.order_reconciler import ReconcilePlan
from thalex_modular.platform.use_cases.ports import OrderGateway
from thalex_modular.platform.use_cases.quote_sender import Run
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.quoting_service_config import ServiceStats

__all__ = ["OrderSender"]

log = logging.getLogger(__name__)


class OrderSender:
    """Insert/amend/cancel requests of one instrument.

    Args:
        core: the instrument's QuotingCore.
        gateway: where the requests go.
        clock: the time source.
        stats: the service's counters.
        lock: the service's lock (a run that must wait finishes holding it).
        on_failure: ``on_failure(reason)`` when a send failed or a run broke: the service pulls and resyncs.
        record_prices: keep (side, price) of every insert/amend sent in ``stats.sent_prices``.
    """

    quotes_without_ids = False

    def __init__(
        self,
        core: QuotingCore,
        gateway: OrderGateway,
        clock: Clock,
        stats: ServiceStats,
        lock: asyncio.Lock,
        on_failure: Callable[[str], None],
        *,
        record_prices: bool = False,
    ) -> None:
        self._core = core
        self._gateway = gateway
        self._clock = clock
        self._stats = stats
        self._lock = lock
        self._on_failure = on_failure
        self._record = record_prices
        self._name = core.instrument.instrument_name
        self._deferred = False

    def wants_run(self, now_ns: int) -> bool:
        """The last run deferred requests for lack of budget."""
        return self._deferred

    def reset(self) -> None:
        """Nothing to forget: the tracker's resync rebuilds what rests."""

    def send_now(self, run: Run) -> asyncio.Task[None] | None:
        plan = self._plan(run)
        sent = self._send_now(plan, run.now_ns)
        if sent and run.ticker is not None:
            self._stats.tick_to_quote.add(self._clock.now_ns() - run.ticker.ts_local_ns)
        tail = None
        if sent < len(plan.requests):
            tail = run_inline(self._finish_send(plan, sent, run.now_ns), name=f"quote-tail-{self._name}")
        self._core.after_sends()  # off the order path: what went out did not need it
        return tail

    async def send(self, run: Run) -> None:
        plan = self._plan(run)
        await self._send_from(plan, self._send_now(plan, run.now_ns), run.now_ns)
        if plan.requests and run.ticker is not None:
            self._stats.tick_to_quote.add(self._clock.now_ns() - run.ticker.ts_local_ns)
        self._core.after_sends()

    # -- internals -------------------------------------------------------------------------------------------

    def _plan(self, run: Run) -> ReconcilePlan:
        core = self._core
        now = run.now_ns
        if run.pull:
            if run.ticker is not None:
                core.observe(run.ticker)
            plan = core.pull_quotes(now)
        elif run.ticker is not None:
            plan = core.on_ticker(run.ticker, now, run.budget)
        else:
            plan = core.requote(now, run.budget)
        if run.throttled:  # back off: only cancels (their own budget) go out
            plan = ReconcilePlan([r for r in plan.requests if isinstance(r, CancelOrder)], plan.denials, plan.deferred)
        self._deferred = plan.deferred > 0
        self._stats.deferred += plan.deferred
        self._stats.denials += len(plan.denials)
        return plan

    def _send_now(self, plan: ReconcilePlan, now: int) -> int:
        """Register and send the plan's requests while the gateway takes them at once; returns how many went (the
        next one, if any, is registered and must be awaited: :meth:`_send_from`)."""
        gateway = self._gateway
        core = self._core
        requests = plan.requests
        for i, request in enumerate(requests):
            core.register_sent(request, now)
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
                self._core.register_sent(request, now)
            try:
                await self._gateway.submit(request)
            except Exception as exc:
                self._send_failed(request, exc)
                return
            self._sent(request)

    async def _finish_send(self, plan: ReconcilePlan, sent: int, now: int) -> None:
        async with self._lock:
            try:
                await self._send_from(plan, sent, now)
            except Exception:
                log.exception("sending the requests of %s failed", self._name)
                self._on_failure("sending a run failed")

    def _sent(self, request: OrderRequest) -> None:
        stats = self._stats
        stats.requests_sent += 1
        if isinstance(request, AmendOrder):
            stats.amends_sent += 1
        elif isinstance(request, CancelOrder):
            stats.cancels_sent += 1
        if self._record:
            self._record_price(request)

    def _send_failed(self, request: OrderRequest, exc: Exception) -> None:
        """The connection broke: the request never left; the resync decides the rest."""
        self._stats.send_failures += 1
        self._core.on_request_failed(request.client_order_id, self._clock.now_ns(), str(exc))
        log.warning("%s: send failed (%s); resync", self._name, exc)
        self._on_failure(f"send failed: {exc}")

    def _record_price(self, request: OrderRequest) -> None:
        if isinstance(request, InsertOrder):
            self._stats.sent_prices.append((request.side, request.price))
        elif isinstance(request, AmendOrder):
            order = self._core.tracker.order_by_client_id(request.client_order_id)
            if order is not None:
                self._stats.sent_prices.append((order.side, request.price))
