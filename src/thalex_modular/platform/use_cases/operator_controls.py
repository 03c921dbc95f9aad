"""Operator controls and the kill switch of one instrument's quoting: what holds its quotes down besides the data.

* An operator's :meth:`OperatorControls.pause` holds every quote down until :meth:`OperatorControls.resume`.
* The kill switch (:class:`~..domain.kill_switch.KillSwitchMonitor`): a daily loss, a drawdown, a position past its
  limit, or repeated rejects or resyncs engage the RiskCheck's kill switch: every quote is pulled and nothing is
  inserted or amended until an operator resumes. An operator can engage it too (:meth:`OperatorControls.kill`).
* Only :meth:`OperatorControls.resume` lifts a pause or the kill switch; the loss and drawdown count from then on.
* A restarted session carries the limits its predecessor used (:meth:`OperatorControls.carry`).

The :class:`~.quoting_service.QuotingService` holds one (``service.controls``): it feeds the triggers (fills, rejects,
resyncs, its guard's periodic check) and asks :attr:`OperatorControls.held_reason` before each run. Every change of
the hold calls ``on_change`` (the service schedules a run that pulls or restores the quotes).

Times are int ns from the injected Clock; money USD; positions in the underlying.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from thalex_modular.platform.domain.clock import Clock
from thalex_modular.platform.domain.kill_switch import KillSwitchConfig, KillSwitchMonitor, LimitsUsed
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.quoting_service_config import ServiceStats

__all__ = ["OperatorControls"]

log = logging.getLogger(__name__)


class OperatorControls:
    """The pause and the kill switch of one instrument.

    =========================  ==============================================================================
    ``pause(reason)``          an operator holds every quote down
    ``kill(reason)``           engage the kill switch (an operator, a trigger, a carried state)
    ``resume()``               an operator lifts both; loss and drawdown count from now
    ``lift_pause(reason)``     lift the pause held for that reason only (the kill switch and limits stay)
    ``held_reason``            why quotes are held (``kill switch: …`` first, then the pause), None: they are not
    ``paused``                 an operator's pause is on (the kill switch aside)
    ``limits_used()``          how much of the daily loss and drawdown limits the session used
    ``carry(used)``            what an earlier session used counts (known late: checked at once)
    ``check(now_ns)``          evaluate the triggers now (fills, the service's guard)
    ``on_reject(now_ns)``      the exchange refused a request (not a throttle): count it, then check
    ``on_resync(now_ns)``      a resync ran: count it, then check
    =========================  ==============================================================================

    Args:
        core: the instrument's QuotingCore (its RiskCheck holds the kill switch; its equity and position feed the
            triggers).
        clock: the time source.
        stats: the service's counters (``kill_reason`` mirrors the engaged kill switch).
        kill_switch: the kill switch's triggers, None for none (:meth:`kill` still engages it).
        on_change: called after the hold changed (a run must pull or restore the quotes).
    """

    __slots__ = ("_clock", "_core", "_monitor", "_name", "_on_change", "_paused", "_risk", "_stats")

    def __init__(
        self,
        core: QuotingCore,
        clock: Clock,
        stats: ServiceStats,
        kill_switch: KillSwitchConfig | None,
        on_change: Callable[[], None],
    ) -> None:
        self._core = core
        self._clock = clock
        self._stats = stats
        self._on_change = on_change
        self._risk = core.reconciler.risk
        self._name = core.instrument.instrument_name
        self._paused: str | None = None
        tolerance = 0.5 * core.instrument.volume_tick_size
        self._monitor = (
            KillSwitchMonitor(kill_switch, self._risk.config.max_position, tolerance)
            if kill_switch is not None else None
        )

    @property
    def held_reason(self) -> str | None:
        """Why quoting is held by the kill switch or an operator (None: it is not)."""
        kill = self._risk.kill_reason
        return f"kill switch: {kill}" if kill is not None else self._paused

    @property
    def paused(self) -> bool:
        """An operator's pause is on (whatever the kill switch)."""
        return self._paused is not None

    def pause(self, reason: str = "operator") -> None:
        """Pull every quote and quote nothing until :meth:`resume`."""
        self._paused = reason or "operator"
        log.warning("%s: paused (%s)", self._name, self._paused)
        self._on_change()

    def kill(self, reason: str) -> None:
        """Engage the kill switch: every quote pulled, nothing inserted or amended until :meth:`resume` (a no-op
        while it is engaged: the first reason stays)."""
        risk = self._risk
        if risk.kill_switch_engaged:
            return
        risk.engage_kill_switch(reason)
        self._stats.kill_reason = risk.kill_reason
        log.error("%s: KILL SWITCH engaged (%s): every quote pulled; quoting resumes only when an operator resumes",
                  self._name, reason)
        self._on_change()

    def resume(self) -> None:
        """An operator lifts a pause and the kill switch (its loss and drawdown count from now)."""
        self._paused = None
        self._risk.release_kill_switch()
        self._stats.kill_reason = None
        if self._monitor is not None:
            self._monitor.rebase(self._clock.now_ns(), self._core.equity_usd())
        log.warning("%s: resumed by an operator", self._name)
        self._on_change()

    def lift_pause(self, reason: str) -> bool:
        """Lift the pause held for ``reason``, and only that one: another pause, the kill switch and the limits'
        base stay as they are (unlike :meth:`resume`). True when it was lifted."""
        if self._paused != reason:
            return False
        self._paused = None
        log.warning("%s: pause lifted (%s)", self._name, reason)
        self._on_change()
        return True

    def limits_used(self) -> LimitsUsed | None:
        """How much of the daily loss and drawdown limits this session has used (None: no kill switch)."""
        monitor = self._monitor
        return None if monitor is None else monitor.used(self._core.equity_usd())

    def carry(self, used: LimitsUsed) -> None:
        """What an earlier session of the instrument used counts against the limits: before the session's first
        check from then on; known late, added to what this session used so far and checked at once."""
        if self._monitor is not None and self._monitor.carry(used):
            self.check(self._clock.now_ns())

    def check(self, now_ns: int) -> None:
        """Engage the kill switch when one of its triggers fired (nothing to check while it is engaged)."""
        monitor = self._monitor
        if monitor is None or self._risk.kill_switch_engaged:
            return
        core = self._core
        reason = monitor.check(now_ns, core.equity_usd(), core.tracker.position_amount(self._name))
        if reason is not None:
            self.kill(reason)

    def on_reject(self, now_ns: int) -> None:
        """The exchange refused one of our requests (a throttle or a temporary failure is not counted)."""
        if self._monitor is not None:
            self._monitor.on_reject(now_ns)
            self.check(now_ns)

    def on_resync(self, now_ns: int) -> None:
        """A resync ran."""
        if self._monitor is not None:
            self._monitor.on_resync(now_ns)
        self.check(now_ns)
