"""LiveClock: the wall clock for live and shadow mode (the domain never reads it; it is handed a Clock)."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["LiveClock"]


class LiveClock:
    """Wall time in int ns since the Unix epoch that never runs backwards.

    The epoch time is read once at construction; afterwards time advances with the monotonic clock, so an NTP step
    cannot move it backwards (SimMatchEngine and the stale-data guard need a monotone time).

    Args:
        wall_ns: the epoch clock read once (default ``time.time_ns``).
        monotonic_ns: the monotonic clock (default ``time.monotonic_ns``).
    """

    __slots__ = ("_mono", "_mono0", "_wall0")

    def __init__(
        self,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._mono = monotonic_ns
        self._mono0 = monotonic_ns()
        self._wall0 = wall_ns()

    def now_ns(self) -> int:
        """Current time, int ns since the Unix epoch."""
        return self._wall0 + (self._mono() - self._mono0)
