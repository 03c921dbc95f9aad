"""ResyncRunner on SimGateway (no network): one resync at a time, under the run lock, retried until one succeeds;
snapshots only after the start; nothing after stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from stubs import perpetual
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.adapters.sim_gateway import SimGateway
from thalex_modular.platform.domain.entities import OrderUpdate, PortfolioEntry
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.domain.sim_match_engine import SimMatchEngine
from thalex_modular.platform.use_cases.quoting_service_config import QuotingServiceConfig, ServiceStats
from thalex_modular.platform.use_cases.resync_runner import ResyncRunner
from thalex_modular.platform.use_cases.sim_session import build_core

MS = 1_000_000
NAME = "BTC-PERPETUAL"


class FailingSimGateway(SimGateway):
    """The simulated exchange whose first ``failures`` open-orders fetches fail (a dead connection)."""

    def __init__(self, engine: SimMatchEngine, clock: LiveClock, failures: int) -> None:
        super().__init__(engine, clock)
        self.failures = failures

    async def open_orders(self) -> Sequence[OrderUpdate]:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("not connected")
        return await super().open_orders()


class Rig:
    def __init__(self, failures: int = 0) -> None:
        clock = LiveClock()
        inst = perpetual()
        self.gateway = FailingSimGateway(SimMatchEngine(inst, clock, SimMatchConfig()), clock, failures)
        self.core = build_core(inst)
        self.stats = ServiceStats()
        self.lock = asyncio.Lock()
        self.forgotten = 0
        self.resynced: list[int] = []
        self.scheduled = 0
        config = QuotingServiceConfig(resync_retry_ns=5 * MS, resync_settle_ns=MS)
        self.runner = ResyncRunner(
            self.core, self.gateway, clock, config, self.stats, self.lock,
            forget_sent=self._forget, on_resynced=self.resynced.append, schedule=self._schedule,
        )

    def _forget(self) -> None:
        self.forgotten += 1

    def _schedule(self) -> None:
        self.scheduled += 1


async def test_requests_while_one_is_due_join_it_and_it_runs_under_the_lock() -> None:
    # Arrange
    rig = Rig()
    await rig.runner.start(None)
    await rig.lock.acquire()  # a run in progress
    # Act
    rig.runner.request("first")
    rig.runner.request("second")
    await asyncio.sleep(0.02)
    held = (rig.runner.resyncing, rig.stats.resyncs)
    rig.lock.release()
    await rig.runner.request_and_wait("third")
    # Assert
    assert held == (True, 1)  # quoting stopped at once, nothing rebuilt while the run held the lock
    assert rig.stats.resyncs == 2  # the start's, then one for the three requests
    assert not rig.runner.resyncing
    assert len(rig.resynced) == 2 and rig.scheduled == 1


async def test_a_failed_resync_keeps_quoting_stopped_and_is_retried_until_it_succeeds() -> None:
    # Arrange
    rig = Rig(failures=3)
    # Act
    await rig.runner.request_and_wait("desync")
    # Assert
    assert rig.gateway.failures == 0
    assert rig.stats.resyncs == 1 and not rig.runner.resyncing and rig.scheduled == 1


async def test_a_snapshot_is_ignored_before_the_start_and_after_a_reconnect_forgets_what_was_sent() -> None:
    # Arrange
    rig = Rig()
    snapshot: tuple[list[OrderUpdate], list[PortfolioEntry]] = ([], [PortfolioEntry(NAME, 0.0)])
    rig.runner.on_exchange_snapshot(*snapshot, reconnected=True)
    ignored = (rig.runner.resyncing, rig.forgotten)
    await rig.runner.start(None)
    # Act
    rig.runner.on_exchange_snapshot(*snapshot, reconnected=True)
    applying = rig.runner.resyncing
    await asyncio.sleep(0.02)
    # Assert
    assert ignored == (False, 0)
    assert applying and not rig.runner.resyncing
    assert rig.forgotten == 1 and rig.stats.resyncs == 2 and rig.scheduled == 1


async def test_a_lost_connection_stops_quoting_until_the_reconnects_snapshot() -> None:
    rig = Rig()
    await rig.runner.start(None)
    rig.runner.on_connection_lost("socket closed")
    assert rig.runner.resyncing and rig.forgotten == 1
    rig.runner.on_exchange_snapshot([], [], reconnected=True)
    await asyncio.sleep(0.02)
    assert not rig.runner.resyncing and rig.stats.resyncs == 2


async def test_after_stop_nothing_starts_and_the_running_retry_loop_is_handed_over() -> None:
    # Arrange
    rig = Rig(failures=1_000)
    rig.runner.request("desync")
    # Act
    running = rig.runner.stop()
    rig.runner.request("after stop")
    rig.runner.on_connection_lost("after stop")
    # Assert
    assert running is not None and not running.done()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert rig.forgotten == 0 and rig.stats.resyncs == 0
