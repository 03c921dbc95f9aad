"""LeasedTokens: an instrument's :class:`TokenSource` on a lease from the account-wide rate limiter.

The order path spends the local lease with plain code (``try_acquire``, ``available``: no await, no remote call).
A background task per :class:`RequestKind` tops the lease up to its block when it falls to the low-water mark,
renews an idle lease before it expires, and hands back what a lease still held when it expired (the limiter could
not be reached to renew it) or when the owner closes. The limiter is reached through two injected coroutines
(``lease(kind, want, held)``, ``give_back(kind, unused)``), so this class knows nothing of Ray.

Every token also passes the session's own buckets (:class:`LocalTokenBuckets`: our share of Thalex's per-session
limit and the throttle back-off): a session never sends more than its per-session share, however large its lease.
Cancels have their own lease, block and TTL: they never wait behind inserts and amends, and a cancel lease (20
tokens, 30 s) outlives a short outage of the limiter, so the kill switch's cancels still go out.

Time: the session's monotonic clock (int ns), passed into every method as on :class:`TokenSource`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from .account_rate import Lease
from .config import KindLeaseConfig, LeaseConfig, RateLimitConfig
from .token_bucket import LocalTokenBuckets, RequestKind

__all__ = ["GiveBackCall", "LeaseCall", "LeaseStats", "LeasedTokens"]

_log = logging.getLogger(__name__)
_NS_PER_S: Final = 1_000_000_000

#: ``await lease(kind, want, held)``: renew the lease (``held`` tokens kept) and ask for ``want`` more.
LeaseCall = Callable[[RequestKind, int, int], Awaitable[Lease]]
#: ``await give_back(kind, unused)``: end the lease of ``kind``, returning ``unused`` tokens.
GiveBackCall = Callable[[RequestKind, int], Awaitable[object]]


@dataclass(slots=True)
class LeaseStats:
    """Counters of one kind's lease: calls made, calls that failed (limiter unreachable or timed out), calls that
    granted less than asked, tokens granted, tokens handed back, tokens dropped by a lease that expired, and the
    order path's asks that found the lease empty (``dry``: a request waited for the account-wide limiter)."""

    calls: int = 0
    failures: int = 0
    short: int = 0
    granted: int = 0
    given_back: int = 0
    expired: int = 0
    dry: int = 0


class _Ledger:
    """The local lease of one kind: the balance, when it expires and when to renew it (holder's clock, ns)."""

    __slots__ = ("balance", "config", "expires_ns", "renew_at_ns", "stats", "wake")

    def __init__(self, config: KindLeaseConfig) -> None:
        self.config = config
        self.balance = 0
        self.expires_ns = 0
        self.renew_at_ns = 0
        self.stats = LeaseStats()
        self.wake = asyncio.Event()

    def usable(self, now_ns: int) -> int:
        return self.balance if now_ns < self.expires_ns else 0

    def apply(self, lease: Lease, asked_ns: int, renew_share: float) -> None:
        """Take the limiter's answer to a call made at ``asked_ns``."""
        self.balance = min(self.balance, lease.held) + lease.granted
        # the TTL runs from before we asked, so our lease ends before the limiter writes it off; 2 % less covers the
        # rate difference of two machines' clocks
        ttl_ns = lease.ttl_ns - lease.ttl_ns // 50
        self.expires_ns = asked_ns + ttl_ns
        self.renew_at_ns = asked_ns + round(ttl_ns * (1.0 - renew_share))
        self.stats.granted += lease.granted

    def due(self, now_ns: int) -> bool:
        return self.usable(now_ns) <= self.config.low_water or now_ns >= self.renew_at_ns


