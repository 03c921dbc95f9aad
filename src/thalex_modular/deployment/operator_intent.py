"""What an operator (or the kill switch) decided for one instrument, kept so that it outlives the instrument's actor.

Ray restarts an instrument actor from its creation arguments: without this, a restarted actor would quote again
after an operator's pause or a tripped kill switch, and with the config file's strategy instead of the one set
through the API. The Controller keeps each instrument's intent (``DeploymentBook``); an actor fetches it before it
starts quoting and starts held when it cannot; a Controller that restarts takes it back from the actors.
"""

from __future__ import annotations

from typing import Any

import msgspec

from thalex_modular.platform.domain.kill_switch import LimitsUsed

__all__ = ["OperatorIntent"]


class OperatorIntent(msgspec.Struct, frozen=True, kw_only=True):
    """One instrument's operator state: ``strategy`` the parameters set through the API (None: the config's);
    ``paused`` an operator's pause with its reason; ``kill_reason`` the kill switch (engaged by an operator or
    tripped by a limit), lifted only by a resume; ``limits_used`` how much of the daily loss and drawdown limits the
    instrument's sessions used (from its last report; a resume starts them again)."""

    strategy: dict[str, Any] | None = None
    paused: str | None = None
    kill_reason: str | None = None
    limits_used: LimitsUsed | None = None

    def with_strategy(self, settings: dict[str, Any]) -> OperatorIntent:
        return msgspec.structs.replace(self, strategy=dict(settings))

    def pause(self, reason: str) -> OperatorIntent:
        return msgspec.structs.replace(self, paused=reason)

    def kill(self, reason: str) -> OperatorIntent:
        return msgspec.structs.replace(self, kill_reason=reason)

    def resume(self) -> OperatorIntent:
        return msgspec.structs.replace(self, paused=None, kill_reason=None, limits_used=None)

    def with_limits_used(self, used: LimitsUsed) -> OperatorIntent:
        return msgspec.structs.replace(self, limits_used=used)

