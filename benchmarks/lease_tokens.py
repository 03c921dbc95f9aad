"""What a lease costs the order path: ``try_acquire`` on LeasedTokens vs the session's own LocalTokenBuckets.

Both in one process, no Ray: LeasedTokens spends a lease held locally (the same code the order path runs between two
lease calls; its background task is never needed because the lease is big enough). Prints
``local_try_acquire_ns`` and ``leased_try_acquire_ns`` (median of 7 rounds of 200,000 calls each, ns per call) and
``available_ns`` (LeasedTokens.available, what the reconciler reads as its request budget).

Run: ``.venv/bin/python benchmarks/lease_tokens.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from thalex_modular.platform.adapters.exchanges.thalex.account_rate import AccountRateLimiter, Lease
from thalex_modular.platform.adapters.exchanges.thalex.config import KindLeaseConfig, LeaseConfig, RateLimitConfig
from thalex_modular.platform.adapters.exchanges.thalex.leased_tokens import LeasedTokens
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import LocalTokenBuckets, RequestKind

CALLS = 200_000
ROUNDS = 7
MSG = RequestKind.MESSAGE
# rates so high that no bucket runs dry during a round: the figure is the bookkeeping, not a refusal
LIMITS = RateLimitConfig(persistent_per_s=1e9, cod_per_s=1e9, cancel_per_s=1e9)
LEASE = LeaseConfig(message=KindLeaseConfig(block=10 * CALLS, low_water=1, ttl_s=3600.0))


def per_call_ns(call: object) -> float:
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(CALLS):
            call()  # type: ignore[operator]
        rounds.append((time.perf_counter_ns() - start) / CALLS)
    return statistics.median(rounds)


async def main() -> None:
    local = LocalTokenBuckets(LIMITS, time.monotonic_ns())
    limiter = AccountRateLimiter(LIMITS, LEASE, time.monotonic_ns() - 10**9)

    async def lease(kind: RequestKind, want: int, held: int) -> Lease:
        return limiter.lease("bench", kind, want, held, time.monotonic_ns())

    async def give_back(kind: RequestKind, unused: int) -> int:
        return limiter.give_back("bench", kind, unused, time.monotonic_ns())

    leased = LeasedTokens(LIMITS, LEASE, lease, give_back, time.monotonic_ns())
    leased.start()
    while leased.held(MSG, time.monotonic_ns()) < ROUNDS * CALLS:
        await asyncio.sleep(0.001)
    mono = time.monotonic_ns
    print(f"local_try_acquire_ns={per_call_ns(lambda: local.try_acquire(MSG, mono())):.0f}")
    print(f"leased_try_acquire_ns={per_call_ns(lambda: leased.try_acquire(MSG, mono())):.0f}")
    print(f"available_ns={per_call_ns(lambda: leased.available(MSG, mono())):.0f}")
    await leased.aclose()


if __name__ == "__main__":
    asyncio.run(main())
