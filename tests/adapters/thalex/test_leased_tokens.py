"""LeasedTokens: an instrument's token source on leases from the account-wide limiter (no Ray: the real
AccountRateLimiter behind coroutines with a round-trip delay, as the actor is reached)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from thalex_modular.platform.adapters.exchanges.thalex.account_rate import AccountRateLimiter, Lease
from thalex_modular.platform.adapters.exchanges.thalex.config import KindLeaseConfig, LeaseConfig, RateLimitConfig
from thalex_modular.platform.adapters.exchanges.thalex.leased_tokens import LeasedTokens
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import RequestKind

MSG, CANCEL = RequestKind.MESSAGE, RequestKind.CANCEL
S = 1_000_000_000
LIMITS = RateLimitConfig()


@dataclass
class Remote:
    """The limiter as an instrument reaches it: a round trip of ``delay_s``; ``lease_down`` / ``give_back_down`` make
    those calls fail (the actor is unreachable)."""

    limiter: AccountRateLimiter
    delay_s: float = 0.001
    lease_down: bool = False
    give_back_down: bool = False

    def tokens(self, holder: str, config: LeaseConfig, limits: RateLimitConfig = LIMITS) -> LeasedTokens:
        async def lease(kind: RequestKind, want: int, held: int) -> Lease:
            await asyncio.sleep(self.delay_s)
            if self.lease_down:
                raise ConnectionError("rate limiter unreachable")
            return self.limiter.lease(holder, kind, want, held, time.monotonic_ns())

        async def give_back(kind: RequestKind, unused: int) -> int:
            await asyncio.sleep(self.delay_s)
            if self.give_back_down:
                raise ConnectionError("rate limiter unreachable")
            return self.limiter.give_back(holder, kind, unused, time.monotonic_ns())

        tokens = LeasedTokens(limits, config, lease, give_back, time.monotonic_ns(), name=holder)
        tokens.set_message_rate(limits.cod_per_s, time.monotonic_ns())  # the session set cancel-on-disconnect
        tokens.start()
        return tokens


def filled_limiter(limits: RateLimitConfig = LIMITS, config: LeaseConfig | None = None) -> AccountRateLimiter:
    """A limiter whose buckets are full (it starts empty: pretend it started 2 s ago)."""
    return AccountRateLimiter(limits, config or LeaseConfig(), time.monotonic_ns() - 2 * S)


async def until(check: object, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


def now() -> int:
    return time.monotonic_ns()


async def test_the_first_request_starts_the_lease_and_waits_only_a_few_ms() -> None:
    # Arrange
    tokens = Remote(filled_limiter()).tokens("a", LeaseConfig())

    # Act: an awaited request (login) finds no lease yet
    first = tokens.try_acquire(MSG, now())
    wait_ns = tokens.wait_ns(MSG, now())
    await until(lambda: tokens.held(MSG, now()) == 5)

    # Assert: it retries after empty_wait_s (5 ms), then the block of 5 is there
    assert first is False and wait_ns == 5_000_000
    assert tokens.try_acquire(MSG, now()) and tokens.available(MSG, now()) == 4
    await tokens.aclose()


async def test_the_order_path_never_runs_dry_while_the_account_has_tokens() -> None:
    # Arrange: one instrument sending 30 requests/s (under the account's 45/s), each a plain try_acquire
    remote = Remote(filled_limiter(), delay_s=0.003)
    tokens = remote.tokens("a", LeaseConfig())
    await until(lambda: tokens.held(MSG, now()) == 5)

    # Act
    refused = 0
    for _ in range(30):
        refused += not tokens.try_acquire(MSG, now())
        await asyncio.sleep(1 / 30)

    # Assert: the block was topped up at the low-water mark, before it ran out, in blocks (not per request)
    assert refused == 0
    stats = tokens.stats(MSG)
    assert stats.granted >= 30 and stats.calls <= 30 // 2
    await tokens.aclose()


async def test_a_session_never_exceeds_its_own_share_however_large_its_lease() -> None:
    # Arrange: a session that has not set cancel-on-disconnect (Thalex: 10/s, our share 9/s, burst 9) with a big
    # lease block
    config = LeaseConfig(message=KindLeaseConfig(block=40, low_water=10, ttl_s=5.0))
    limiter = filled_limiter(config=config)

    async def lease(kind: RequestKind, want: int, held: int) -> Lease:
        return limiter.lease("a", kind, want, held, now())

    async def give_back(kind: RequestKind, unused: int) -> int:
        return limiter.give_back("a", kind, unused, now())

    tokens = LeasedTokens(LIMITS, config, lease, give_back, now())
    tokens.start()
    await until(lambda: tokens.held(MSG, now()) == 40)

    # Act: spend as fast as allowed for 0.5 s
    start = now()
    sent = 0
    while now() - start < S // 2:
        sent += tokens.try_acquire(MSG, now())
        await asyncio.sleep(0.001)

    # Assert: 9 + 9 * 0.5 at most
    assert 9 <= sent <= 9 + 9 * 0.5 + 1
    await tokens.aclose()


async def test_cancels_go_out_while_inserts_and_amends_have_used_up_the_lease() -> None:
    # Arrange
    tokens = Remote(filled_limiter()).tokens("a", LeaseConfig())
    await until(lambda: tokens.held(MSG, now()) == 5 and tokens.held(CANCEL, now()) == 20)

    # Act: the message budget of the whole account is spent; the instrument then cancels 15 orders
    while tokens.try_acquire(MSG, now()):
        pass
    cancels = [tokens.try_acquire(CANCEL, now()) for _ in range(15)]

    # Assert
    assert all(cancels)
    await tokens.aclose()


async def test_an_unreachable_limiter_ends_the_message_lease_at_its_ttl_and_cancels_still_go() -> None:
    # Arrange: short TTLs (messages 0.3 s, cancels 1.5 s); both leases held, then the limiter becomes unreachable
    config = LeaseConfig(
        message=KindLeaseConfig(block=5, low_water=2, ttl_s=0.3),
        cancel=KindLeaseConfig(block=20, low_water=10, ttl_s=1.5),
    )
    remote = Remote(filled_limiter(config=config))
    tokens = remote.tokens("a", config)
    await until(lambda: tokens.held(MSG, now()) == 5 and tokens.held(CANCEL, now()) == 20)
    remote.lease_down = remote.give_back_down = True
    assert tokens.try_acquire(MSG, now())  # the lease is spent locally: no call needed

    # Act: past the message TTL
    await asyncio.sleep(0.4)

    # Assert: no new insert or amend can go; cancels can (their lease lasts longer); the failed calls were retried
    assert tokens.available(MSG, now()) == 0 and not tokens.try_acquire(MSG, now())
    assert all(tokens.try_acquire(CANCEL, now()) for _ in range(10))
    assert tokens.stats(MSG).failures >= 2 and tokens.stats(MSG).expired == 4
    # the limiter wrote off what the holder could no longer use, and gives nothing of it back to the bucket
    assert remote.limiter.status(now())[MSG].holders == {}

    # Act: the limiter is back: leases resume
    remote.lease_down = remote.give_back_down = False
    await until(lambda: tokens.held(MSG, now()) == 5)
    await tokens.aclose()


async def test_a_lease_that_expires_hands_back_its_unused_tokens() -> None:
    # Arrange: a lease of 5 held; then the limiter answers give-backs but no lease call (renewals fail)
    config = LeaseConfig(message=KindLeaseConfig(block=5, low_water=2, ttl_s=0.3))
    remote = Remote(filled_limiter(config=config))
    tokens = remote.tokens("a", config)
    await until(lambda: tokens.held(MSG, now()) == 5)
    remote.lease_down = True
    assert tokens.try_acquire(MSG, now())

    # Act: the TTL passes without a renewal
    await until(lambda: tokens.stats(MSG).given_back == 4, timeout_s=1.0)

    # Assert: the 4 unused tokens went back into the account's bucket before the limiter's own expiry
    status = remote.limiter.status(now())[MSG]
    assert status.given_back == 4 and status.expired == 0 and status.holders == {}
    assert tokens.held(MSG, now()) == 0
    await tokens.aclose()


async def test_closing_hands_back_every_token_held() -> None:
    # Arrange
    remote = Remote(filled_limiter())
    tokens = remote.tokens("a", LeaseConfig())
    await until(lambda: tokens.held(MSG, now()) == 5 and tokens.held(CANCEL, now()) == 20)

    # Act
    await tokens.aclose()

    # Assert
    status = remote.limiter.status(now())
    assert status[MSG].given_back == 5 and status[CANCEL].given_back == 20
    assert status[MSG].outstanding == 0 and status[CANCEL].outstanding == 0
    assert tokens.held(MSG, now()) == 0 and not tokens.try_acquire(CANCEL, now())


async def test_four_instruments_hammering_one_limiter_share_the_account_rate() -> None:
    # Arrange: an account budget of 180/s (burst 180), four holders on it, each spending as fast as it can
    limits = RateLimitConfig(cod_per_s=200.0)
    config = LeaseConfig(message=KindLeaseConfig(block=10, low_water=4, ttl_s=5.0))
    remote = Remote(AccountRateLimiter(limits, config, now()))
    holders = [remote.tokens(f"i{k}", config, limits) for k in range(4)]
    spent: list[list[int]] = [[] for _ in holders]
    duration_ns = 3 * S // 2

    async def hammer(tokens: LeasedTokens, times: list[int], end_ns: int) -> None:
        while (t := now()) < end_ns:
            if tokens.try_acquire(MSG, t):
                times.append(t)
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(0.0005)

    # Act
    start = now()
    pairs = zip(holders, spent, strict=True)
    await asyncio.gather(*(hammer(tokens, times, start + duration_ns) for tokens, times in pairs))
    for tokens in holders:
        await tokens.aclose()

    # Assert: within 180/s x T + 180 over every window, yet near the full rate, and every holder got a share
    every = sorted(t for times in spent for t in times)
    rate_per_ns, burst = 180.0 / S, 180.0
    for i, first in enumerate(every):
        for j in range(i, len(every), 7):
            assert j - i + 1 <= rate_per_ns * (every[j] - first) + burst
    assert len(every) >= 0.8 * 180 * 1.5
    assert min(len(times) for times in spent) >= len(every) / 4 / 2
    assert remote.limiter.status(now())[MSG].outstanding == 0
