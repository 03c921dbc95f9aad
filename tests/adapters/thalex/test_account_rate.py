"""AccountRateLimiter: the account-wide budgets leased in blocks (no Ray; time passed in, int ns)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from thalex_modular.platform.adapters.exchanges.thalex.account_rate import AccountRateLimiter
from thalex_modular.platform.adapters.exchanges.thalex.config import KindLeaseConfig, LeaseConfig, RateLimitConfig
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import RequestKind

MSG, CANCEL = RequestKind.MESSAGE, RequestKind.CANCEL
S = 1_000_000_000
LIMITS = RateLimitConfig()  # MESSAGE 90 % of 50/s = 45/s, burst 45; CANCEL 900/s, burst 900
LEASE = LeaseConfig()  # message TTL 5 s, cancel TTL 30 s


def full_limiter(t0: int = 0) -> AccountRateLimiter:
    """A limiter whose buckets filled up for two seconds (it starts empty)."""
    limiter = AccountRateLimiter(LIMITS, LEASE, t0)
    limiter.status(t0 + 2 * S)
    return limiter


def test_the_buckets_start_empty_and_a_lease_never_grants_more_than_they_hold() -> None:
    # Arrange
    limiter = AccountRateLimiter(LIMITS, LEASE, 0)

    # Act
    at_start = limiter.lease("a", MSG, 5, 0, 0)
    after_100ms = limiter.lease("a", MSG, 10, 0, S // 10)  # 4.5 tokens refilled

    # Assert
    assert at_start.granted == 0 and at_start.retry_ns == S // 45 + 1  # one token of 45/s
    assert after_100ms.granted == 4
    assert limiter.status(S // 10)[MSG].outstanding == 4


def test_each_holder_keeps_at_most_its_fair_share_of_the_burst() -> None:
    # Arrange: three holders on a full bucket of 45
    limiter = full_limiter()
    now = 2 * S
    limiter.lease("a", MSG, 1, 0, now)
    limiter.lease("b", MSG, 1, 0, now)

    # Act: the third holder asks for everything, then the first one too (it still holds its 1)
    greedy = limiter.lease("c", MSG, 100, 0, now)
    first = limiter.lease("a", MSG, 100, 1, now)

    # Assert: 45 // 3 = 15 each
    assert greedy.granted == 15 and greedy.retry_ns == LEASE.retry_max_s * S
    assert first.held == 1 and first.granted == 14
    assert limiter.status(now)[MSG].holders == {"a": 15, "b": 1, "c": 15}


def test_a_holder_left_short_waits_until_the_bucket_has_a_token_for_every_active_holder() -> None:
    # Arrange: three holders drained the bucket
    limiter = full_limiter()
    now = 2 * S
    for holder in ("a", "b", "c"):
        limiter.lease(holder, MSG, 15, 0, now)

    # Act: "a" spent its 15 and asks for more
    short = limiter.lease("a", MSG, 5, 0, now)

    # Assert: nothing now; ask again once three tokens (one per active holder) have refilled at 45/s
    assert short.granted == 0 and short.retry_ns == 3 * S // 45 + 1


def test_held_tokens_the_holder_reports_spent_leave_the_lease_and_the_bucket_refills() -> None:
    # Arrange: one holder takes the whole burst (45)
    limiter = full_limiter()
    now = 2 * S
    assert limiter.lease("a", MSG, 45, 0, now).granted == 45

    # Act: a second later it reports that it holds 5 of them (40 spent)
    later = limiter.lease("a", MSG, 0, 5, now + S)
    status = limiter.status(now + S)[MSG]

    # Assert: while everything was leased the bucket could not refill (tokens + outstanding <= burst)
    assert later.held == 5 and status.outstanding == 5 and status.tokens == 0
    assert limiter.status(now + 2 * S)[MSG].tokens == 40  # refilled up to burst - outstanding


def test_given_back_tokens_return_to_the_bucket_and_expired_ones_are_written_off() -> None:
    # Arrange
    limiter = full_limiter()
    now = 2 * S
    limiter.lease("back", MSG, 10, 0, now)
    limiter.lease("gone", MSG, 10, 0, now)  # this holder's actor dies: it never calls again

    # Act
    credited = limiter.give_back("back", MSG, 7, now)
    after_ttl = now + 5 * S
    late = limiter.give_back("gone", MSG, 10, after_ttl)
    status = limiter.status(after_ttl)[MSG]

    # Assert: 7 given back; the vanished holder's 10 counted as spent; its late give-back credits nothing
    assert credited == 7 and late == 0
    assert status.given_back == 7 and status.expired == 10 and status.outstanding == 0 and status.holders == {}


def test_a_holder_the_limiter_does_not_know_keeps_none_of_its_old_tokens() -> None:
    # Arrange: a restarted limiter (empty, no holders) and a holder that says it still holds 8 tokens
    limiter = AccountRateLimiter(LIMITS, LEASE, 0)

    # Act
    lease = limiter.lease("a", MSG, 3, 8, S)

    # Assert: it must drop them (they were leased by the predecessor)
    assert lease.held == 0 and lease.granted == 3


def test_cancels_have_their_own_budget_and_ttl() -> None:
    # Arrange: the message budget is leased out completely
    limiter = full_limiter()
    now = 2 * S
    assert limiter.lease("a", MSG, 45, 0, now).granted == 45

    # Act
    cancels = limiter.lease("a", CANCEL, 20, 0, now)

    # Assert
    assert cancels.granted == 20 and cancels.ttl_ns == 30 * S
    assert limiter.status(now)[CANCEL].rate_per_s == 900.0


def test_a_renewal_extends_the_whole_lease() -> None:
    # Arrange
    limiter = full_limiter()
    now = 2 * S
    limiter.lease("a", MSG, 5, 0, now)

    # Act: renewed after 4 s with nothing more wanted
    renewed = limiter.lease("a", MSG, 0, 5, now + 4 * S)

    # Assert: still held 6 s after the first lease (it would have expired at 5 s)
    assert renewed.held == 5 and renewed.expires_ns == now + 9 * S
    assert limiter.status(now + 6 * S)[MSG].holders == {"a": 5}


def test_lease_config_errors_name_the_field_and_the_value() -> None:
    with pytest.raises(ValidationError, match="invalid `low_water` >= block 5, was 5"):
        KindLeaseConfig(block=5, low_water=5, ttl_s=1.0)
    with pytest.raises(ValidationError, match=r"invalid `retry_max_s` < retry_min_s 0\.5, was 0\.1"):
        LeaseConfig(retry_min_s=0.5, retry_max_s=0.1)


# -- the account-wide bound, whatever the holders do -------------------------------------------------------------


@dataclass
class _Holder:
    balance: int = 0
    expires_ns: int = 0
    gone: bool = False


_ACTIONS = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 80_000_000), st.integers(0, 2 * S)),  # ns since the previous action
        st.integers(0, 3),  # holder
        st.sampled_from(["lease", "spend", "give_back", "vanish", "lost_reply"]),
        st.integers(0, 12),  # want / spend count
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=400, deadline=None)
@given(actions=_ACTIONS, ttl_ms=st.integers(50, 3000))
def test_requests_spent_in_any_window_stay_within_rate_times_time_plus_burst(
    actions: list[tuple[int, int, str, int]], ttl_ms: int
) -> None:
    # Arrange: a small budget (9/s, burst 9) and four holders that lease, spend, give back, lose replies and vanish
    limits = RateLimitConfig(cod_per_s=10.0)
    lease_config = LeaseConfig(message=KindLeaseConfig(block=5, low_water=2, ttl_s=ttl_ms / 1000))
    now = 0
    limiter = AccountRateLimiter(limits, lease_config, now)
    holders = [_Holder() for _ in range(4)]
    spent_at: list[int] = []

    # Act
    for step_ns, index, action, count in actions:
        now += step_ns
        holder = holders[index]
        if holder.gone:
            continue
        usable = holder.balance if now < holder.expires_ns else 0
        if action == "lease":
            lease = limiter.lease(str(index), MSG, count, usable, now)
            holder.balance = min(usable, lease.held) + lease.granted
            holder.expires_ns = now + lease.ttl_ns
        elif action == "lost_reply":  # the limiter granted, the holder never heard of it
            limiter.lease(str(index), MSG, count, usable, now)
        elif action == "spend":
            spent = min(count, usable)
            holder.balance = usable - spent
            spent_at.extend([now] * spent)
        elif action == "give_back":
            limiter.give_back(str(index), MSG, usable, now)
            holder.balance = 0
        else:
            holder.gone = True

    # Assert: rate 9/s, burst 9, over every window between two spends
    rate_per_ns, burst = 9.0 / S, 9.0
    for i, start in enumerate(spent_at):
        for j in range(i, len(spent_at)):
            assert j - i + 1 <= rate_per_ns * (spent_at[j] - start) + burst + 1e-9
    status = limiter.status(now)[MSG]
    assert status.tokens + status.outstanding <= burst + 1e-9
