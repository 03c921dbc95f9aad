"""The account-wide request budgets every instrument of a deployment shares, leased out in blocks.

:class:`AccountRateLimiter` is the core of the RateLimiter singleton (Ray-free; time is passed in, int ns of the
limiter's own monotonic clock). One bucket per :class:`RequestKind` at ``safety_factor`` of Thalex's limit: MESSAGE at
``cod_per_s`` (every session of a deployment sets cancel-on-disconnect), CANCEL at ``cancel_per_s``; each bucket's
burst is one second of its rate. Thalex states its limits per session; the deployment holds them for the whole
account, however many instruments (sessions) run.

A holder (one instrument session) asks for tokens with :meth:`AccountRateLimiter.lease`, reporting how many of its
earlier tokens it still holds; it spends them locally and asks again before it runs out. Why the account's rate holds:

* ``outstanding`` counts the tokens leased out and not known to be spent (what each holder last said it holds,
  plus what it was granted since). The bucket refills only up to ``burst - outstanding``, so
  ``tokens + outstanding <= burst`` at all times: a token is either in the bucket or held by exactly one holder.
* Tokens a holder spends leave that sum; only the refill (``rate`` per second) adds to it. So the requests sent in
  any window of ``T`` seconds are at most ``rate * T + burst``, the bound of one local bucket, whatever the number of
  holders, the block size or the lease TTL.
* A holder's lease expires ``ttl`` after the call that granted or renewed it. A holder that vanished (its actor died)
  never reports back: at expiry its tokens count as spent (conservative: they only leave the sum). The holder's own
  clock ends the lease first (it counts the TTL from before it asked), so it never spends a token the limiter
  already wrote off.
* Fair share: a holder may hold at most ``burst // active holders`` tokens, so idle holders cannot keep the burst.

The bucket starts EMPTY: a restarted limiter does not know what its predecessor leased; holders it does not know
keep none of their old tokens once they call (the lease answers ``held=0``), and the empty start keeps the excess
until then small (docs/rate_limits.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from .config import LeaseConfig, RateLimitConfig
from .token_bucket import RequestKind

__all__ = ["AccountRateLimiter", "KindStatus", "Lease"]

_NS_PER_S: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Lease:
    """The answer to :meth:`AccountRateLimiter.lease`.

    ``held`` of the tokens the holder said it holds stay valid (0 when the limiter no longer knew its lease: the
    holder drops them); ``granted`` new tokens come on top. The whole lease (``held + granted``) is valid ``ttl_ns``
    from when the holder asked (on the holder's clock); ``expires_ns`` is the limiter's own expiry (its clock).
    ``retry_ns``: when fewer were granted than asked, how long until asking again can help (the bucket refilled a
    token per active holder, or the longest pause when the holder reached its fair share).
    """

    granted: int
    held: int
    ttl_ns: int
    expires_ns: int
    retry_ns: int


@dataclass(frozen=True, slots=True)
class KindStatus:
    """One budget as the limiter sees it: its rate and burst, the tokens in the bucket, those leased out
    (``outstanding``) and per holder, and the totals granted, given back and written off by expiry."""

    rate_per_s: float
    burst: float
    tokens: float
    outstanding: int
    holders: dict[str, int]
    granted: int
    given_back: int
    expired: int


@dataclass(slots=True)
class _Holding:
    tokens: int
    expires_ns: int


@dataclass(slots=True)
class _Budget:
    """One account-wide bucket whose refill stops at ``burst - outstanding``."""

    rate_per_ns: float
    burst: float
    ttl_ns: int
    tokens: float
    last_ns: int
    outstanding: int = 0
    holders: dict[str, _Holding] = field(default_factory=dict)
    granted: int = 0
    given_back: int = 0
    expired: int = 0

    def advance(self, now_ns: int) -> None:
        """Refill up to ``now_ns`` (at the cap that held meanwhile), then write off the leases that expired."""
        elapsed = now_ns - self.last_ns
        if elapsed > 0:
            cap = self.burst - self.outstanding
            if self.tokens < cap:
                self.tokens = min(cap, self.tokens + elapsed * self.rate_per_ns)
            self.last_ns = now_ns
        gone = [holder for holder, held in self.holders.items() if held.expires_ns <= now_ns]
        for holder in gone:
            tokens = self.holders.pop(holder).tokens
            self.outstanding -= tokens
            self.expired += tokens

    def retry_ns(self, active: int, retry_max_ns: int) -> int:
        """Nanoseconds until the bucket holds a token for each of ``active`` holders (so that, when all of them wait,
        the limiter sees about one call per token, not one per holder and token); ``retry_max_ns`` at most, and when
        the cap keeps the bucket below one token."""
        cap = self.burst - self.outstanding
        if cap < 1.0:
            return retry_max_ns
        missing = min(float(active), cap) - self.tokens
        if missing <= 0:
            return 0
        return min(retry_max_ns, math.ceil(missing / self.rate_per_ns))


class AccountRateLimiter:
    """Account-wide token buckets at ``limits.safety_factor`` of Thalex's limits, leased in blocks.

    Args:
        limits: Thalex's limits and our share of them (MESSAGE uses ``cod_per_s``, CANCEL ``cancel_per_s``).
        lease: the TTL of each kind's leases (and the longest pause it tells a holder to wait).
        now_ns: the limiter's monotonic time at start; the buckets start empty.
    """

    __slots__ = ("_budgets", "_retry_max_ns")

    def __init__(self, limits: RateLimitConfig, lease: LeaseConfig, now_ns: int) -> None:
        self._retry_max_ns = round(lease.retry_max_s * _NS_PER_S)
        self._budgets: dict[RequestKind, _Budget] = {}
        for kind, limit_per_s, ttl_s in (
            (RequestKind.MESSAGE, limits.cod_per_s, lease.message.ttl_s),
            (RequestKind.CANCEL, limits.cancel_per_s, lease.cancel.ttl_s),
        ):
            share = max(1.0, limit_per_s * limits.safety_factor)
            self._budgets[kind] = _Budget(share / _NS_PER_S, share, round(ttl_s * _NS_PER_S), 0.0, now_ns)

    def lease(self, holder: str, kind: RequestKind, want: int, held: int, now_ns: int) -> Lease:
        """Renew ``holder``'s lease of ``kind``: it still holds ``held`` tokens and asks for ``want`` more.

        Grants at most what the bucket holds and what keeps the holder within its fair share
        (``burst // active holders``); the lease (held + granted) then lasts the kind's TTL.

        Raises:
            ValueError: ``want`` or ``held`` < 0.
        """
        if want < 0 or held < 0:
            raise ValueError(f"invalid lease of {holder!r}: want and held must be >= 0, was {want}, {held}")
        budget = self._budgets[kind]
        budget.advance(now_ns)
        current = budget.holders.get(holder)
        kept = 0
        if current is not None:
            kept = min(held, current.tokens)
            budget.outstanding -= current.tokens - kept  # spent since the last call
        active = len(budget.holders) + (current is None)
        fair = max(1, int(budget.burst) // active)
        granted = min(max(0, min(want, fair - kept)), int(budget.tokens))
        budget.tokens -= granted
        budget.outstanding += granted
        budget.granted += granted
        expires_ns = now_ns + budget.ttl_ns
        if kept + granted > 0:
            budget.holders[holder] = _Holding(kept + granted, expires_ns)
        else:
            budget.holders.pop(holder, None)
        retry_ns = 0
        if granted < want:
            retry_ns = self._retry_max_ns if fair - kept <= granted else budget.retry_ns(active, self._retry_max_ns)
        return Lease(granted, kept, budget.ttl_ns, expires_ns, retry_ns)

    def give_back(self, holder: str, kind: RequestKind, unused: int, now_ns: int) -> int:
        """``holder`` ends its lease of ``kind`` and returns ``unused`` tokens (it holds none any more); returns how
        many went back into the bucket (none once the lease expired: they were written off).

        Raises:
            ValueError: ``unused`` < 0.
        """
        if unused < 0:
            raise ValueError(f"invalid give_back of {holder!r}: unused must be >= 0, was {unused}")
        budget = self._budgets[kind]
        budget.advance(now_ns)
        current = budget.holders.pop(holder, None)
        if current is None:
            return 0
        credited = min(unused, current.tokens)
        budget.outstanding -= current.tokens
        budget.tokens += credited
        budget.given_back += credited
        return credited

    def status(self, now_ns: int) -> dict[RequestKind, KindStatus]:
        """Each budget now."""
        result = {}
        for kind, budget in self._budgets.items():
            budget.advance(now_ns)
            result[kind] = KindStatus(
                budget.rate_per_ns * _NS_PER_S,
                budget.burst,
                budget.tokens,
                budget.outstanding,
                {holder: held.tokens for holder, held in budget.holders.items()},
                budget.granted,
                budget.given_back,
                budget.expired,
            )
        return result
