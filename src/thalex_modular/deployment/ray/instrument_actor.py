"""InstrumentActor: the Ray actor quoting one instrument, a thin shell over :class:`InstrumentHost`.

An async actor, created named and detached by the Controller with unlimited restarts. Its constructor runs at every
start and restart (Ray re-runs it; nothing of the old process survives): it reads the live credentials from its own
node's environment (no secret travels in its arguments), takes its session's order tokens as leases from the
deployment's one RateLimiter (live: every instrument of the account shares Thalex's limits), ships its orders, fills,
position and equity to the deployment's Persistence actor (a JournalShipper: list appends on the tick path, paced
batches in the background), builds the host and starts it in the background: the tick
path is compiled (or loaded from the kernel cache) before the connection opens, and open orders and positions are
resynced from the exchange before the first quote. A publish loop then pushes the host's snapshot and events to the
Controller every ``publish_interval_s``, paced (one report in flight), and updates the metrics; nobody calls into the
actor to read its state. When options feed the regime, the same loop pulls the underlying's vol snapshot from the
deployment's one OptionsVolActor (N instruments share one chain subscription). Commands (pause, resume, kill switch,
strategy parameters, stop) are methods.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import msgspec
import ray

from thalex_modular.deployment.carried_state import CARRIED_TIMEOUT_S, CarriedState
from thalex_modular.deployment.config import RunConfig, StrategySettings, credentials_from_environment
from thalex_modular.deployment.instrument_host import InstrumentHost
from thalex_modular.deployment.instrument_runtime import load_credentials, thalex_config
from thalex_modular.deployment.journal_shipper import JournalShipper
from thalex_modular.deployment.placement import INSTRUMENT_NICENESS, PlacementError, pin_process, renice_process
from thalex_modular.deployment.ray.metrics import InstrumentMetrics
from thalex_modular.deployment.ray.persistence_actor import persistence_sender
from thalex_modular.deployment.ray.rate_limiter import leased_tokens
from thalex_modular.deployment.snapshots import InstrumentSnapshot
from thalex_modular.platform.adapters.exchanges.thalex.config import LeaseConfig
from thalex_modular.platform.adapters.exchanges.thalex.leased_tokens import LeasedTokens
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import RequestKind

__all__ = ["InstrumentActor"]

log = logging.getLogger(__name__)

#: How long a stop may take inside the actor (the Controller waits longer): cancel-on-disconnect covers the rest.
_STOP_TIMEOUT_S = 15.0
#: How soon an actor without its carried state asks again after a failed ask (a timed-out one asks again at once).
_CARRIED_RETRY_S = 1.0
#: Position and equity snapshots go to persistence this often (seconds).
_SNAPSHOT_EVERY_S = 1.0


class InstrumentActor:
    """One instrument of a deployment (see the module docstring).

    Args:
        config: the instrument's run config, without credentials.
        controller: the Controller actor's name (in ``namespace``), where reports go.
        namespace: the deployment's Ray namespace.
        options_vol: the OptionsVolActor's name, None when options do not feed the regime.
        rate_limiter: the RateLimiter actor's name (live), None for the session's own buckets.
        persistence: the Persistence actor's name, None when the session is not persisted.
        record_market_data: persist the tickers and public trades the session sees too.
        publish_interval_s: how often the actor reports.
    """

    def __init__(self, config: RunConfig, controller: str, namespace: str, options_vol: str | None = None,
                 rate_limiter: str | None = None, persistence: str | None = None, record_market_data: bool = False,
                 publish_interval_s: float = 0.25) -> None:
        context = ray.get_runtime_context()
        self._options_vol = options_vol if config.options_vol.enabled else None
        if self._options_vol is not None:  # the singleton follows the chain: this runtime starts no feed of its own
            config = config.model_copy(update={"options_vol": config.options_vol.model_copy(update={"enabled": False})})
        self._vol_every_s = config.options_vol.publish_interval_s
        self._config = config
        self._controller = controller
        self._namespace = namespace
        self._interval_s = publish_interval_s
        self._metrics = InstrumentMetrics(config.instrument)
        self._latency_count = 0
        credentials = None
        error = None
        refused = renice_process(INSTRUMENT_NICENESS)  # ahead of backtests, sweeps and the API on a shared node
        if refused is not None:
            log.warning("%s: %s", config.instrument, refused)
        try:  # before the session's threads start: they inherit the set
            pin_process(config.placement.instrument_cpus, "placement.instrument_cpus")
        except PlacementError as exc:  # reported as the instrument's error: it does not quote off its cores
            error = f"{exc} (node {context.get_node_id()[:12]})"
        if error is None and config.mode.value == "live":
            try:
                credentials = load_credentials(credentials_from_environment(os.environ))
            except Exception as exc:  # reported as the instrument's error: it cannot quote on this node
                error = f"no usable live credentials on node {context.get_node_id()[:12]}: {exc}"
        self._tokens: LeasedTokens | None = None
        if credentials is not None and rate_limiter is not None:
            self._tokens = leased_tokens(ray.get_actor(rate_limiter, namespace=namespace), config.instrument,
                                         thalex_config(config).rate_limits, LeaseConfig())
        self._journal: JournalShipper | None = None
        if persistence is not None:
            self._journal = JournalShipper(config.instrument, config.mode.value,
                                           persistence_sender(persistence, namespace),
                                           record_market_data=record_market_data)
            self._journal.start()
        self._snapshot_ns = 0
        self.host = InstrumentHost(
            config, tokens=self._tokens, journal=self._journal, credentials=credentials,
            market=self._journal if record_market_data else None,
            incarnation=2 if context.was_current_actor_reconstructed else 1, node_id=context.get_node_id(),
        )
        if error is not None:
            self.host.fail(error)
        self._late: asyncio.Task[None] | None = None
        self._task = asyncio.get_running_loop().create_task(self._run(error is None), name="instrument-actor")

    async def _run(self, start: bool) -> None:
        controller = ray.get_actor(self._controller, namespace=self._namespace)
        if start:
            if not await self._adopt_carried(controller):
                self.host.await_carried()
                self._late = asyncio.get_running_loop().create_task(self._adopt_carried_late(controller),
                                                                    name="carried-late")
            await self.host.start()
        if self._options_vol is not None and self.host.runtime is not None:
            asyncio.get_running_loop().create_task(
                self._follow_vol(self._options_vol, self.host.runtime.instrument.underlying), name="options-vol"
            )
        pending: ray.ObjectRef[Any] | None = None
        while True:
            if pending is not None:
                ready, _ = ray.wait([pending], timeout=0)
                if not ready:  # the Controller is behind: skip this report (pace), the next one carries all
                    await asyncio.sleep(self._interval_s)
                    continue
            try:
                snapshot = self.host.snapshot()
                events = self.host.collect_events()
                pending = controller.publish.remote(snapshot, events)
                self._journal_snapshot(snapshot)
                self._update_metrics(snapshot)
            except Exception:
                log.exception("%s: report failed", self._config.instrument)
            await asyncio.sleep(self._interval_s)

    async def _adopt_carried(self, controller: Any, level: int = logging.ERROR) -> bool:
        """Ask the Controller what it kept of the instrument (this actor may be a restart; see carried_state.py) and
        adopt it; False when it did not answer within ``CARRIED_TIMEOUT_S``."""
        name = self._config.instrument
        try:
            carried = await asyncio.wait_for(controller.carried.remote(name, self.host.started_ns),
                                             CARRIED_TIMEOUT_S)
        except Exception as exc:
            log.log(level, "%s: the controller did not give the carried state (%s): held until it does", name, exc)
            return False
        try:
            self.host.adopt(carried)
        except Exception as exc:  # a strategy the config model refuses now: keep the config's, hold for an operator
            log.error("%s: the kept strategy is refused (%s): held until an operator resumes", name, exc)
            self.host.adopt(msgspec.structs.replace(carried, strategy=None))
            self.host.pause(f"the strategy set before the restart is refused: {exc}")
        return True

    async def _adopt_carried_late(self, controller: Any) -> None:
        """Started held without the carried state (quoting against an operator's pause is the worse error): ask
        until the Controller answers, then adopt it (the host joins it to what this session did since)."""
        while not await self._adopt_carried(controller, logging.DEBUG):
            await asyncio.sleep(_CARRIED_RETRY_S)

    async def _follow_vol(self, name: str, underlying: str) -> None:
        """Pull the underlying's vol snapshot from the OptionsVolActor ``name`` into the regime analyzer,
        periodically."""
        options_vol = ray.get_actor(name, namespace=self._namespace)
        if not await options_vol.follow.remote(underlying):
            log.info("%s: no options of %s followed: the regime runs without implied vol", self._config.instrument,
                     underlying)
            return
        while True:
            try:
                snap = await asyncio.wait_for(options_vol.snapshot.remote(underlying), 5.0)
                if snap is not None:
                    self.host.set_implied_vol(snap)
            except Exception as exc:  # the next pull may succeed; the regime keeps the last IV until it is stale
                log.warning("%s: vol snapshot of %s failed (%s)", self._config.instrument, underlying, exc)
            await asyncio.sleep(self._vol_every_s)

    def _journal_snapshot(self, snapshot: InstrumentSnapshot) -> None:
        """Position and equity (the session's PnL) to persistence, every ``_SNAPSHOT_EVERY_S``."""
        runtime = self.host.runtime
        if self._journal is None or runtime is None or snapshot.mark_price is None:
            return
        if snapshot.ts_ns - self._snapshot_ns < _SNAPSHOT_EVERY_S * 1e9:
            return
        self._snapshot_ns = snapshot.ts_ns
        position = runtime.service.core.tracker.position(self._config.instrument)
        self._journal.position(position, snapshot.ts_ns, snapshot.mark_price)
        self._journal.equity(snapshot.ts_ns, snapshot.realised_pnl_usd + snapshot.unrealised_pnl_usd,
                             snapshot.realised_pnl_usd, snapshot.unrealised_pnl_usd)

    def _update_metrics(self, snapshot: InstrumentSnapshot) -> None:
        runtime = self.host.runtime
        latencies: list[float] = []
        if runtime is not None:
            ring = runtime.service.stats.tick_to_quote
            latencies = ring.since_ms(self._latency_count)
            self._latency_count = ring.count
        tokens = self._tokens
        lease_waits = 0 if tokens is None else sum(tokens.stats(kind).dry for kind in RequestKind)
        lag_s = None if self._journal is None else self._journal.lag_ns() / 1e9
        self._metrics.update(snapshot, latencies, lease_waits=lease_waits, persistence_lag_s=lag_s)

    # -- commands --------------------------------------------------------------------------------------------

    async def snapshot(self) -> InstrumentSnapshot:
        """The instrument's state now (tests and debugging; readers use the Controller)."""
        return self.host.snapshot()

    async def pause(self, reason: str = "operator") -> None:
        self.host.pause(reason)

    async def resume(self) -> None:
        self.host.resume()

    async def kill(self, reason: str = "operator") -> None:
        self.host.kill(reason)

    async def carried(self) -> CarriedState | None:
        """What this actor would hand to a successor (a restarted Controller takes it back); None while it has not
        adopted its own (its figures are its session's alone)."""
        return self.host.current_carried() if self.host.adopted else None

    async def update_strategy(self, settings: dict[str, Any]) -> None:
        """New strategy parameters from the next tick on.

        Raises:
            pydantic.ValidationError: a bad field (the same model as the config file's).
        """
        self.host.update_strategy(StrategySettings.model_validate(settings))

    async def stop(self) -> int:
        """Kill switch, every order of ours cancelled, connection closed; the number of our orders the exchange
        still held after the cancels (0: clean; -1: not known in time, cancel-on-disconnect pulls the session's
        orders when the actor goes)."""
        try:
            remaining = await asyncio.wait_for(self.host.stop(), _STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("%s: stop took over %.0f s", self._config.instrument, _STOP_TIMEOUT_S)
            remaining = -1
        self._task.cancel()
        if self._late is not None:
            self._late.cancel()
        if self._journal is not None:  # what the session did, shipped before the actor goes
            shipped = await self._journal.close(timeout_s=5.0)
            if shipped.unshipped:
                log.warning("%s: %d session records could not be shipped to persistence", self._config.instrument,
                            shipped.unshipped)
        if self._tokens is not None:  # hand the lease back for the account's other instruments
            try:
                await asyncio.wait_for(self._tokens.aclose(), 5.0)
            except TimeoutError:
                log.warning("%s: the rate limiter did not take the lease back (it expires there)",
                            self._config.instrument)
        return remaining

    async def ping(self) -> str:
        return self._config.instrument

    async def counters(self, since: tuple[int, int] = (0, 0)) -> dict[str, Any]:
        """For benchmarks: tickers, coalesced tickers and runs so far, the tick-to-quote and feed-lag latencies (ms)
        added after the counts in ``since``, and this process's resident memory (MB)."""
        runtime = self.host.runtime
        if runtime is None:
            return {}
        stats = runtime.service.stats
        return {
            "tickers": stats.tickers, "coalesced": stats.coalesced, "runs": stats.runs,
            "tick_to_quote_ms": stats.tick_to_quote.since_ms(since[0]),
            "tick_to_quote_count": stats.tick_to_quote.count,
            "feed_lag_ms": stats.feed_lag.since_ms(since[1]),
            "feed_lag_count": stats.feed_lag.count,
            "rss_mb": _rss_mb(),
        }


def _rss_mb() -> float:
    """This process's resident set size, MB (Linux: /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")