class LeasedTokens:
    """A :class:`TokenSource` spending leases from the account-wide limiter, within the session's own buckets.

    The background tasks start with the first call made on a running event loop; :meth:`aclose` stops them and
    hands back what is held.

    Args:
        limits: Thalex's per-session limits and our share (the session's own buckets and back-off).
        config: blocks, low-water marks, TTL handling and retry pauses.
        lease: ``await lease(kind, want, held)``: the limiter's lease call.
        give_back: ``await give_back(kind, unused)``: the limiter's give-back call.
        now_ns: the session's monotonic time now.
        mono_ns: the same monotonic clock, read by the background tasks.
        name: the holder's name in logs.
    """

    __slots__ = ("_closed", "_config", "_give_back", "_lease", "_ledgers", "_local", "_mono", "_name", "_tasks")

    def __init__(
        self,
        limits: RateLimitConfig,
        config: LeaseConfig,
        lease: LeaseCall,
        give_back: GiveBackCall,
        now_ns: int,
        *,
        mono_ns: Callable[[], int] = time.monotonic_ns,
        name: str = "instrument",
    ) -> None:
        self._local = LocalTokenBuckets(limits, now_ns)
        self._config = config
        self._lease = lease
        self._give_back = give_back
        self._mono = mono_ns
        self._name = name
        self._ledgers = {RequestKind.MESSAGE: _Ledger(config.message), RequestKind.CANCEL: _Ledger(config.cancel)}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # -- TokenSource (the order path: plain code) ------------------------------------------------------------

    def try_acquire(self, kind: RequestKind, now_ns: int) -> bool:
        ledger = self._ledgers[kind]
        if ledger.usable(now_ns) <= 0:
            ledger.stats.dry += 1
            self._wake(ledger)
            return False
        if not self._local.try_acquire(kind, now_ns):
            return False
        ledger.balance -= 1
        if ledger.balance <= ledger.config.low_water:
            self._wake(ledger)
        return True

    def available(self, kind: RequestKind, now_ns: int) -> int:
        ledger = self._ledgers[kind]
        usable = ledger.usable(now_ns)
        if usable <= ledger.config.low_water:
            self._wake(ledger)
        return min(usable, self._local.available(kind, now_ns))

    def wait_ns(self, kind: RequestKind, now_ns: int) -> int:
        local = self._local.wait_ns(kind, now_ns)
        ledger = self._ledgers[kind]
        if ledger.usable(now_ns) > 0:
            return local
        self._wake(ledger)
        return max(local, round(self._config.empty_wait_s * _NS_PER_S))

    def on_throttled(self, kind: RequestKind, now_ns: int) -> None:
        self._local.on_throttled(kind, now_ns)

    def on_accepted(self, kind: RequestKind, now_ns: int) -> None:
        self._local.on_accepted(kind, now_ns)

    def set_message_rate(self, limit_per_s: float, now_ns: int) -> None:
        self._local.set_message_rate(limit_per_s, now_ns)

    def reset(self, now_ns: int) -> None:
        """A new websocket session: its own buckets start afresh; the account-wide lease is kept."""
        self._local.reset(now_ns)

    # -- state ---------------------------------------------------------------------------------------------------

    def held(self, kind: RequestKind, now_ns: int) -> int:
        """Leased tokens of ``kind`` usable now (before the session's own buckets)."""
        return self._ledgers[kind].usable(now_ns)

    def stats(self, kind: RequestKind) -> LeaseStats:
        return self._ledgers[kind].stats

    @property
    def throttles(self) -> int:
        """Throttle errors (code 4) reported so far."""
        return self._local.throttles

    # -- background ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the lease tasks on the running loop (done by the first call that needs a lease)."""
        if self._tasks or self._closed:
            return
        loop = asyncio.get_running_loop()
        for kind in RequestKind:
            task = loop.create_task(self._drive(kind), name=f"lease-{kind.value}-{self._name}")
            task.add_done_callback(self._task_done)
            self._tasks.append(task)

    async def aclose(self) -> None:
        """Stop the lease tasks and hand back every token held."""
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for kind, ledger in self._ledgers.items():
            await self._hand_back(kind, ledger, ledger.balance)

    def _wake(self, ledger: _Ledger) -> None:
        if not ledger.wake.is_set():
            ledger.wake.set()
        if not self._tasks and not self._closed:
            with contextlib.suppress(RuntimeError):  # no running loop (plain calls in a script): nothing to start
                self.start()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("%s failed: %r; no lease is renewed", task.get_name(), task.exception())

    async def _drive(self, kind: RequestKind) -> None:
        ledger = self._ledgers[kind]
        config = self._config
        failures = 0
        while not self._closed:
            now = self._mono()
            if ledger.balance > 0 and now >= ledger.expires_ns:
                ledger.stats.expired += ledger.balance
                await self._hand_back(kind, ledger, ledger.balance)
                continue
            if not ledger.due(now):
                ledger.wake.clear()
                wait_s = (min(ledger.renew_at_ns, ledger.expires_ns) - now) / _NS_PER_S
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the wake-up
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await ledger.wake.wait()
                continue
            ledger.wake.clear()
            held = ledger.usable(now)
            want = max(0, ledger.config.block - held)
            asked_ns = self._mono()
            ledger.stats.calls += 1
            try:
                async with asyncio.timeout(config.call_timeout_s):
                    lease = await self._lease(kind, want, held)
            except Exception as exc:  # the limiter is unreachable (dead actor, timeout): keep spending what we hold
                ledger.stats.failures += 1
                failures += 1
                if failures == 1:
                    _log.warning("%s: %s lease failed (%r); retrying", self._name, kind.value, exc)
                pause_s = min(
                    config.unreachable_backoff_max_s, config.unreachable_backoff_initial_s * 2.0 ** (failures - 1)
                )
                if ledger.balance > 0:  # wake at the expiry to hand the rest back while the limiter still counts it
                    pause_s = min(pause_s, max(0.0, (ledger.expires_ns - self._mono()) / _NS_PER_S))
                await asyncio.sleep(pause_s)
                continue
            if failures:
                _log.info("%s: %s lease renewed after %d failed calls", self._name, kind.value, failures)
                failures = 0
            ledger.apply(lease, asked_ns, config.renew_share)
            if lease.granted < want:
                ledger.stats.short += 1
                if ledger.balance <= ledger.config.low_water:
                    pause_s = min(config.retry_max_s, max(config.retry_min_s, lease.retry_ns / _NS_PER_S))
                    await asyncio.sleep(pause_s)

    async def _hand_back(self, kind: RequestKind, ledger: _Ledger, unused: int) -> None:
        """Drop the local lease first (nothing of it is spent from now on), then tell the limiter (also with nothing
        left while the lease lasts: the limiter may count tokens we spent since our last call)."""
        live = ledger.expires_ns > self._mono()
        ledger.balance = 0
        ledger.expires_ns = 0
        ledger.renew_at_ns = 0
        if unused <= 0 and not live:
            return
        try:
            async with asyncio.timeout(self._config.call_timeout_s):
                await self._give_back(kind, unused)
        except Exception as exc:  # unreachable: the limiter writes the lease off when it expires
            _log.warning("%s: giving back %d %s tokens failed (%r)", self._name, unused, kind.value, exc)
            return
        ledger.stats.given_back += unused
