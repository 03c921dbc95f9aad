"""DeploymentBook: what the Controller knows of a deployment: its spec, each instrument's last snapshot, the event
streams, restarts, and the account's totals. Plain code (the Controller actor is a thin shell over it).

A :class:`DeploySpec` is the whole deployment: mode, network, the instruments, the run config every instrument starts
from (without credentials: an actor reads them on its own node) and where sessions are persisted. It is stored as the
run config's JSON, so it travels to actors and survives a Controller restart as plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from thalex_modular.deployment.carried_state import CarriedState
from thalex_modular.deployment.config import RunConfig
from thalex_modular.deployment.event_log import EventLog, Page
from thalex_modular.deployment.kept_carry import KeptCarry
from thalex_modular.deployment.snapshots import Event, InstrumentSnapshot, InstrumentState

__all__ = ["AccountTotals", "DeploySpec", "DeploymentBook", "Feed"]

_NOTHING_CARRIED = CarriedState()

#: a snapshot older than this (ns) means the actor stopped reporting
STALE_NS = 5_000_000_000


class DeploySpec(msgspec.Struct, frozen=True, kw_only=True):
    """One deployment.

    Args:
        instruments: the instruments quoted, one actor each.
        config: the run config every instrument starts from (``RunConfig.model_dump(mode="json")`` without
            credentials or the API token); ``instrument`` is set per actor.
        db: where sessions are persisted (a PostgreSQL DSN, an embedded store path, None: the embedded default).
        persistence: ship our orders, trades and equity to the persistence actor.
        record_market_data: the sessions also persist the tickers and public trades they see (needs persistence).
        spill_dir: the persistence actor's spill directory (on the Controller's node); None: ``persistence-spill``
            next to the deployment's state.
        placement: per instrument, the Ray resources its actor asks for (e.g. ``{"node2": 1}``); empty: anywhere.
    """

    instruments: tuple[str, ...]
    config: dict[str, Any]
    db: str | None = None
    persistence: bool = True
    record_market_data: bool = False
    spill_dir: str | None = None
    placement: dict[str, dict[str, float]] = {}

    @classmethod
    def of(cls, config: RunConfig, instruments: Sequence[str], **kwargs: Any) -> DeploySpec:
        """The spec of ``instruments`` quoted with ``config`` (credentials dropped).

        Raises:
            ValueError: no instrument, or one named twice.
        """
        names = tuple(instruments)
        if not names:
            raise ValueError("a deployment needs at least one instrument")
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"instruments named more than once: {', '.join(twice)}")
        dumped = config.model_dump(mode="json", exclude={"credentials": True, "api": {"token"}})
        return cls(instruments=names, config=dumped, **kwargs)

    @property
    def mode(self) -> str:
        return str(self.config.get("mode", "shadow"))

    @property
    def network(self) -> str:
        return str(self.config.get("network", "local"))

    def run_config(self, instrument: str) -> RunConfig:
        """The run config of one instrument's actor."""
        return RunConfig.model_validate({**self.config, "instrument": instrument})


class AccountTotals(msgspec.Struct, frozen=True):
    """The deployment's instruments together: USD, counts."""

    instruments: int
    quoting: int
    realised_pnl_usd: float
    unrealised_pnl_usd: float
    fees_usd: float
    fills: int
    open_quotes: int
    gross_notional_usd: float

    @property
    def pnl_usd(self) -> float:
        return self.realised_pnl_usd + self.unrealised_pnl_usd


class Feed(msgspec.Struct, frozen=True):
    """What an API replica reads from the Controller in one call: every instrument's status, the account totals and,
    per stream, the events after the replica's last id; ``ts_ns`` when it was read (wall clock)."""

    status: list[InstrumentSnapshot]
    account: AccountTotals
    pages: dict[str, Page]
    ts_ns: int


