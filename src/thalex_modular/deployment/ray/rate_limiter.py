"""The RateLimiter singleton: a thin Ray shell over :class:`AccountRateLimiter`, and the glue that gives an instrument
a :class:`LeasedTokens` on it.

The actor is synchronous (one call at a time, in arrival order) and costs no CPU reservation; its clock is its own
process's monotonic clock. The deployment creates it once::

    RateLimiterActor.options(name=RATE_LIMITER_NAME, namespace=..., lifetime="detached").remote(limits, lease)

and every instrument actor builds its session's token source from the handle with :func:`leased_tokens`. Remote
calls run only in the lease's background tasks, never on the order path. A restarted limiter starts with empty
buckets (see ``account_rate``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Final

import ray

from thalex_modular.deployment.ray.names import RATE_LIMITER
from thalex_modular.platform.adapters.exchanges.thalex.account_rate import AccountRateLimiter, KindStatus, Lease
from thalex_modular.platform.adapters.exchanges.thalex.config import LeaseConfig, RateLimitConfig
from thalex_modular.platform.adapters.exchanges.thalex.leased_tokens import LeasedTokens
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import RequestKind

__all__ = ["RATE_LIMITER_NAME", "RateLimiterActor", "RateLimiterService", "leased_tokens"]

#: The singleton's actor name in the deployment's namespace.
RATE_LIMITER_NAME: Final = RATE_LIMITER


class RateLimiterService:
    """The actor's body: the account-wide limiter on this process's monotonic clock.

    Args:
        limits: Thalex's limits and our share (the adapter's ``RateLimitConfig``).
        lease: lease TTLs and retry bounds (the instruments must use the same ``LeaseConfig``).
    """

    def __init__(self, limits: RateLimitConfig, lease: LeaseConfig) -> None:
        self._core = AccountRateLimiter(limits, lease, time.monotonic_ns())

    def lease(self, holder: str, kind: str, want: int, held: int) -> Lease:
        return self._core.lease(holder, RequestKind(kind), want, held, time.monotonic_ns())

    def give_back(self, holder: str, kind: str, unused: int) -> int:
        return self._core.give_back(holder, RequestKind(kind), unused, time.monotonic_ns())

    def status(self) -> dict[str, KindStatus]:
        return {kind.value: status for kind, status in self._core.status(time.monotonic_ns()).items()}


#: The actor class: no CPU reserved (it is tiny), restarted if it dies (a restart starts with empty buckets).
RateLimiterActor: Any = ray.remote(num_cpus=0, max_restarts=-1)(RateLimiterService)


def leased_tokens(
    limiter: Any,
    holder: str,
    limits: RateLimitConfig,
    lease: LeaseConfig,
    *,
    mono_ns: Callable[[], int] = time.monotonic_ns,
) -> LeasedTokens:
    """A session's token source leasing from the RateLimiter actor ``limiter`` (a handle).

    ``holder`` names the instrument; a random suffix makes each LeasedTokens its own holder, so a restarted
    instrument actor never claims the tokens of its dead predecessor (those expire at the limiter).
    """
    holder_id = f"{holder}/{uuid.uuid4().hex[:8]}"
    lease_method = limiter.lease.options(enable_task_events=False)
    give_back_method = limiter.give_back.options(enable_task_events=False)

    async def lease_call(kind: RequestKind, want: int, held: int) -> Lease:
        granted: Lease = await lease_method.remote(holder_id, kind.value, want, held)
        return granted

    async def give_back_call(kind: RequestKind, unused: int) -> int:
        credited: int = await give_back_method.remote(holder_id, kind.value, unused)
        return credited

    return LeasedTokens(limits, lease, lease_call, give_back_call, mono_ns(), mono_ns=mono_ns, name=holder_id)
