"""What one instrument's actor hands on to the actor that replaces it.

Ray restarts an instrument actor from its creation arguments, which know nothing of what happened since. Without
this, a restarted actor would quote again after an operator's pause or a tripped kill switch, with the config file's
strategy instead of the one set through the API, with a fresh daily loss budget, and would report its PnL from zero.
The Controller keeps each instrument's carried state (``DeploymentBook``, from commands and reports); an actor fetches
it before it starts quoting and starts held when it cannot; a Controller that restarts takes it back from the actors.
"""

from __future__ import annotations

from typing import Any

import msgspec

from thalex_modular.platform.domain.kill_switch import LimitsUsed

__all__ = ["CarriedState"]


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

    def reported(self, limits_used: LimitsUsed | None, realised_pnl_usd: float, fees_usd: float) -> CarriedState:
        """With the figures of an actor's report (which already include what it was handed)."""
        return msgspec.structs.replace(
            self, limits_used=limits_used if limits_used is not None else self.limits_used,
            realised_pnl_usd=realised_pnl_usd, fees_usd=fees_usd,
        )
