"""A supervised Thalex websocket session: connect, log in, set cancel-on-disconnect, subscribe, resync, and do it
all again after a drop, with exponential back-off and jitter (DIGEST 8.16).

Components attach before :meth:`ThalexSession.start`: channel handlers (:meth:`add_channels`), sync hooks run on
every (re)connect after the subscriptions and before the session counts as ready (the gateway's open-orders +
portfolio resync), and down hooks told when a connection is lost (the feed pulls quotes). Quoting should only
happen while :attr:`ThalexSession.ready` is true. A login refused for a non-retryable reason (bad key, revoked key)
stops the session for good, at the first connect or at any later reconnect: retrying cannot help. The owner learns
it from :attr:`ThalexSession.failure` / :meth:`ThalexSession.wait_failed` and must end (quotes were pulled by
cancel-on-disconnect when the connection dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import msgspec

from thalex_modular.platform.domain.clock import Clock

from .auth import ThalexCredentials
from .codec import decode_result
from .config import ThalexConfig
from .errors import ExchangeConnectionError, SubscriptionError, ThalexError, ThalexRpcError
from .rpc import DrainHook, NotificationHandler, ReplyCallback, RpcConnection
from .schemas import LoginResult, SetCodResult, SystemEvent
from .token_bucket import LocalTokenBuckets, RequestKind, TokenSource

__all__ = ["DownHook", "SyncHook", "ThalexSession", "backoff_delay_s"]

_log = logging.getLogger(__name__)
_NS_PER_S: Final = 1_000_000_000
_SYSTEM_CHANNEL: Final = "system"
_SYSTEM_EVENT: Final = msgspec.json.Decoder(SystemEvent)

#: ``await hook(connection)`` after subscribing on each (re)connect; raising makes the attempt fail (retried).
SyncHook = Callable[[RpcConnection], Awaitable[None]]
#: ``hook(reason)`` when a connection that was set up is lost.
DownHook = Callable[[str], None]


def backoff_delay_s(attempt: int, initial_s: float, max_s: float, jitter: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0-based): ``min(max_s, initial_s * 2**attempt)``
    scaled by a uniform factor in ``[1 - jitter, 1 + jitter]``."""
    base = min(max_s, initial_s * 2.0 ** min(attempt, 60))
    return base * (1.0 + rng.uniform(-jitter, jitter))


