"""Controller: the named, detached actor that owns a deployment, a thin shell over :class:`DeploymentBook`.

It creates the deployment's singletons (Persistence when sessions are persisted, RateLimiter when live, OptionsVol
when options feed the regime) and one :class:`InstrumentActor` per instrument (named, detached, restarted without
limit: a Controller that restarts finds them again by name), receives their reports, answers ``platform status`` and
the API (status, account totals, event streams), relays commands (pause, resume, kill switch per instrument or for
all, strategy parameters) and stops the deployment: every actor pulls its quotes and cancels every order of ours,
then the actors are removed. A monitor recreates an instrument actor that Ray could not restart (its node gone for
good).

What it keeps for the next instrument actors (the book's :class:`KeptCarry`) is checkpointed in Ray's GCS as it
changes (:class:`CarryCheckpoint`: a command before it is relayed, a report within ``_CHECKPOINT_INTERVAL_S``); a
restarted Controller restores it before it answers anything, so that an actor (re)starting meanwhile is never handed
a blank state (see docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from thalex_modular.deployment.carried_state import CARRIED_TIMEOUT_S, CarriedState
from thalex_modular.deployment.deployment_book import AccountTotals, DeploymentBook, DeploySpec, Feed
from thalex_modular.deployment.event_log import Page
from thalex_modular.deployment.instrument_runtime import thalex_config
from thalex_modular.deployment.ray.carry_checkpoint import CarryCheckpoint
from thalex_modular.deployment.ray.cluster import state_path
from thalex_modular.deployment.ray.instrument_actor import InstrumentActor
from thalex_modular.deployment.ray.names import OPTIONS_VOL, PERSISTENCE, RATE_LIMITER, instrument_actor
from thalex_modular.deployment.ray.options_vol_actor import OptionsVolActor
from thalex_modular.deployment.ray.persistence_actor import PersistenceShell
from thalex_modular.deployment.ray.rate_limiter import RateLimiterService
from thalex_modular.deployment.snapshots import Event, InstrumentSnapshot
from thalex_modular.platform.adapters.exchanges.thalex.config import LeaseConfig

__all__ = ["Controller", "StopReport"]

log = logging.getLogger(__name__)

_MONITOR_INTERVAL_S = 1.0
#: A report's change of the kept figures is checkpointed within this (seconds); a command's, before it is relayed.
_CHECKPOINT_INTERVAL_S = 0.25


class StopReport(dict[str, int]):
    """Per instrument, how many of our orders the exchange still held after the stop's cancels (-1: unknown, its
    actor did not answer in time; cancel-on-disconnect then pulls its session's orders)."""


