"""The one request layer over one Thalex websocket connection (LESSONS 3).

Requests get integer ids; replies are matched by id to an awaited future (:meth:`RpcConnection.call`) or to a
callback (:meth:`RpcConnection.request`, the order hot path: no task, no future). Errors come back typed:
:class:`ThalexRpcError` with Thalex's code, :class:`ExchangeConnectionError` when the connection broke,
:class:`RpcTimeoutError` when no reply came in time (the connection is then dropped: a silent exchange is treated as
a broken one). Every request first takes a token from the :class:`TokenSource`.

Frames are handled where websockets parses them (:class:`DirectClientConnection`, in the transport's
``data_received``; no hop to a reader task): each frame's envelope is decoded and a notification goes to the handler
registered for the exact channel name, synchronously: handlers must not block and never await (LESSONS 14). Once
every frame of a received chunk is handled, the drain hooks run (the quoting service runs its pending
reconciliation there, on the newest data of a burst). A reader task only waits for the connection to close. Nothing
is logged per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
from collections.abc import Callable
from typing import Any, Final

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State

from thalex_modular.platform.domain.clock import Clock

from .codec import decode_envelope, encode_request
from .direct_connection import DirectClientConnection
from .errors import (
    THROTTLE_EXCEEDED,
    DecodeError,
    ExchangeConnectionError,
    RpcTimeoutError,
    ThalexError,
    ThalexRpcError,
)
from .token_bucket import RequestKind, TokenSource, kind_of

__all__ = ["DrainHook", "NotificationHandler", "ReplyCallback", "RpcConnection", "SendOutcome"]

_log = logging.getLogger(__name__)
_NS_PER_S: Final = 1_000_000_000
#: Longest pause between two checks for timed-out requests, seconds.
_MAX_SWEEP_INTERVAL_S: Final = 0.1
_MIN_WAIT_S: Final = 0.001
_LOGGED_HANDLER_ERRORS: Final = 5

#: ``handler(payload, snapshot, ts_local_ns)``: a notification's raw payload, its ``snapshot`` flag, receive time.
NotificationHandler = Callable[[msgspec.Raw, bool, int], None]
#: ``callback(result, error, ts_local_ns)``: exactly one of ``result`` / ``error`` is meaningful (error not None).
ReplyCallback = Callable[[msgspec.Raw, ThalexError | None, int], None]
#: ``hook()`` called by the reader when no received frame is left unhandled.
DrainHook = Callable[[], None]


class SendOutcome(enum.Enum):
    """What :meth:`RpcConnection.request_now` did."""

    SENT = "sent"
    NO_TOKEN = "no token"  # the rate limiter has none: nothing sent
    MUST_WAIT = "must wait"  # the websocket cannot take a frame at once: nothing sent, nothing taken


class _Pending:
    __slots__ = ("callback", "deadline", "future", "kind", "method", "timeout_s")

    def __init__(
        self,
        method: str,
        kind: RequestKind,
        future: asyncio.Future[msgspec.Raw] | None,
        callback: ReplyCallback | None,
        timeout_s: float,
        deadline: float,
    ) -> None:
        self.method = method
        self.kind = kind
        self.future = future
        self.callback = callback
        self.timeout_s = timeout_s
        self.deadline = deadline  # loop.time() after which the request has timed out


class RpcConnection:
    """One open websocket to Thalex. Use :meth:`open`; the connection is single-use (reconnecting makes a new one).

    Args:
        ws: the open websocket.
        clock: wall clock for ``ts_local_ns`` of received messages (int ns since the epoch).
        mono_ns: monotonic ns for the token buckets.
        tokens: the rate limiter every request draws from.
        handlers: ``channel_name -> handler``; shared with the owner, so handlers added later are seen.
        request_timeout_s: seconds a request may wait for its reply.
        drain_hooks: called after a frame when no further received frame waits (shared with the owner too).
    """

    def __init__(
        self,
        ws: ClientConnection,
        clock: Clock,
        mono_ns: Callable[[], int],
        tokens: TokenSource,
        handlers: dict[str, NotificationHandler],
        request_timeout_s: float,
        drain_hooks: list[DrainHook] | None = None,
    ) -> None:
        self._ws = ws
        self._drain_hooks = drain_hooks if drain_hooks is not None else []
        self._clock = clock
        self._mono = mono_ns
        self._tokens = tokens
        self._handlers = handlers
        self._timeout_s = request_timeout_s
        self._sweep_interval_s = min(_MAX_SWEEP_INTERVAL_S, request_timeout_s / 4)
        self._sweep: asyncio.TimerHandle | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._loop = asyncio.get_running_loop()
        self._closed: asyncio.Future[str] = self._loop.create_future()
        self.decode_errors = 0
        self.handler_errors = 0
        self.unrouted = 0
        self.unmatched_replies = 0
        self._reader = self._loop.create_task(self._read(), name="thalex-rpc-reader")
        self._direct = ws if isinstance(ws, DirectClientConnection) else None
        if self._direct is not None:
            self._direct.attach(self._on_direct_frame, self._drained)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock,
        mono_ns: Callable[[], int],
        tokens: TokenSource,
        handlers: dict[str, NotificationHandler],
        request_timeout_s: float,
        connect_timeout_s: float,
        ping_interval_s: float,
        user_agent: str,
        drain_hooks: list[DrainHook] | None = None,
    ) -> RpcConnection:
        """Connect to ``url`` (websocket pings every ``ping_interval_s`` keep cancel-on-disconnect alive).

        Raises:
            ExchangeConnectionError: the connection could not be opened.
        """
        try:
            ws = await connect(
                url,
                open_timeout=connect_timeout_s,
                ping_interval=ping_interval_s,
                ping_timeout=max(ping_interval_s * 3, request_timeout_s),
                close_timeout=1.0,
                compression=None,
                max_size=2**24,
                max_queue=None,
                user_agent_header=user_agent,
                create_connection=DirectClientConnection,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise ExchangeConnectionError(f"cannot connect to {url}: {exc}") from None
        return cls(ws, clock, mono_ns, tokens, handlers, request_timeout_s, drain_hooks)

    # -- state ---------------------------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return not self._closed.done()

    @property
    def close_reason(self) -> str | None:
        """Why the connection closed; None while open."""
        return self._closed.result() if self._closed.done() else None

    @property
    def pending(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    async def wait_closed(self) -> str:
        """Wait until the connection is gone; returns why."""
        return await asyncio.shield(self._closed)

    async def close(self, reason: str = "closed by client") -> None:
        """Close the websocket (pending requests fail with :class:`ExchangeConnectionError`)."""
        with contextlib.suppress(Exception):
            await self._ws.close(1000, reason)
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    def abort(self, reason: str) -> None:
        """Drop the connection without waiting (a timeout or a protocol error made it untrustworthy)."""
        if not self._closed.done():
            self._loop.create_task(self.close(reason), name="thalex-rpc-abort")

    # -- requests ------------------------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        throttle_retries: int = 3,
    ) -> msgspec.Raw:
        """Send a request and await its ``result`` (raw JSON; decode with the codec). Waits for a token first.

        A throttle error (code 4) is retried at most ``throttle_retries`` times, each only after the back-off the
        token source imposes (control-plane calls: login, subscribe, snapshots; never a storm).

        Raises:
            ThalexRpcError: Thalex answered with an error.
            RpcTimeoutError: no reply within the timeout (the connection is dropped).
            ExchangeConnectionError: the connection is or went down.
        """
        kind = kind_of(method)
        attempt = 0
        while True:
            await self._acquire(kind)
            future: asyncio.Future[msgspec.Raw] = self._loop.create_future()
            await self._send(method, params or {}, kind, future, None, timeout_s)
            try:
                return await future
            except ThalexRpcError as exc:
                if exc.code != THROTTLE_EXCEEDED or attempt >= throttle_retries:
                    raise
                attempt += 1

    async def request(
        self, method: str, params: dict[str, Any], on_reply: ReplyCallback, kind: RequestKind | None = None
    ) -> bool:
        """Send a request whose reply goes to ``on_reply`` (called from the reader, or with an
        :class:`ExchangeConnectionError` if the connection breaks first). Never waits for a token: returns False
        (nothing sent) when the rate limiter has none. Sends at once, like :meth:`request_now`, when it can.

        Raises:
            ExchangeConnectionError: the connection is down (nothing sent).
        """
        kind = kind or kind_of(method)
        outcome = self.request_now(method, params, on_reply, kind)
        if outcome is not SendOutcome.MUST_WAIT:
            return outcome is SendOutcome.SENT
        if not self._tokens.try_acquire(kind, self._mono()):
            return False
        await self._send(method, params, kind, None, on_reply, None)
        return True

    def can_send_now(self) -> bool:
        """A request would leave at once (:meth:`request_now` would not answer MUST_WAIT)."""
        return self._direct is not None and self._direct.can_send_now()

    def request_now(
        self, method: str, params: dict[str, Any], on_reply: ReplyCallback, kind: RequestKind
    ) -> SendOutcome:
        """:meth:`request` without waiting: SENT, NO_TOKEN (nothing sent), or MUST_WAIT when the websocket cannot
        take the frame at once (a full send buffer, a fragmented send in progress; nothing sent, no token taken:
        use :meth:`request`).

        Raises:
            ExchangeConnectionError: the connection is down (nothing sent).
        """
        if self._closed.done():
            raise ExchangeConnectionError(f"{method} not sent: connection closed: {self._closed.result()}")
        direct = self._direct
        if direct is None or not direct.can_send_now():
            return SendOutcome.MUST_WAIT
        if not self._tokens.try_acquire(kind, self._mono()):
            return SendOutcome.NO_TOKEN
        request_id = self._register(method, kind, None, on_reply, self._timeout_s)
        direct.send_text_now(encode_request(method, params, request_id))  # cannot decline: checked just above
        return SendOutcome.SENT

    async def _acquire(self, kind: RequestKind) -> None:
        while True:
            if self._closed.done():
                raise ExchangeConnectionError(f"connection closed: {self._closed.result()}")
            now = self._mono()
            if self._tokens.try_acquire(kind, now):
                return
            await asyncio.sleep(max(self._tokens.wait_ns(kind, now) / _NS_PER_S, _MIN_WAIT_S))

    async def _send(
        self,
        method: str,
        params: dict[str, Any],
        kind: RequestKind,
        future: asyncio.Future[msgspec.Raw] | None,
        callback: ReplyCallback | None,
        timeout_s: float | None,
    ) -> None:
        if self._closed.done():
            raise ExchangeConnectionError(f"connection closed: {self._closed.result()}")
        if self._ws.state is not State.OPEN:  # closing: websockets would wait for the close in the caller's task
            raise ExchangeConnectionError(f"{method} not sent: connection {self._ws.state.name.lower()}")
        request_id = self._register(method, kind, future, callback, timeout_s or self._timeout_s)
        frame = encode_request(method, params, request_id)
        try:
            if not (self._direct is not None and self._direct.send_text_now(frame)):
                await self._ws.send(frame, text=True)
        except ConnectionClosed as exc:
            entry = self._pending.pop(request_id, None)
            if entry is not None and future is not None:
                future.cancel()
            raise ExchangeConnectionError(f"{method} not sent: connection closed ({exc})") from None

    def _register(
        self,
        method: str,
        kind: RequestKind,
        future: asyncio.Future[msgspec.Raw] | None,
        callback: ReplyCallback | None,
        timeout_s: float,
    ) -> int:
        """A new request id, its reply awaited (and timed) from now."""
        request_id = next(self._ids)
        self._pending[request_id] = _Pending(method, kind, future, callback, timeout_s, self._loop.time() + timeout_s)
        if self._sweep is None:
            self._sweep = self._loop.call_later(min(timeout_s, self._sweep_interval_s), self._expire_overdue)
        return request_id

    def _expire_overdue(self) -> None:
        """The timeout sweep: one timer for all requests (a timer per request costs more than the rest of the send
        path). A request times out between its deadline and one sweep interval later."""
        self._sweep = None
        if not self._pending:
            return
        now = self._loop.time()
        for request_id, entry in self._pending.items():
            if entry.deadline <= now:
                del self._pending[request_id]
                error = RpcTimeoutError(f"{entry.method}: no reply within {entry.timeout_s} s; dropping the connection")
                self._resolve_error(entry, error, self._clock.now_ns())
                self.abort(f"request timeout ({entry.method})")
                return
        self._sweep = self._loop.call_later(self._sweep_interval_s, self._expire_overdue)

    # -- reading -------------------------------------------------------------------------------------------------

    async def _read(self) -> None:
        reason = "connection closed"
        recv = self._ws.recv
        on_frame = self._on_frame
        try:
            while True:  # a DirectClientConnection queues no frame: recv only reports the close
                on_frame(await recv(decode=False))
                self._drained()
        except ConnectionClosed as exc:
            reason = f"connection closed ({exc})"
        except asyncio.CancelledError:
            reason = "reader cancelled"
            raise
        except Exception as exc:  # a bug in our code: the connection can no longer be trusted
            _log.exception("thalex reader failed")
            reason = f"reader failed: {exc!r}"
            with contextlib.suppress(Exception):
                await self._ws.close(1011, "client reader failed")
        finally:
            self._shutdown(reason)

    def _on_direct_frame(self, frame: bytes) -> None:
        try:
            self._on_frame(frame)
        except Exception as exc:  # a bug in our code: the connection can no longer be trusted
            _log.exception("thalex frame handling failed")
            self.abort(f"frame handling failed: {exc!r}")

    def _drained(self) -> None:
        for hook in self._drain_hooks:
            try:
                hook()
            except Exception:
                self.handler_errors += 1
                if self.handler_errors <= _LOGGED_HANDLER_ERRORS:
                    _log.exception("drain hook failed (logged for the first %d failures)", _LOGGED_HANDLER_ERRORS)

    def _shutdown(self, reason: str) -> None:
        if not self._closed.done():
            self._closed.set_result(reason)
        pending, self._pending = self._pending, {}
        now = self._clock.now_ns()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for entry in pending.values():
            self._resolve_error(entry, ExchangeConnectionError(f"{entry.method}: {reason} before the reply"), now)

    def _on_frame(self, frame: bytes | str) -> None:
        now = self._clock.now_ns()
        try:
            envelope = decode_envelope(frame)
        except DecodeError:
            self.decode_errors += 1
            return
        channel = envelope.channel_name
        if channel is not None:
            handler = self._handlers.get(channel)
            if handler is None:
                self.unrouted += 1
                return
            try:
                handler(envelope.notification, envelope.snapshot, now)
            except Exception:
                self.handler_errors += 1
                if self.handler_errors <= _LOGGED_HANDLER_ERRORS:
                    _log.exception("handler of %s failed (logged for the first %d failures)", channel, 5)
            return
        request_id = envelope.id
        entry = self._pending.pop(request_id, None) if request_id is not None else None
        if entry is None:
            self.unmatched_replies += 1
            return
        error = envelope.error
        if error is None:
            self._tokens.on_accepted(entry.kind, self._mono())
            if entry.future is not None:
                if not entry.future.done():
                    entry.future.set_result(envelope.result)
            elif entry.callback is not None:
                entry.callback(envelope.result, None, now)
            return
        if error.code == THROTTLE_EXCEEDED:
            self._tokens.on_throttled(entry.kind, self._mono())
        else:
            self._tokens.on_accepted(entry.kind, self._mono())
        self._resolve_error(entry, ThalexRpcError(error.code, error.message, entry.method), now)

    def _resolve_error(self, entry: _Pending, error: ThalexError, now: int) -> None:
        if entry.future is not None:
            if not entry.future.done():
                entry.future.set_exception(error)
        elif entry.callback is not None:
            try:
                entry.callback(msgspec.Raw(), error, now)
            except Exception:
                self.handler_errors += 1
                _log.exception("reply callback of %s failed", entry.method)

