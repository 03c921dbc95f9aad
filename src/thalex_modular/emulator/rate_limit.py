"""Per-session request throttling (error 4 "throttle exceeded").

Thalex publishes no numbers; DIGEST 7.2 suggests 10 msg/s for a persistent session, 50 msg/s once
``set_cancel_on_disconnect`` was called (its result's ``message_rate``), and cancels on a separate, larger bucket.
Each bucket is a token bucket whose burst equals its rate (one second of messages). Time is passed in (int ns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CANCEL_METHODS", "RateLimits", "SessionRateLimiter", "TokenBucket"]

# Methods charged to the cancel bucket instead of the message bucket.
CANCEL_METHODS: Final = frozenset(
    {"private/cancel", "private/cancel_all", "private/cancel_session", "private/cancel_mass_quote"}
)
_NS_PER_S: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Messages per second: ``persistent_per_s`` before COD, ``cod_per_s`` after it, ``cancel_per_s`` for cancels."""

    persistent_per_s: float = 10.0
    cod_per_s: float = 50.0
    cancel_per_s: float = 1000.0

    def __post_init__(self) -> None:
        for name in ("persistent_per_s", "cod_per_s", "cancel_per_s"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"invalid `{name}` <= 0, was {value}")


class TokenBucket:
    """A token bucket: ``rate_per_s`` tokens per second, at most ``burst`` stored; starts full."""

    __slots__ = ("_burst", "_last_ns", "_rate_per_ns", "_tokens")

    def __init__(self, rate_per_s: float, burst: float, now_ns: int) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"invalid `rate_per_s` <= 0, was {rate_per_s}")
        if burst < 1:
            raise ValueError(f"invalid `burst` < 1, was {burst}")
        self._rate_per_ns = rate_per_s / _NS_PER_S
        self._burst = burst
        self._tokens = burst
        self._last_ns = now_ns

    def try_take(self, now_ns: int) -> bool:
        """Take one token if available at ``now_ns``; ``False`` means throttled."""
        self.refill(now_ns)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def set_rate(self, rate_per_s: float, now_ns: int) -> None:
        """Change the rate (and burst) from ``now_ns`` on, keeping the tokens already earned."""
        self.refill(now_ns)
        self._rate_per_ns = rate_per_s / _NS_PER_S
        self._burst = rate_per_s
        self._tokens = min(self._tokens, self._burst)

    def refill(self, now_ns: int) -> None:
        """Refill up to ``now_ns`` without taking a token."""
        elapsed = now_ns - self._last_ns
        if elapsed > 0:
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate_per_ns)
            self._last_ns = now_ns


class SessionRateLimiter:
    """The two buckets of one websocket session; call :meth:`enable_cod` after ``set_cancel_on_disconnect``."""

    __slots__ = ("_cancels", "_limits", "_messages")

    def __init__(self, limits: RateLimits, now_ns: int) -> None:
        self._limits = limits
        self._messages = TokenBucket(limits.persistent_per_s, limits.persistent_per_s, now_ns)
        self._cancels = TokenBucket(limits.cancel_per_s, limits.cancel_per_s, now_ns)

    def allow(self, method: str, now_ns: int) -> bool:
        """Charge one request of ``method``; ``False`` means reply with error 4."""
        bucket = self._cancels if method in CANCEL_METHODS else self._messages
        return bucket.try_take(now_ns)

    def enable_cod(self, now_ns: int) -> int:
        """Switch to the cancel-on-disconnect rate; returns it as the integer ``message_rate``."""
        self._messages.set_rate(self._limits.cod_per_s, now_ns)
        return int(self._limits.cod_per_s)
