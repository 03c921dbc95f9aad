"""Client-side request throttling at a safety share (90 %) of Thalex's per-session limits (DIGEST 7.2).

One bucket per limit (LESSONS 16): ``MESSAGE`` (every request except cancels: 10/s on a persistent session, 50/s
after ``set_cancel_on_disconnect``) and ``CANCEL`` (cancel, cancel_all, cancel_session, cancel_mass_quote: 1000/s),
so cancels never wait behind inserts and amends. A bucket's burst is its rate times one second, never above the
limit. After a throttle error (code 4) the kind's bucket is emptied and blocked for an exponential back-off
(doubling, capped, reset by the next accepted request): no retry storm.

:class:`TokenSource` is the seam: :class:`LocalTokenBuckets` here, a lease from the account-wide Ray rate limiter
later. Time is passed in (int ns, monotonic); nothing here reads a clock.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final, Protocol

from .config import RateLimitConfig

__all__ = [
    "CANCEL_METHODS",
    "LocalTokenBuckets",
    "RequestKind",
    "ThrottleBackoff",
    "TokenBucket",
    "TokenSource",
    "kind_of",
]

_NS_PER_S: Final = 1_000_000_000

#: Methods Thalex charges to the cancel budget.
CANCEL_METHODS: Final[frozenset[str]] = frozenset(
    {"private/cancel", "private/cancel_all", "private/cancel_session", "private/cancel_mass_quote"}
)


class RequestKind(StrEnum):
    """Which Thalex budget a request uses."""

    MESSAGE = "message"
    CANCEL = "cancel"


def kind_of(method: str) -> RequestKind:
    """The budget of a JSON-RPC method."""
    return RequestKind.CANCEL if method in CANCEL_METHODS else RequestKind.MESSAGE


class TokenSource(Protocol):
    """Where the adapter gets permission to send. Required methods:

    ===================================  =====================================================================
    ``try_acquire(kind, now_ns)``        take one token now or return False (hot path: never waits)
    ``available(kind, now_ns)``          whole tokens ``try_acquire`` could take now (0 while backing off)
    ``wait_ns(kind, now_ns)``            ns until ``try_acquire`` can succeed (0: now); for awaited requests
    ``on_throttled(kind, now_ns)``       the exchange answered code 4: empty the budget, back off
    ``on_accepted(kind, now_ns)``        a request was answered without throttling: reset the back-off
    ``set_message_rate(per_s, now_ns)``  Thalex's message limit changed (``set_cancel_on_disconnect``)
    ``reset(now_ns)``                    a new websocket session starts with full, persistent-rate budgets
    ===================================  =====================================================================
    """

    def try_acquire(self, kind: RequestKind, now_ns: int) -> bool: ...

    def available(self, kind: RequestKind, now_ns: int) -> int: ...

    def wait_ns(self, kind: RequestKind, now_ns: int) -> int: ...

    def on_throttled(self, kind: RequestKind, now_ns: int) -> None: ...

    def on_accepted(self, kind: RequestKind, now_ns: int) -> None: ...

    def set_message_rate(self, limit_per_s: float, now_ns: int) -> None: ...

    def reset(self, now_ns: int) -> None: ...


class TokenBucket:
    """``rate_per_s`` tokens per second, at most ``burst`` stored; starts full. Time in int ns."""

    __slots__ = ("_burst", "_last_ns", "_rate_per_ns", "_tokens")

    def __init__(self, rate_per_s: float, burst: float, now_ns: int) -> None:
        self._rate_per_ns = 0.0
        self._burst = 0.0
        self._tokens = 0.0
        self._last_ns = now_ns
        self.configure(rate_per_s, burst, now_ns)
        self._tokens = self._burst

    @property
    def rate_per_s(self) -> float:
        return self._rate_per_ns * _NS_PER_S

    @property
    def burst(self) -> float:
        return self._burst

    def tokens(self, now_ns: int) -> float:
        """Tokens available at ``now_ns``."""
        self._refill(now_ns)
        return self._tokens

    def configure(self, rate_per_s: float, burst: float, now_ns: int) -> None:
        """Change rate and burst from ``now_ns`` on, keeping the tokens earned (capped at the new burst).

        Raises:
            ValueError: ``rate_per_s`` <= 0 or ``burst`` < 1.
        """
        if not rate_per_s > 0:
            raise ValueError(f"invalid `rate_per_s` <= 0, was {rate_per_s}")
        if not burst >= 1:
            raise ValueError(f"invalid `burst` < 1, was {burst}")
        self._refill(now_ns)
        self._rate_per_ns = rate_per_s / _NS_PER_S
        self._burst = burst
        self._tokens = min(self._tokens, burst)

    def try_take(self, now_ns: int) -> bool:
        """Take one token if one is available at ``now_ns``."""
        self._refill(now_ns)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_ns(self, now_ns: int) -> int:
        """Nanoseconds until one token is available (0 when one is)."""
        self._refill(now_ns)
        missing = 1.0 - self._tokens
        return 0 if missing <= 0 else math.ceil(missing / self._rate_per_ns)

    def drain(self, now_ns: int) -> None:
        """Drop every stored token (the exchange says we are over its limit)."""
        self._refill(now_ns)
        self._tokens = 0.0

    def _refill(self, now_ns: int) -> None:
        elapsed = now_ns - self._last_ns
        if elapsed > 0:
            tokens = self._tokens + elapsed * self._rate_per_ns
            self._tokens = tokens if tokens < self._burst else self._burst
            self._last_ns = now_ns


class ThrottleBackoff:
    """Exponential pause after throttle errors: ``initial_ns``, doubled per further error, capped at ``max_ns``;
    an accepted request resets it."""

    __slots__ = ("_blocked_until_ns", "_initial_ns", "_max_ns", "_next_ns", "throttles")

    def __init__(self, initial_ns: int, max_ns: int) -> None:
        if initial_ns <= 0 or max_ns < initial_ns:
            raise ValueError(f"invalid back-off: need 0 < initial_ns <= max_ns, was {initial_ns}, {max_ns}")
        self._initial_ns = initial_ns
        self._max_ns = max_ns
        self._next_ns = initial_ns
        self._blocked_until_ns = 0
        self.throttles = 0

    @property
    def blocked_until_ns(self) -> int:
        return self._blocked_until_ns

    def remaining_ns(self, now_ns: int) -> int:
        return max(0, self._blocked_until_ns - now_ns)

    def on_throttled(self, now_ns: int) -> None:
        self.throttles += 1
        self._blocked_until_ns = max(self._blocked_until_ns, now_ns + self._next_ns)
        self._next_ns = min(self._max_ns, self._next_ns * 2)

    def on_accepted(self, now_ns: int) -> None:
        if now_ns >= self._blocked_until_ns:
            self._next_ns = self._initial_ns


class LocalTokenBuckets:
    """The in-process :class:`TokenSource`: one bucket per Thalex limit at ``safety_factor`` of it.

    Args:
        limits: Thalex's limits and our share of them.
        now_ns: monotonic time of the session start (buckets start full).
    """

    __slots__ = ("_backoff", "_buckets", "_limits", "_message_limit_per_s")

    def __init__(self, limits: RateLimitConfig, now_ns: int) -> None:
        self._limits = limits
        self._message_limit_per_s = limits.persistent_per_s
        self._buckets: dict[RequestKind, TokenBucket] = {}
        initial_ns = round(limits.throttle_backoff_initial_s * _NS_PER_S)
        max_ns = round(limits.throttle_backoff_max_s * _NS_PER_S)
        self._backoff = {kind: ThrottleBackoff(initial_ns, max_ns) for kind in RequestKind}
        self.reset(now_ns)

    def _share(self, limit_per_s: float) -> float:
        # our rate and burst: the safety share of Thalex's limit, at least one message
        return max(1.0, limit_per_s * self._limits.safety_factor)

    def bucket(self, kind: RequestKind) -> TokenBucket:
        return self._buckets[kind]

    @property
    def throttles(self) -> int:
        """Throttle errors (code 4) reported so far."""
        return sum(b.throttles for b in self._backoff.values())

    def reset(self, now_ns: int) -> None:
        self._message_limit_per_s = self._limits.persistent_per_s
        message = self._share(self._limits.persistent_per_s)
        cancel = self._share(self._limits.cancel_per_s)
        self._buckets = {
            RequestKind.MESSAGE: TokenBucket(message, message, now_ns),
            RequestKind.CANCEL: TokenBucket(cancel, cancel, now_ns),
        }

    def set_message_rate(self, limit_per_s: float, now_ns: int) -> None:
        """Thalex's message limit is now ``limit_per_s`` (e.g. ``message_rate`` after COD); earned tokens are kept,
        as the exchange keeps its own."""
        self._message_limit_per_s = limit_per_s
        share = self._share(limit_per_s)
        self._buckets[RequestKind.MESSAGE].configure(share, share, now_ns)

    def try_acquire(self, kind: RequestKind, now_ns: int) -> bool:
        if self._backoff[kind].blocked_until_ns > now_ns:
            return False
        return self._buckets[kind].try_take(now_ns)

    def available(self, kind: RequestKind, now_ns: int) -> int:
        if self._backoff[kind].blocked_until_ns > now_ns:
            return 0
        return int(self._buckets[kind].tokens(now_ns))

    def wait_ns(self, kind: RequestKind, now_ns: int) -> int:
        return max(self._backoff[kind].remaining_ns(now_ns), self._buckets[kind].wait_ns(now_ns))

    def on_throttled(self, kind: RequestKind, now_ns: int) -> None:
        self._buckets[kind].drain(now_ns)
        self._backoff[kind].on_throttled(now_ns)

    def on_accepted(self, kind: RequestKind, now_ns: int) -> None:
        self._backoff[kind].on_accepted(now_ns)