class Controller:
    """The deployment's controller (see the module docstring).

    Args:
        spec: the deployment.
        namespace: its Ray namespace (where the actors are named).
        name: this actor's own name (instrument actors report to it).
    """

    def __init__(self, spec: DeploySpec, namespace: str, name: str) -> None:
        self.book = DeploymentBook(spec)
        self._namespace = namespace
        self._name = name
        self._actors: dict[str, Any] = {}
        self._options_vol: Any = None
        self._rate_limiter: Any = None
        self._persistence: Any = None
        self._stopping = False
        self._published = asyncio.Event()
        self._checkpoint = CarryCheckpoint(namespace, name)
        self._saving = asyncio.Lock()  # one checkpoint write in flight: a later one never lands before an earlier one
        if ray.get_runtime_context().was_current_actor_reconstructed:
            self._restore()
        else:
            self._checkpoint.start()
        self._saved_version = self.book.carry_version
        loop = asyncio.get_running_loop()
        # at every (re)start: create the instrument actors, or find them again by name after a restart of this one
        self._deployed = loop.create_task(self._deploy(), name="controller-deploy")
        self._monitor = loop.create_task(self._watch(), name="controller-monitor")
        self._checkpointing = loop.create_task(self._checkpoint_loop(), name="controller-checkpoint")

    # -- what the next actors are handed, checkpointed -----------------------------------------------------------

    def _restore(self) -> None:
        """After a restart of this actor, before it answers anything: the book's kept states as the Controller before
        it checkpointed them. A GCS that does not answer fails the restart (Ray restarts it again: answering from an
        empty book would hand out a blank state). An unreadable or missing checkpoint is logged, and ``carried`` hands
        out nothing of an instrument until its state is taken back from its running actor or an operator resumes it."""
        try:
            kept = self._checkpoint.load()
        except ValueError as exc:
            log.error("%s; taking them back from the running actors", exc)
            self.book.lost()
            return
        if kept is None:
            log.error("no checkpoint of the carried states at %s; taking them back from the running actors",
                      self._checkpoint.where)
            self.book.lost()
            return
        self.book.restore(kept)

    async def _save(self) -> None:
        """Checkpoint the book's kept states if they changed since the last checkpoint. A failure is logged: the book
        still holds them, and the checkpoint loop tries again."""
        async with self._saving:
            version = self.book.carry_version
            if version == self._saved_version or self._stopping:  # stopping: the checkpoint goes with the deployment
                return
            try:
                await self._checkpoint.save(self.book.kept())
            except Exception as exc:
                log.warning("the carried states could not be checkpointed at %s (%s); retrying",
                            self._checkpoint.where, exc)
                return
            self._saved_version = version

    async def _checkpoint_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(_CHECKPOINT_INTERVAL_S)
            await self._save()

    # -- deployment -------------------------------------------------------------------------------------------

    async def _deploy(self) -> None:
        spec = self.book.spec
        first = spec.run_config(spec.instruments[0])
        if self._persistence is None and spec.persistence:
            # its spill directory is on this node's disk: keep it here (soft: elsewhere if this node is gone for good)
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
            spill = spec.spill_dir or str(state_path().parent / "persistence-spill")
            self._persistence = self._singleton(PERSISTENCE, PersistenceShell, spec.db, spill,
                                                scheduling_strategy=here)
            await self._persistence.start.remote()  # a store that refuses us fails the deploy here
        if self._options_vol is None and first.options_vol.enabled:
            self._options_vol = self._singleton(OPTIONS_VOL, OptionsVolActor, first)
        if self._rate_limiter is None and spec.mode == "live":  # one account: its limits are shared
            self._rate_limiter = self._singleton(RATE_LIMITER, RateLimiterService, thalex_config(first).rate_limits,
                                                 LeaseConfig())
        for instrument in spec.instruments:
            self._actors[instrument] = self._actor(instrument)
        await self._take_back_carried()
        await self._save()

    async def _take_back_carried(self) -> None:
        """After a restart of this actor without its checkpoint, the book is empty: the actors that kept running hold
        the operator's pauses, kill switches and strategies, the limits used and the PnL so far; take them back so that
        an actor restarted later is handed them too (what the checkpoint restored stays: it has every command)."""
        names = list(self._actors)
        answers = await asyncio.gather(
            *(asyncio.wait_for(self._actors[n].carried.remote(), CARRIED_TIMEOUT_S) for n in names),
            return_exceptions=True,
        )
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, CarriedState):
                self.book.take_back(name, answer)
            elif answer is None:  # it started without one and is asking us for it
                log.warning("%s: its actor has no carried state to give back (it never got one)%s", name,
                            ": held until an operator resumes it" if self.book.is_lost(name) else "")
            else:  # a new actor still starting answers when it is up; one that cannot keeps what it was given
                log.warning("%s: its carried state could not be read back (%s)", name, answer)

    def _singleton(self, name: str, cls: type, *args: Any, **options: Any) -> Any:
        """The deployment's named singleton ``name`` (found again after a restart of this actor, else created)."""
        try:
            return ray.get_actor(name, namespace=self._namespace)
        except ValueError:
            return ray.remote(cls).options(  # type: ignore[attr-defined]
                name=name, namespace=self._namespace, lifetime="detached", max_restarts=-1, num_cpus=0, **options,
            ).remote(*args)

    async def deploy(self) -> list[str]:
        """Wait until every instrument's actor exists; returns their names."""
        await self._deployed
        return [instrument_actor(i) for i in self.book.spec.instruments]

    def _actor(self, instrument: str) -> Any:
        name = instrument_actor(instrument)
        try:
            return ray.get_actor(name, namespace=self._namespace)
        except ValueError:
            pass
        spec = self.book.spec
        actor_class = ray.remote(InstrumentActor)
        return actor_class.options(  # type: ignore[attr-defined]
            name=name, namespace=self._namespace, lifetime="detached", max_restarts=-1, max_task_retries=0,
            num_cpus=0, resources=spec.placement.get(instrument, {}), max_concurrency=64,
            scheduling_strategy="SPREAD",
        ).remote(spec.run_config(instrument), self._name, self._namespace,
                 OPTIONS_VOL if self._options_vol is not None else None,
                 RATE_LIMITER if self._rate_limiter is not None else None,
                 PERSISTENCE if self._persistence is not None else None, spec.record_market_data)

    async def _watch(self) -> None:
        """Recreate an instrument actor that is gone for good (Ray could not restart it)."""
        while not self._stopping:
            await asyncio.sleep(_MONITOR_INTERVAL_S)
            for instrument, actor in list(self._actors.items()):
                try:
                    await asyncio.wait_for(actor.ping.remote(), 5.0)
                except ActorUnavailableError:
                    continue  # restarting (Ray restarts it): it reports again once it is up
                except ActorDiedError as exc:
                    if self._stopping:
                        return
                    log.warning("%s: its actor is gone (%s); creating it again", instrument, exc)
                    try:
                        ray.kill(actor, no_restart=True)
                    except Exception:
                        log.debug("%s: the dead actor could not be killed", instrument, exc_info=True)
                    self._actors[instrument] = self._actor(instrument)
                except TimeoutError:
                    log.warning("%s: its actor did not answer a ping in 5 s (busy or restarting)", instrument)

    # -- reports and reads ------------------------------------------------------------------------------------

    async def publish(self, snapshot: InstrumentSnapshot, events: list[Event]) -> None:
        armed = self.book.carried(snapshot.instrument).kill_reason
        self.book.publish(snapshot, events, time.time_ns())
        if self.book.carried(snapshot.instrument).kill_reason != armed:  # a limit tripped it: checkpointed at once
            await self._save()
        # wake the API's long polls; the next ones wait on a fresh event
        published, self._published = self._published, asyncio.Event()
        published.set()

    async def status(self) -> list[InstrumentSnapshot]:
        return self.book.status(time.time_ns())

    async def account(self) -> AccountTotals:
        return self.book.account(time.time_ns())

    async def spec(self) -> DeploySpec:
        return self.book.spec

    async def restarts(self) -> dict[str, int]:
        return dict(self.book.restarts)

    async def events_since(self, stream: str, after_id: int = 0, instrument: str | None = None,
                           limit: int = 1_000) -> Page:
        return self.book.events_since(stream, after_id, instrument, limit)

    async def feed(self, after: dict[str, int], timeout_s: float = 1.0, limit: int = 1_000) -> Feed:
        """What the API replicas follow, as a long poll: once a stream has events after its id in ``after`` (or
        ``timeout_s`` passed), every stream's page after those ids with the status and the account totals.
        One call per report, whatever the number of API clients."""
        if not self.book.has_events_after(after):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._published.wait(), timeout_s)
        now_ns = time.time_ns()
        pages = {stream: self.book.events_since(stream, after_id, None, limit) for stream, after_id in after.items()}
        return Feed(self.book.status(now_ns), self.book.account(now_ns), pages, now_ns)

    async def strategy(self, instrument: str) -> dict[str, Any]:
        """The strategy parameters in force for ``instrument`` (the spec's, or the last update)."""
        self._targets(instrument)
        return self.book.strategy(instrument)

    # -- commands -----------------------------------------------------------------------------------------------

    def _targets(self, instrument: str | None) -> dict[str, Any]:
        if instrument is None:
            return dict(self._actors)
        if instrument not in self._actors:
            raise KeyError(
                f"{instrument!r} is not deployed; the instruments are {', '.join(self.book.spec.instruments)}"
            )
        return {instrument: self._actors[instrument]}

    # Commands are kept in the book first: an actor that restarts holds them (see carried_state.py).

    async def pause(self, instrument: str | None = None, reason: str = "operator") -> None:
        targets = self._targets(instrument)
        self.book.pause(targets, reason)
        await self._save()
        await asyncio.gather(*(a.pause.remote(reason) for a in targets.values()))

    async def resume(self, instrument: str | None = None) -> None:
        targets = self._targets(instrument)
        self.book.resume(targets, time.time_ns())
        await self._save()
        await asyncio.gather(*(a.resume.remote() for a in targets.values()))

    async def kill(self, instrument: str | None = None, reason: str = "operator") -> None:
        """Engage the kill switch: quotes pulled, every order of ours cancelled, paused until resumed."""
        targets = self._targets(instrument)
        self.book.kill(targets, reason)
        await self._save()
        await asyncio.gather(*(a.kill.remote(reason) for a in targets.values()))

    async def carried(self, instrument: str, started_ns: int | None = None) -> CarriedState:
        """What ``instrument``'s actor whose session started at ``started_ns`` is handed when it (re)starts (see
        carried_state.py); without ``started_ns``, what is kept (a reader).

        Raises:
            LookupError: this Controller restarted without its checkpoint and does not know the instrument's state (the
                actor stays held and asks again).
        """
        if started_ns is None:
            return self.book.carried(instrument)
        handed = self.book.hand_over(instrument, started_ns)
        await self._save()
        return handed

    async def update_strategy(self, instrument: str, settings: dict[str, Any]) -> None:
        """Quote ``instrument`` with ``settings`` (every field of the strategy) from its next tick on.

        Raises:
            pydantic.ValidationError: a bad field (raised by the actor: the same model as the config file's).
        """
        await self._targets(instrument)[instrument].update_strategy.remote(settings)
        self.book.set_strategy(instrument, settings)
        await self._save()

    async def stop(self, timeout_s: float = 20.0) -> StopReport:
        """Stop every instrument (kill switch, cancels, connections closed) within ``timeout_s``, then remove the
        actors. Returns what the exchange still held per instrument."""
        self._stopping = True
        self._monitor.cancel()
        self._checkpointing.cancel()
        report = StopReport()
        names = list(self._actors)
        results = await asyncio.gather(
            *(asyncio.wait_for(self._actors[n].stop.remote(), timeout_s) for n in names), return_exceptions=True
        )
        for name, result in zip(names, results, strict=True):
            report[name] = result if isinstance(result, int) else -1
            if not isinstance(result, int):
                log.warning("%s: stop did not complete: %s", name, result)
            ray.kill(self._actors[name], no_restart=True)
        self._actors.clear()
        if self._options_vol is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._options_vol.stop.remote(), 10.0)
            ray.kill(self._options_vol, no_restart=True)
            self._options_vol = None
        if self._rate_limiter is not None:
            ray.kill(self._rate_limiter, no_restart=True)
            self._rate_limiter = None
        if self._persistence is not None:  # after the instruments: their journals are shipped by now
            try:
                await asyncio.wait_for(self._persistence.close.remote(), timeout_s)
            except Exception as exc:  # what it could not store stays in its spill, replayed by the next one
                log.warning("persistence did not close cleanly: %s", exc)
            ray.kill(self._persistence, no_restart=True)
            self._persistence = None
        try:
            async with self._saving:
                await self._checkpoint.delete()
        except Exception as exc:  # a later deployment under the same names starts from nothing all the same
            log.warning("the checkpoint at %s could not be deleted (%s)", self._checkpoint.where, exc)
        return report