class ThalexSession:
    """One logical Thalex session kept alive across reconnects.

    Args:
        config: network, timeouts, limits, back-off.
        clock: wall clock (int ns since the epoch) for message receive times and the login ``iat``.
        credentials: None for a public-only session (shadow mode: market data, no login, no orders).
        tokens: the rate limiter (default: local buckets at 90 % of ``config.rate_limits``).
        mono_ns: monotonic clock (int ns) for rate limiting and back-off.
        rng: jitter source (seed it in tests).
    """

    def __init__(
        self,
        config: ThalexConfig,
        clock: Clock,
        credentials: ThalexCredentials | None = None,
        *,
        tokens: TokenSource | None = None,
        mono_ns: Callable[[], int] = time.monotonic_ns,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._credentials = credentials
        self._mono = mono_ns
        self.tokens: TokenSource = tokens or LocalTokenBuckets(config.rate_limits, mono_ns())
        self._rng = rng or random.Random()
        self._handlers: dict[str, NotificationHandler] = {_SYSTEM_CHANNEL: self._on_system}
        self._public: list[str] = [_SYSTEM_CHANNEL]
        self._private: list[str] = []
        self._sync_hooks: list[SyncHook] = []
        self._down_hooks: list[DownHook] = []
        self._drain_hooks: list[DrainHook] = []
        self._conn: RpcConnection | None = None
        self._ready = asyncio.Event()
        self._failed = asyncio.Event()
        self.failure: BaseException | None = None  # why the session ended for good (it does not reconnect)
        self._first: asyncio.Future[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self.account_number: str | None = None
        self.connects = 0
        self.failed_attempts = 0
        self.last_down_reason: str | None = None

    # -- wiring ----------------------------------------------------------------------------------------------

    @property
    def logged_in(self) -> bool:
        """True when this session logs in (has credentials)."""
        return self._credentials is not None

    def add_channels(self, channels: Sequence[str], handler: NotificationHandler, *, private: bool = False) -> None:
        """Subscribe ``channels`` on every connect and route their notifications to ``handler``.

        Raises:
            ValueError: a private channel on a session without credentials, or a channel already routed.
        """
        if private and self._credentials is None:
            raise ValueError(f"invalid channels {list(channels)}: private channels need credentials (live mode)")
        for channel in channels:
            if channel in self._handlers:
                raise ValueError(f"invalid channel {channel!r}: already has a handler")
            self._handlers[channel] = handler
            (self._private if private else self._public).append(channel)

    def add_sync_hook(self, hook: SyncHook) -> None:
        self._sync_hooks.append(hook)

    def add_down_hook(self, hook: DownHook) -> None:
        self._down_hooks.append(hook)

    def add_drain_hook(self, hook: DrainHook) -> None:
        """``hook()`` runs in the reader after a frame when no other received frame waits (also after ``start``)."""
        self._drain_hooks.append(hook)

    # -- state -------------------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Connected, logged in, COD set, subscribed and resynced."""
        return self._ready.is_set()

    @property
    def connection(self) -> RpcConnection | None:
        """The current connection once ready, else None."""
        return self._conn if self._ready.is_set() else None

    async def wait_failed(self) -> BaseException:
        """Wait until the session ended for good (a login refused for a non-retryable reason); returns why."""
        await self._failed.wait()
        assert self.failure is not None
        return self.failure

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until the session is ready.

        Raises:
            TimeoutError: not ready within ``timeout_s``.
        """
        await asyncio.wait_for(self._ready.wait(), timeout_s)

    # -- requests ------------------------------------------------------------------------------------------------

    async def call(self, method: str, params: dict[str, Any] | None = None) -> msgspec.Raw:
        """An awaited request on the current connection.

        Raises:
            ExchangeConnectionError: not connected (or the connection broke); ThalexRpcError: Thalex refused it.
        """
        conn = self._conn
        if conn is None or not conn.is_open:
            raise ExchangeConnectionError(f"{method}: not connected")
        return await conn.call(method, params)

    def request_budget(self, kind: RequestKind = RequestKind.MESSAGE) -> int:
        """Requests of ``kind`` the rate limiter allows now (0 while not ready)."""
        if not self._ready.is_set():
            return 0
        return self.tokens.available(kind, self._mono())

    async def request(self, method: str, params: dict[str, Any], on_reply: ReplyCallback, kind: RequestKind) -> bool:
        """A callback request on the ready connection (the order path). False when throttled locally.

        Raises:
            ExchangeConnectionError: not ready.
        """
        conn = self.connection
        if conn is None:
            raise ExchangeConnectionError(f"{method}: session not ready")
        return await conn.request(method, params, on_reply, kind)

    def force_reconnect(self, reason: str) -> None:
        """Drop the current connection (cancel-on-disconnect pulls its orders); the supervisor reconnects and
        resyncs."""
        conn = self._conn
        if conn is not None:
            _log.warning("thalex: reconnecting: %s", reason)
            conn.abort(reason)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def start(self, timeout_s: float | None = None) -> None:
        """Start the supervisor and wait for the first ready state.

        Raises:
            ThalexRpcError: the first login was refused for good (e.g. code 19 authentication failed).
            TimeoutError: not ready within ``timeout_s``.
        """
        if self._supervisor is not None:
            raise RuntimeError("ThalexSession.start called twice")
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._supervisor = loop.create_task(self._supervise(), name="thalex-session")
        await asyncio.wait_for(asyncio.shield(self._first), timeout_s)

    async def stop(self, *, cancel_session: bool = True) -> None:
        """Stop reconnecting; with ``cancel_session`` (and a logged-in session) first call
        ``private/cancel_session`` so every order of the session, including in-flight ones, is deleted."""
        self._stopping = True
        conn = self._conn
        if conn is not None and conn.is_open:
            if cancel_session and self._credentials is not None and self.account_number is not None:
                try:
                    await conn.call("private/cancel_session")
                except ThalexError as exc:
                    _log.warning("thalex: cancel_session on stop failed (%s); cancel-on-disconnect applies", exc)
            await conn.close("client stop")
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._ready.clear()

    async def _supervise(self) -> None:
        attempt = 0
        reconnect = self.config.reconnect
        while not self._stopping:
            up_since = self._mono()
            try:
                reason = await self._run_once()
            except ThalexRpcError as exc:
                if not exc.retryable and exc.method == "public/login":
                    _log.error("thalex: login refused (%s); the session ends, not retrying", exc)
                    self._fail(exc)
                    return
                reason = str(exc)
            except SubscriptionError as exc:
                if self._first is not None and not self._first.done():
                    _log.error("thalex: %s; not retrying", exc)
                    self._fail(exc)
                    return
                reason = str(exc)
            except ThalexError as exc:
                reason = str(exc)
            self._ready.clear()
            self.last_down_reason = reason
            if self._stopping:
                return
            if (self._mono() - up_since) / _NS_PER_S >= reconnect.stable_after_s:
                attempt = 0
            delay = backoff_delay_s(attempt, reconnect.initial_s, reconnect.max_s, reconnect.jitter, self._rng)
            attempt += 1
            self.failed_attempts += 1
            _log.warning("thalex: connection lost (%s); reconnecting in %.2f s", reason, delay)
            await asyncio.sleep(delay)

    async def _run_once(self) -> str:
        conn = await RpcConnection.open(
            self.config.url,
            clock=self.clock,
            mono_ns=self._mono,
            tokens=self.tokens,
            handlers=self._handlers,
            request_timeout_s=self.config.request_timeout_s,
            connect_timeout_s=self.config.connect_timeout_s,
            ping_interval_s=self.config.ping_interval_s,
            user_agent=self.config.user_agent,
            drain_hooks=self._drain_hooks,
        )
        self.tokens.reset(self._mono())
        self._conn = conn
        try:
            await self._setup(conn)
            self.connects += 1
            self._ready.set()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            return await conn.wait_closed()
        finally:
            self._ready.clear()
            self._conn = None
            await conn.close("session attempt ended")
            reason = conn.close_reason or "closed"
            for hook in self._down_hooks:
                try:
                    hook(reason)
                except Exception:
                    _log.exception("thalex: down hook failed")

    async def _setup(self, conn: RpcConnection) -> None:
        credentials = self._credentials
        if credentials is not None:
            params: dict[str, Any] = {"token": credentials.token(self.clock.now_ns() / _NS_PER_S)}
            account = credentials.account or self.config.account
            if account is not None:
                params["account"] = account
            login = decode_result(await conn.call("public/login", params), LoginResult)
            self.account_number = login.account_number
            cod = decode_result(
                await conn.call("private/set_cancel_on_disconnect", {"timeout_secs": self.config.cod_timeout_s}),
                SetCodResult,
            )
            rate = self.config.rate_limits.cod_per_s
            if cod.message_rate is not None and cod.message_rate > 0:
                rate = min(rate, float(cod.message_rate))
            self.tokens.set_message_rate(rate, self._mono())
        await self._subscribe(conn, "public/subscribe", self._public)
        if self._private:
            await self._subscribe(conn, "private/subscribe", self._private)
        for hook in self._sync_hooks:
            await hook(conn)

    async def _subscribe(self, conn: RpcConnection, method: str, channels: list[str]) -> None:
        accepted = decode_result(await conn.call(method, {"channels": channels}), list[str])
        refused = sorted(set(channels) - set(accepted))
        if refused:
            raise SubscriptionError(refused)

    def _fail(self, error: BaseException) -> None:
        """The session ends for good: the first start raises it, later ones are told through :meth:`wait_failed`."""
        self.failure = error
        self._ready.clear()
        self._failed.set()
        if self._first is not None and not self._first.done():
            self._first.set_exception(error)

    def _on_system(self, payload: msgspec.Raw, snapshot: bool, ts_local_ns: int) -> None:
        if _SYSTEM_EVENT.decode(payload).event == "reconnect":
            self.force_reconnect("exchange announced a reconnect (system event)")