class DeploymentBook:
    """The Controller's view of one deployment."""

    def __init__(self, spec: DeploySpec, event_capacity: int = 10_000) -> None:
        self.spec = spec
        self.events = EventLog(event_capacity)
        self._snapshots: dict[str, InstrumentSnapshot] = {}
        self._seen_ns: dict[str, int] = {}
        self._incarnations: dict[str, int] = {}
        self.restarts: dict[str, int] = dict.fromkeys(spec.instruments, 0)
        self._carried_by_name: dict[str, CarriedState] = {}
        self._resumed_ns: dict[str, int] = {}
        self._unadopted: dict[str, InstrumentSnapshot] = {}  # the last report of a session without the carried state
        self.carry_version = 0  # counts the changes of what is kept for the next actors (:meth:`kept`)
        self._lost: set[str] = set()  # instruments whose kept state a restarted Controller does not know (yet)

    def publish(self, snapshot: InstrumentSnapshot, events: Sequence[Event], now_ns: int) -> None:
        """An instrument actor's report: its snapshot and the events since its last report.

        A report of an actor that has not adopted the carried state (``carried_adopted`` False: its figures are its
        own session's alone) leaves the kept PnL, fees and limits as they are, and is shown with its figures added to
        the kept ones."""
        name = snapshot.instrument
        if name not in self.restarts:
            return  # an actor of an earlier deployment still running: not ours
        started = self._incarnations.get(name)
        if started is not None and snapshot.started_ns != started:
            self.restarts[name] += 1
        self._incarnations[name] = snapshot.started_ns
        kept = self.carried(name)
        current = snapshot.ts_ns >= self._resumed_ns.get(name, 0)  # a report from before a resume re-arms nothing
        if current and snapshot.kill_reason is not None and kept.kill_reason is None:  # a limit: held till resume
            kept = kept.kill(snapshot.kill_reason)
        if snapshot.carried_adopted:
            if self._unadopted.pop(name, None) is not None:
                self.carry_version += 1
            kept = kept.reported(snapshot.limits_used if current else None, snapshot.realised_pnl_usd,
                                 snapshot.fees_usd)
        else:
            self._unadopted[name] = snapshot
            self.carry_version += 1
            shown = kept.followed_by(snapshot.limits_used if current else None, snapshot.realised_pnl_usd,
                                     snapshot.fees_usd)
            snapshot = msgspec.structs.replace(snapshot, realised_pnl_usd=shown.realised_pnl_usd,
                                               fees_usd=shown.fees_usd, limits_used=shown.limits_used)
        self._keep(name, kept)
        self._snapshots[name] = snapshot
        self._seen_ns[name] = now_ns
        self.events.add(events)

    def status(self, now_ns: int) -> list[InstrumentSnapshot]:
        """Every instrument's last snapshot, in the spec's order; one that stopped reporting is shown as an error
        saying since when, one that never reported as syncing."""
        out = []
        for name in self.spec.instruments:
            snapshot = self._snapshots.get(name)
            if snapshot is None:
                out.append(InstrumentSnapshot(instrument=name, mode=self.spec.mode, state=InstrumentState.SYNCING,
                                              reason="its actor is starting", ts_ns=now_ns))
                continue
            silent_ns = now_ns - self._seen_ns[name]
            if silent_ns > STALE_NS and snapshot.state is not InstrumentState.STOPPED:
                snapshot = msgspec.structs.replace(
                    snapshot, state=InstrumentState.ERROR,
                    reason=f"no report from its actor for {silent_ns / 1e9:.1f} s (restarting?)",
                )
            out.append(snapshot)
        return out

    def snapshot(self, instrument: str, now_ns: int) -> InstrumentSnapshot:
        """One instrument's status.

        Raises:
            KeyError: the instrument is not in this deployment (the message lists those that are).
        """
        for snapshot in self.status(now_ns):
            if snapshot.instrument == instrument:
                return snapshot
        raise KeyError(f"{instrument!r} is not deployed; the instruments are {', '.join(self.spec.instruments)}")

    def account(self, now_ns: int) -> AccountTotals:
        status = self.status(now_ns)
        return AccountTotals(
            instruments=len(status),
            quoting=sum(1 for s in status if s.state is InstrumentState.QUOTING),
            realised_pnl_usd=sum(s.realised_pnl_usd for s in status),
            unrealised_pnl_usd=sum(s.unrealised_pnl_usd for s in status),
            fees_usd=sum(s.fees_usd for s in status),
            fills=sum(s.fills for s in status),
            open_quotes=sum(s.open_quotes for s in status),
            gross_notional_usd=sum(abs(s.position) * (s.mark_price or 0.0) for s in status),
        )

    def events_since(self, stream: str, after_id: int = 0, instrument: str | None = None, limit: int = 1_000) -> Page:
        return self.events.since(stream, after_id, instrument, limit)

    def has_events_after(self, after: Mapping[str, int]) -> bool:
        """True when a stream of ``after`` holds an event with an id above the one given for it."""
        return any(self.events.last_id(stream) > after_id for stream, after_id in after.items())

    def strategy(self, instrument: str) -> dict[str, Any]:
        """The strategy parameters in force for ``instrument`` (JSON values): the last update, else the spec's."""
        kept = self.carried(instrument).strategy
        return dict(kept if kept is not None else self.spec.config.get("strategy", {}))

    # -- what a restarted actor is handed (see carried_state.py) ---------------------------------------------

    def carried(self, instrument: str) -> CarriedState:
        return self._carried_by_name.get(instrument, _NOTHING_CARRIED)

    def _keep(self, instrument: str, carried: CarriedState) -> None:
        if self._carried_by_name.get(instrument) != carried:
            self._carried_by_name[instrument] = carried
            self.carry_version += 1

    def kept(self) -> KeptCarry:
        """What a restarted Controller must start from (:meth:`restore`) to hand the next actors what this one would."""
        return KeptCarry(carried=dict(self._carried_by_name), unadopted=dict(self._unadopted),
                         resumed_ns=dict(self._resumed_ns))

    def restore(self, kept: KeptCarry) -> None:
        """Start from what an earlier Controller of this deployment kept (instruments not deployed are left out)."""
        deployed = set(self.spec.instruments)
        self._carried_by_name = {k: v for k, v in kept.carried.items() if k in deployed}
        self._unadopted = {k: v for k, v in kept.unadopted.items() if k in deployed}
        self._resumed_ns = {k: v for k, v in kept.resumed_ns.items() if k in deployed}
        self.carry_version += 1

    def lost(self) -> None:
        """A restarted Controller without its checkpoint: nothing it would hand out is known until an actor gives its
        state back (:meth:`take_back`) or an operator resumes the instrument."""
        self._lost = set(self.spec.instruments)

    def is_lost(self, instrument: str) -> bool:
        return instrument in self._lost

    def hand_over(self, instrument: str, started_ns: int) -> CarriedState:
        """What the actor of ``instrument`` whose session started at ``started_ns`` is handed. A session that reported
        without having adopted the carried state and is not the one asking has ended: its own PnL, fees and limits
        used are added to what is kept first, so that its successor carries them on too.

        Raises:
            LookupError: what is kept of ``instrument`` is not known (:meth:`lost`): the actor stays held and asks
                again (a blank state would lift a pause or kill switch and hand out a fresh daily loss budget).
        """
        if instrument in self._lost:
            raise LookupError(f"{instrument}: the controller restarted without its checkpoint and does not know the "
                              "instrument's carried state: held until its actor gives it back or an operator resumes")
        ended = self._unadopted.get(instrument)
        if ended is not None and ended.started_ns != started_ns:
            del self._unadopted[instrument]
            self.carry_version += 1
            current = ended.ts_ns >= self._resumed_ns.get(instrument, 0)
            self._keep(instrument, self.carried(instrument).followed_by(
                ended.limits_used if current else None, ended.realised_pnl_usd, ended.fees_usd
            ))
        return self.carried(instrument)

    def set_strategy(self, instrument: str, settings: Mapping[str, Any]) -> None:
        self._keep(instrument, self.carried(instrument).with_strategy(dict(settings)))

    def pause(self, instruments: Iterable[str], reason: str) -> None:
        for name in instruments:
            self._keep(name, self.carried(name).pause(reason))

    def kill(self, instruments: Iterable[str], reason: str) -> None:
        for name in instruments:
            self._keep(name, self.carried(name).kill(reason))

    def resume(self, instruments: Iterable[str], now_ns: int) -> None:
        """An operator resumed: reports taken before ``now_ns`` (wall clock) no longer re-arm a tripped kill switch."""
        for name in instruments:
            self._keep(name, self.carried(name).resume())
            self._resumed_ns[name] = now_ns
            self._lost.discard(name)
            self.carry_version += 1

    def take_back(self, instrument: str, carried: CarriedState) -> None:
        """A restarted Controller takes back what an actor holds for an instrument it kept nothing of (what it kept,
        restored from its checkpoint, or a command it took since is newer and stays). Of a lost instrument (no
        checkpoint) the actor's state is taken whatever the book holds: a report that came first only made an entry
        without the pause or kill switch the actor holds."""
        lost = instrument in self._lost
        self._lost.discard(instrument)
        if lost or instrument not in self._carried_by_name:
            self._keep(instrument, carried)

    def states(self, now_ns: int) -> Mapping[str, InstrumentState]:
        return {s.instrument: s.state for s in self.status(now_ns)}
