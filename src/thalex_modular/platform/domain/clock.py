"""Time source. The domain never reads the wall clock; it is handed a Clock.

All times are integer nanoseconds since the Unix epoch.
"""

from __future__ import annotations

from typing import Protocol

from .errors import InvalidValue

NANOS_PER_SECOND = 1_000_000_000


def seconds_to_ns(seconds: float) -> int:
    """Thalex float-second timestamp → int nanoseconds (the one conversion, used by codecs)."""
    return round(seconds * NANOS_PER_SECOND)


def ns_to_seconds(ns: int) -> float:
    return ns / NANOS_PER_SECOND


class Clock(Protocol):
    """Anything that tells the current time in nanoseconds."""

    def now_ns(self) -> int: ...


class SimClock:
    """Simulated time for backtests and tests: moves only when told, never backwards."""

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance_to(self, ts_ns: int) -> None:
        """Move the clock to ``ts_ns``; a time earlier than now is refused (time never runs backwards)."""
        if ts_ns < self._now_ns:
            raise InvalidValue(f"SimClock.advance_to: ts_ns {ts_ns} is before now {self._now_ns}")
        self._now_ns = ts_ns

    def advance_by(self, delta_ns: int) -> None:
        if delta_ns < 0:
            raise InvalidValue(f"SimClock.advance_by: delta_ns must be >= 0, was {delta_ns}")
        self._now_ns += delta_ns
