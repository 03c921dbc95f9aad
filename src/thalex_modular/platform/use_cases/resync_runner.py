"""ResyncRunner: when one instrument's resyncs run, one at a time, retried until one succeeds.

The procedure itself (fetch the exchange's orders and portfolio, the settle rule) is :class:`~.resync.Resync`; this
is its orchestration for the :class:`~.quoting_service.QuotingService`, which holds one (``service.resyncs``):

* A resync stops quoting at once (:attr:`ResyncRunner.resyncing`, which the service reads before each run) and runs
  under the service's run lock, so no plan is ever built on half-rebuilt state; quoting resumes when it is done.
* At most one runs: a request while one is due or running joins it. A failed resync keeps quoting stopped and is
  retried every ``resync_retry_ns``.
* Triggers: a ResyncRequest from the tracker (an answer contradicting our state, a fill reported but never received:
  :meth:`ResyncRunner.check`), an amend or cancel of an order the exchange no longer has, a position the exchange's
  portfolio feed contradicts (PositionWatch: :meth:`ResyncRunner.watch_position`), a lost connection (nothing is sent
  until the reconnect's snapshot is applied: :meth:`ResyncRunner.on_connection_lost`,
  :meth:`ResyncRunner.on_exchange_snapshot`).
* After each resync ``on_resynced`` is told (the kill switch counts resyncs); after a requested one or a snapshot,
  ``schedule`` asks the service for a run.

Times are int ns from the injected Clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.entities import OrderUpdate, PortfolioEntry
from thalex_modular.platform.domain.tracking.position_watch import PositionWatch
from thalex_modular.platform.use_cases.ports import OrderGateway
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.quoting_service_config import QuotingServiceConfig, ServiceStats
from thalex_modular.platform.use_cases.resync import ExchangeState, Resync

__all__ = ["ResyncRunner"]

log = logging.getLogger(__name__)


class ResyncRunner:
    """The resyncs of one instrument.

    =================================  ========================================================================
    ``resyncing``                      a resync is due or running: nothing may be quoted (read-only for others)
    ``start(state)``                   the first resync, at once (raises what the gateway raises)
    ``request(reason)``                resync soon (joins the one due or running)
    ``request_and_wait(reason)``       request one and wait until it is done
    ``on_connection_lost(reason)``     stop quoting until the reconnect's snapshot is applied
    ``on_exchange_snapshot(…)``        apply the snapshot a (re)connect fetched, replacing a retry loop
    ``check(now_ns)``                  the guard's periodic look: overdue fills, the exchange's position
    ``watch_position(now_ns)``         the exchange's portfolio feed moved: compare its position with ours
    ``stop()``                         no resync starts from now on; returns the one running, to cancel
    =================================  ========================================================================

    Args:
        core: the instrument's QuotingCore (its tracker is rebuilt; its exposure holds the exchange's position).
        gateway: where the snapshot comes from.
        clock: the time source.
        config: the retry and settle timings, the position watch's hold time.
        stats: the service's counters (``fills``, ``resyncs``, ``position_mismatches``).
        lock: the service's run lock, held by each resync.
        forget_sent: the connection is gone: forget what the send mode sent on it.
        on_resynced: a resync ran (its end time, int ns).
        schedule: a run is due (the state was rebuilt).
    """

    __slots__ = ("_clock", "_config", "_core", "_forget_sent", "_lock", "_name", "_on_resynced", "_position_watch",
                 "_resync", "_schedule", "_started", "_stats", "_stopping", "_task", "resyncing")

    def __init__(
        self,
        core: QuotingCore,
        gateway: OrderGateway,
        clock: Clock,
        config: QuotingServiceConfig,
        stats: ServiceStats,
        lock: asyncio.Lock,
        *,
        forget_sent: Callable[[], None],
        on_resynced: Callable[[int], None],
        schedule: Callable[[], None],
    ) -> None:
        self._core = core
        self._clock = clock
        self._config = config
        self._stats = stats
        self._lock = lock
        self._forget_sent = forget_sent
        self._on_resynced = on_resynced
        self._schedule = schedule
        self._name = core.instrument.instrument_name
        self._resync = Resync(core, gateway, clock, config, stats)
        self._position_watch = PositionWatch(0.5 * core.instrument.volume_tick_size, config.position_hold_ns)
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False
        self.resyncing = False

    async def start(self, state: ExchangeState | None) -> None:
        """The first resync, at once (``state``: the exchange's state the gateway fetched at connect, None: fetch
        it); no fill can be in flight yet, so the portfolio is adopted as it is. Snapshots of later (re)connects are
        applied from then on.

        Raises:
            Exception: whatever the gateway raises fetching the snapshot (quoting stays stopped then).
        """
        await self._run_once("start", False, state, settle=False)
        self._started = True

    def request(self, reason: str, connection_lost: bool = False) -> None:
        """Stop quoting and rebuild state from the exchange (idempotent while one is due or running)."""
        if self._stopping:
            return
        self.resyncing = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._retry_until_done(reason, connection_lost), name=f"resync-{self._name}"
            )

    async def request_and_wait(self, reason: str, connection_lost: bool = False) -> None:
        """Request a resync (:meth:`request`) and wait until it is done (a request while one runs joins it)."""
        self.request(reason, connection_lost)
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    def on_connection_lost(self, reason: str) -> None:
        """Nothing may be sent until the reconnect's snapshot is applied; what was sent on the old session is gone."""
        if self._stopping:
            return
        self.resyncing = True
        self._forget_sent()
        log.warning("%s: connection lost (%s); quoting stopped until the reconnect's resync", self._name, reason)

    def on_exchange_snapshot(
        self, orders: Sequence[OrderUpdate], portfolio: Sequence[PortfolioEntry], reconnected: bool
    ) -> None:
        """The gateway fetched the exchange's state on a (re)connect (ThalexGateway ``on_resync``): stop quoting at
        once and rebuild from it under the lock. Ignored before :meth:`start` (start takes its own)."""
        if not self._started or self._stopping:
            return
        if reconnected:
            self._forget_sent()
        self.resyncing = True
        previous = self._task
        if previous is not None and not previous.done():
            previous.cancel()  # a retry loop on the dead connection: this snapshot replaces it
        self._task = asyncio.get_running_loop().create_task(
            self._apply_snapshot((orders, portfolio), reconnected), name=f"snapshot-{self._name}"
        )

    def check(self, now: int) -> None:
        """The guard's periodic look: fills the exchange reported but never sent, the exchange's position."""
        for resync in self._core.tracker.overdue_resyncs(now):
            self.request(resync.reason)
        self.watch_position(now)

    def watch_position(self, now: int) -> None:
        """Resync when the exchange's position contradicted ours long enough with no fill of ours (PositionWatch)."""
        exposure = self._core.exposure
        if exposure is None or self.resyncing:
            return
        ours = self._core.tracker.position_amount(self._name)
        reason = self._position_watch.check(exposure.exchange_position(self._name), ours, self._stats.fills, now)
        if reason is not None:
            self._stats.position_mismatches += 1
            self.request(reason)

    def stop(self) -> asyncio.Task[None] | None:
        """No resync starts from now on; returns the last one started (the caller cancels it), None: none was."""
        self._stopping = True
        self._started = False
        return self._task

    async def _run_once(
        self, reason: str, connection_lost: bool, state: ExchangeState | None = None, *, settle: bool = True
    ) -> None:
        self.resyncing = True
        async with self._lock:
            await self._resync.run(reason, connection_lost, state, settle=settle)
            self.resyncing = False
        self._on_resynced(self._clock.now_ns())

    async def _apply_snapshot(self, state: ExchangeState, reconnected: bool) -> None:
        await self._run_once("exchange snapshot", reconnected, state)
        self._schedule()

    async def _retry_until_done(self, reason: str, connection_lost: bool) -> None:
        while not self._stopping:
            try:
                await self._run_once(reason, connection_lost)
            except Exception as exc:
                log.warning("%s: resync failed (%s); retrying", self._name, exc)
                await asyncio.sleep(self._config.resync_retry_ns / 1e9)
                continue
            self._schedule()
            return
