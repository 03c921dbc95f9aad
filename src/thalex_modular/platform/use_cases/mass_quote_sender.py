"""MassQuoteSender: the QuotingService's mass-quote mode (live only): each change of the desired levels is one
``private/mass_quote``, after ``set_mm_protection`` for the instrument's product.

When the exchange reports (``session.mm_protection``) that the protection group tripped, our quotes are gone:
quoting pauses for ``trip_cooldown_ns``, then the group is refilled and the levels sent again; a group reset by a
cancel, a session end or a failover is refilled at the next run. Sides the exchange refused (``n_fail``) are sent
again at the next run rather than assumed resting. Levels are checked by the instrument's one RiskCheck against
everything that stays when they replace ours (:func:`~.mass_quoting.plan_mass_quote`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.events import MmProtectionUpdate
from thalex_modular.platform.domain.risk import OpenBook, open_book
from thalex_modular.platform.use_cases.inline_run import run_inline
from thalex_modular.platform.use_cases.mass_quoting import Level, MassQuoter, MassQuoteSettings, plan_mass_quote
from thalex_modular.platform.use_cases.quote_sender import Run
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.quoting_service_config import ServiceStats

__all__ = ["MassQuoteSender"]

log = logging.getLogger(__name__)


class MassQuoteSender:
    """Mass quotes of one instrument under market-maker protection.

    Args:
        core: the instrument's QuotingCore (its reconciler's RiskCheck checks every level).
        quoter: the gateway's mass-quote port.
        settings: the protection group and the cool-down after a trip.
        clock: the time source.
        stats: the service's counters.
        lock: the service's lock (every mass-quote run holds it: they await their RPCs).
        on_failure: ``on_failure(reason)`` when a run broke: the service pulls and resyncs.
        schedule: asks the service for a run (a protection group was reset).
        record_prices: keep (side, price) of every level sent in ``stats.sent_prices``.
    """

    quotes_without_ids = True

    def __init__(
        self,
        core: QuotingCore,
        quoter: MassQuoter,
        settings: MassQuoteSettings,
        clock: Clock,
        stats: ServiceStats,
        lock: asyncio.Lock,
        on_failure: Callable[[str], None],
        schedule: Callable[[], None],
        *,
        record_prices: bool = False,
    ) -> None:
        self._core = core
        self._quoter = quoter
        self._settings = settings
        self._clock = clock
        self._stats = stats
        self._lock = lock
        self._on_failure = on_failure
        self._schedule = schedule
        self._record = record_prices
        self._name = core.instrument.instrument_name
        self._last: tuple[list[Level], list[Level]] | None = None
        self._armed = False
        self._paused_until_ns = 0  # after a protection trip: no mass quote before this time

    def wants_run(self, now_ns: int) -> bool:
        """A protection trip's cool-down has ended and no run sent the levels since."""
        return self._paused_until_ns != 0 and now_ns >= self._paused_until_ns

    def reset(self) -> None:
        self._armed = False
        self._last = None

    def send_now(self, run: Run) -> asyncio.Task[None] | None:
        return run_inline(self._send_locked(run), name=f"quote-tail-{self._name}")

    async def send(self, run: Run) -> None:
        core = self._core
        if run.ticker is not None:
            core.observe(run.ticker)
        if run.pull:
            await self._send_levels([], [])
            return
        if run.now_ns >= self._paused_until_ns:  # in a trip's cool-down the exchange already pulled our quotes
            self._paused_until_ns = 0
            wanted = core.desired_quotes(run.now_ns)
            if wanted is not None:
                desired, ctx, extra = wanted
                plan = plan_mass_quote(
                    core.instrument, desired, core.reconciler.risk, ctx, self._staying(extra),
                    self._settings.quote_amount,
                )
                self._stats.denials += len(plan.denials)
                sent = self._stats.mass_quotes_sent
                await self._send_levels(plan.bids, plan.asks)
                if run.ticker is not None and self._stats.mass_quotes_sent > sent:
                    self._stats.tick_to_quote.add(self._clock.now_ns() - run.ticker.ts_local_ns)
        core.after_sends()

    def on_mm_protection(self, update: MmProtectionUpdate) -> None:
        """A ``session.mm_protection`` item. A trip (executions used up the group) or a reset (cancel, session end,
        failover) means the exchange pulled the group's quotes: the group is refilled before the next mass quote,
        after ``trip_cooldown_ns`` for a trip. Other products and refills are ignored."""
        if update.product != self._core.instrument.product or not update.needs_refill:
            return
        self.reset()
        if update.tripped:
            self._stats.mm_protection_trips += 1
            self._paused_until_ns = self._clock.now_ns() + self._settings.trip_cooldown_ns
            log.warning(
                "%s: MM protection of %s tripped (remaining %s); quoting again in %.1f s", self._name,
                update.product, update.remaining_amount, self._settings.trip_cooldown_ns / 1e9,
            )
        self._schedule()

    # -- internals -------------------------------------------------------------------------------------------

    async def _send_locked(self, run: Run) -> None:
        async with self._lock:
            try:
                await self.send(run)
            except Exception:
                log.exception("mass quote run of %s failed", self._name)
                self._on_failure("mass quote run failed")

    def _staying(self, extra: OpenBook) -> OpenBook:
        """``extra`` plus our resting orders that are not mass quotes: they stay when the levels are replaced."""
        book = open_book((o for o in self._core.tracker.open_orders(self._name) if not o.mass_quote), self._name)
        return OpenBook(
            extra.bid_amount + book.bid_amount, extra.ask_amount + book.ask_amount, extra.order_count + book.order_count
        )

    async def _send_levels(self, bids: list[Level], asks: list[Level]) -> None:
        if self._last == (bids, asks):
            return
        settings = self._settings
        try:
            if not self._armed:
                product = self._core.instrument.product
                await self._quoter.set_mm_protection(product, settings.trade_amount, settings.quote_amount)
                self._armed = True
            failed_sides = await self._quoter.mass_quote(self._name, bids, asks, post_only=settings.post_only)
        except Exception as exc:
            self._stats.send_failures += 1
            self.reset()
            log.warning("%s: mass quote failed (%s)", self._name, exc)
            return
        self._stats.mass_quotes_sent += 1
        if failed_sides:
            # not what rests: the next run sends the levels again (a trip's notification re-arms the group)
            self._stats.mass_quote_failed_sides += failed_sides
            self._last = None
            return
        self._last = (bids, asks)
        if self._record:
            self._stats.sent_prices.extend((Side.BUY, p) for p, _ in bids)
            self._stats.sent_prices.extend((Side.SELL, p) for p, _ in asks)
