"""What one instrument's actor hands on to the actor that replaces it.

Ray restarts an instrument actor from its creation arguments, which know nothing of what happened since. Without
this, a restarted actor would quote again after an operator's pause or a tripped kill switch, with the config file's
strategy instead of the one set through the API, with a fresh daily loss budget, and would report its PnL from zero.
The Controller keeps each instrument's carried state (``DeploymentBook``, from commands and reports); an actor fetches
it before it starts quoting; a Controller that restarts restores it from its checkpoint (``kept_carry.py``) before it
answers, and takes back from the running actors what that lacks.

An actor that could not fetch it in time starts held (:data:`AWAITING_CARRIED`) and keeps asking; its reports say they
have not adopted it (the book then keeps its PnL, fees and limits), and when it comes :func:`adopt_late` says how it
joins what the actor did since (see docs/deployment.md).
"""

from __future__ import annotations

from typing import Any

import msgspec

from thalex_modular.platform.domain.kill_switch import LimitsUsed

__all__ = ["AWAITING_CARRIED", "CARRIED_TIMEOUT_S", "CarriedState", "LateAdoption", "adopt_late"]

#: How long an actor waits for the Controller's answer, and the Controller for an actor's (each answers at once; a
#: restarting one within seconds).
CARRIED_TIMEOUT_S = 10.0

#: The hold of an actor that started without its carried state; only adopting it (or an operator's resume) lifts it.
AWAITING_CARRIED = "operator state unknown (the controller did not answer at start): held until it does"


class CarriedState(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument's state that outlives its actor.

    * ``strategy``: the parameters set through the API (None: the config's);
    * ``paused``: an operator's pause, with its reason;
    * ``kill_reason``: the kill switch (engaged by an operator or tripped by a limit), lifted only by a resume;
    * ``limits_used``: how much of the daily loss and drawdown limits the instrument's sessions used (from its last
      report; a resume starts them again);
    * ``realised_pnl_usd`` / ``fees_usd``: what its earlier sessions realised (net of fees) and paid, which the next
      session's reports add to its own (its tracker starts from the exchange's position with nothing realised).
    """

    strategy: dict[str, Any] | None = None
    paused: str | None = None
    kill_reason: str | None = None
    limits_used: LimitsUsed | None = None
    realised_pnl_usd: float = 0.0
    fees_usd: float = 0.0

    def with_strategy(self, settings: dict[str, Any]) -> CarriedState:
        return msgspec.structs.replace(self, strategy=dict(settings))

    def pause(self, reason: str) -> CarriedState:
        return msgspec.structs.replace(self, paused=reason)

    def kill(self, reason: str) -> CarriedState:
        return msgspec.structs.replace(self, kill_reason=reason)

    def resume(self) -> CarriedState:
        return msgspec.structs.replace(self, paused=None, kill_reason=None, limits_used=None)

    def followed_by(self, limits_used: LimitsUsed | None, realised_pnl_usd: float, fees_usd: float) -> CarriedState:
        """With the figures of a session that started from this state without adopting it (its own only): the PnL and
        fees add up, the limits used join (:meth:`LimitsUsed.then`)."""
        limits = self.limits_used
        if limits_used is not None:
            limits = limits_used if limits is None else limits.then(limits_used)
        return msgspec.structs.replace(self, limits_used=limits, fees_usd=self.fees_usd + fees_usd,
                                       realised_pnl_usd=self.realised_pnl_usd + realised_pnl_usd)

    def reported(self, limits_used: LimitsUsed | None, realised_pnl_usd: float, fees_usd: float) -> CarriedState:
        """With the figures of an actor's report (which already include what it was handed)."""
        return msgspec.structs.replace(
            self, limits_used=limits_used if limits_used is not None else self.limits_used,
            realised_pnl_usd=realised_pnl_usd, fees_usd=fees_usd,
        )


class LateAdoption(msgspec.Struct, frozen=True, kw_only=True):
    """What a running actor does with the carried state it got late: ``carried`` is its own from now on; then, in
    this order, ``limits_used`` counts against its limits (added to what its session used so far), ``kill`` engages
    the kill switch, ``pause`` holds with that reason, and ``lift_awaiting`` lifts the :data:`AWAITING_CARRIED`
    hold."""

    carried: CarriedState
    limits_used: LimitsUsed | None = None
    kill: str | None = None
    pause: str | None = None
    lift_awaiting: bool = False


def adopt_late(own: CarriedState, kept: CarriedState, *, resumed: bool, strategy_set: bool) -> LateAdoption:
    """How an actor that started without ``kept`` (the Controller's) adopts it.

    Args:
        own: the actor's carried state since it started: the :data:`AWAITING_CARRIED` hold or an operator's pause,
            kill switch and strategy sent since (the Controller kept those too); no PnL (its session counts its own).
        kept: what the Controller kept of the instrument.
        resumed: an operator resumed the actor since it started (after seeing the Controller's state): the kept holds
            and limits are lifted, as a resume does.
        strategy_set: an operator set the strategy since it started (newer than the kept one).

    The kept PnL and fees become the base the session's own are added to. The kept holds are added to the actor's;
    when there are none, the :data:`AWAITING_CARRIED` hold is lifted and the actor quotes on its own, as it would have
    had the Controller answered in time (an operator's pause sent since stays).
    """
    strategy = own.strategy if strategy_set else kept.strategy
    base = CarriedState(strategy=strategy, paused=own.paused, kill_reason=own.kill_reason,
                        realised_pnl_usd=kept.realised_pnl_usd, fees_usd=kept.fees_usd)
    if resumed:
        return LateAdoption(carried=base)
    kill = kept.kill_reason if own.kill_reason is None else None
    awaiting = own.paused == AWAITING_CARRIED
    pause = kept.paused if awaiting else None
    carried = msgspec.structs.replace(
        base, kill_reason=own.kill_reason or kept.kill_reason, paused=kept.paused if awaiting else own.paused,
        limits_used=kept.limits_used,
    )
    return LateAdoption(carried=carried, limits_used=kept.limits_used, kill=kill, pause=pause,
                        lift_awaiting=awaiting and pause is None)
