"""The names of a deployment's actors in its Ray namespace: `platform status`, `stop` and the API find them by name."""

from __future__ import annotations

from typing import Final

__all__ = ["API_JOBS", "CONTROLLER", "NAMESPACE", "OPTIONS_VOL", "PERSISTENCE", "RATE_LIMITER", "instrument_actor"]

NAMESPACE: Final = "thalex-modular"
CONTROLLER: Final = "controller"
RATE_LIMITER: Final = "rate-limiter"
PERSISTENCE: Final = "persistence"
OPTIONS_VOL: Final = "options-vol"
API_JOBS: Final = "api-jobs"


def instrument_actor(instrument: str) -> str:
    """The name of the actor quoting ``instrument``."""
    return f"instrument:{instrument}"
