"""The emulator's websocket server: ``ws://HOST:PORT/ws/api/v2``, Thalex JSON-RPC over text frames.

One asyncio task reads each connection and handles its requests in order; replies and notifications go through the
connection's :class:`~thalex_modular.emulator.feeds.Outbox` (one writer task per connection, so a slow client never
blocks the others). Exchange logic lives in :class:`~thalex_modular.emulator.runtime.Venue`; this module owns
sessions, login, rate limits, the cancel-on-disconnect watchdog, subscriptions and fault injection.

Liveness: ``_TrackingConnection.data_received`` stamps every received TCP chunk, so a websocket ping frame (which the
websockets library answers internally and never hands to the application) counts as traffic for the COD watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest, Response as HttpResponse

from thalex_modular.emulator import control
from thalex_modular.emulator.auth import Authenticator
from thalex_modular.emulator.config import EmulatorConfig
from thalex_modular.emulator.engine import Notification
from thalex_modular.emulator.faults import FaultInjector
from thalex_modular.emulator.feeds import FeedHub, Outbox, Subscriber
from thalex_modular.emulator.latency_probe import LatencyProbe
from thalex_modular.emulator.protocol import (
    INVALID_REQUEST,
    METHOD_PARAMS,
    NOT_LOGGED_IN,
    THROTTLE_EXCEEDED,
    UNKNOWN_METHOD,
    FrameError,
    Request,
    RpcError,
    check_params,
    decode_request,
    encode_error,
    encode_result,
)
from thalex_modular.emulator.rate_limit import RateLimits, SessionRateLimiter
from thalex_modular.emulator.runtime import Venue
from thalex_modular.emulator.subscriptions import Channel
from thalex_modular.platform.domain.error_codes import TEMPORARY_FAILURE

__all__ = ["WS_PATH", "EmulatorServer", "Session"]

WS_PATH = "/ws/api/v2"
_log = logging.getLogger(__name__)
_ORDER_METHODS = frozenset({"private/insert", "private/buy", "private/sell", "private/amend", "private/mass_quote"})


class _TrackingConnection(ServerConnection):
    """A ServerConnection that records the monotonic time of every received chunk (data *and* ping frames)."""

    last_rx_s: float = 0.0

    def data_received(self, data: bytes) -> None:
        self.last_rx_s = time.monotonic()
        super().data_received(data)


class Session(Subscriber):
    """One websocket connection = one Thalex session (login, COD flag, client_order_id scope, subscriptions)."""

    def __init__(self, ws: _TrackingConnection, outbox: Outbox, limits: RateLimits | None) -> None:
        super().__init__(outbox)
        self.ws = ws
        self.session_id: int | None = None
        self.account: str | None = None
        self.cod_timeout_s: float | None = None
        self.messages_received = 0
        # the handshake's Origin (set by browsers only) and whether the control API is open to this connection
        self.origin: str | None = ws.request.headers.get("Origin") if ws.request is not None else None
        self.control = False
        self.limiter = SessionRateLimiter(limits, time.monotonic_ns()) if limits is not None else None


class EmulatorServer:
    """Serves one :class:`Venue` on ``config.host:config.port`` (port 0 picks a free port; see :attr:`port`)."""

    def __init__(self, config: EmulatorConfig, venue: Venue, authenticator: Authenticator) -> None:
        self.config = config
        self.venue = venue
        self.auth = authenticator
        self.faults = FaultInjector(config.faults, seed=config.seed)
        self.hub = FeedHub(venue, self.faults)
        self.probe = LatencyProbe()  # armed only by the control API's emulator/probe_ticker
        self.sessions: set[Session] = set()
        self.control_token = control.control_token(config)  # None when the control API is off
        self.request_counts: Counter[str] = Counter()  # requests served per method (the control API's status)
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        limits = config.rate_limits
        self._limits = (
            RateLimits(limits.persistent_per_s, limits.cod_per_s, limits.cancel_per_s) if limits.enabled else None
        )
        self._handlers: dict[str, Callable[[Session, dict[str, Any]], Any]] = {
            "public/login": self._login,
            "public/subscribe": self._public_subscribe,
            "private/subscribe": self._private_subscribe,
            "unsubscribe": self._unsubscribe,
            "private/set_cancel_on_disconnect": self._set_cod,
            "private/portfolio": self._portfolio,
        }

    # -- lifecycle --------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("server not started")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/ws/api/v2``."""
        return f"ws://{self.config.host}:{self.port}{WS_PATH}"

    async def start(self) -> None:
        """Bind the socket and start the market loop, feed timer and COD watchdog."""
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            create_connection=_TrackingConnection,
            process_request=self._check_path,
            ping_interval=None,
            max_queue=None,
            compression=None,
            close_timeout=2,
        )
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._market_loop(), name="emulator-market"),
            loop.create_task(self._feed_timer(), name="emulator-feeds"),
            loop.create_task(self._cod_watchdog(), name="emulator-cod"),
            loop.create_task(self._summary_loop(), name="emulator-summary"),
        ]
        for task in self._tasks:
            task.add_done_callback(_log_task_failure)

    async def stop(self) -> None:
        """Close every session (COD applied, ``session_end``), stop the loops and the listener."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        sessions = list(self.sessions)
        for session in sessions:
            self._end_session(session)
        await asyncio.gather(*(s.ws.close(1001, "emulator shutting down") for s in sessions), return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as a named background task whose failure is logged; the server keeps a reference."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        task.add_done_callback(_log_task_failure)

    async def broadcast_system_reconnect(self) -> int:
        """Send ``{"event": "reconnect"}`` on ``system`` to every subscribed session; returns how many got it."""
        return self.hub.publish_system({"event": "reconnect"})

    def _check_path(self, connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        if request.path.split("?")[0] != WS_PATH:
            return connection.respond(404, f"not found: use {WS_PATH}\n")
        return None

    # -- connection ---------------------------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, _TrackingConnection)
        ws.last_rx_s = time.monotonic()
        outbox = Outbox(ws, self.faults)
        session = Session(ws, outbox, self._limits)
        self.sessions.add(session)
        writer = asyncio.get_running_loop().create_task(outbox.run(), name="emulator-writer")
        try:
            async for frame in ws:
                session.messages_received += 1
                drop_after = self.faults.config.drop_after_messages
                if drop_after is not None and session.messages_received > drop_after:
                    self.faults.injected["drop"] += 1
                    await ws.close(1011, "connection dropped (injected fault)")
                    break
                await self._on_frame(session, frame)
        except ConnectionClosed:
            pass
        finally:
            self._end_session(session)
            self.sessions.discard(session)
            outbox.close()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer

    def _end_session(self, session: Session) -> None:
        self.hub.drop_subscriber(session)
        if session.session_id is not None:
            events = self.venue.close_session(session.session_id)
            session.session_id = None
            self.hub.route(events)
            self.hub.flush()

    async def _on_frame(self, session: Session, frame: str | bytes) -> None:
        arrival_ns = time.monotonic_ns() if self.probe.armed else 0
        try:
            request = decode_request(frame)
        except FrameError as exc:
            self._reply(session, encode_error(exc.request_id, exc.code, exc.message))
            return
        if arrival_ns and request.method in _ORDER_METHODS:
            self.probe.on_order_request(request.method, arrival_ns, session)
        reply, events = self._dispatch(session, request)
        self._reply(session, reply if isinstance(reply, str) else await reply)
        if events:  # after the reply: a client sees its insert result before the order's session.orders update
            self.hub.route(events)
        self.hub.flush()

    def _reply(self, session: Session, text: str) -> None:
        delay_ms = self.faults.config.response_delay_ms
        if delay_ms > 0:
            asyncio.get_running_loop().call_later(delay_ms / 1000.0, session.outbox.put, text)
        else:
            session.outbox.put(text)

    def _dispatch(self, session: Session, request: Request) -> tuple[str | Awaitable[str], list[Notification]]:
        """Run one request: the reply (text, or an awaitable for control methods) and the events to route."""
        method, params, request_id = request.method, request.params, request.id
        self.request_counts[method] += 1
        events: list[Notification] = []
        try:
            if method.startswith("emulator/"):
                if not self.config.control_enabled:
                    raise RpcError(UNKNOWN_METHOD, f"unknown method: {method}")
                if method == control.AUTHENTICATE:
                    return encode_result(request_id, control.authenticate(self, session, params)), events
                control.check_authorized(session, method)
                return self._control(request), events
            if method not in METHOD_PARAMS:
                raise RpcError(UNKNOWN_METHOD, f"unknown method: {method}")
            check_params(method, params)
            if session.limiter is not None and not session.limiter.allow(method, time.monotonic_ns()):
                self.faults.injected["throttle"] += 1
                raise RpcError(THROTTLE_EXCEEDED, "throttle exceeded")
            if method.startswith("private/") and session.session_id is None:
                raise RpcError(NOT_LOGGED_IN, f"not logged in: {method} needs public/login first")
            if method in _ORDER_METHODS:
                injected = self.faults.reject_code()
                if injected is not None:
                    raise RpcError(injected, self.faults.config.reject_message)
            handler = self._handlers.get(method)
            if handler is not None:
                result = handler(session, params)
            else:
                result, events = self.venue.call(method, session.session_id, session.account, params)
            return encode_result(request_id, result), events
        except RpcError as exc:
            return encode_error(request_id, exc.code, exc.message), events
        except Exception:  # a bug must not take the connection down; the client sees a temporary failure
            _log.exception("internal error in %s", method)
            return encode_error(request_id, TEMPORARY_FAILURE, f"temporary failure: internal error in {method}"), []

    async def _control(self, request: Request) -> str:
        try:
            result = await control.handle(self, request.method, request.params)
        except RpcError as exc:
            return encode_error(request.id, exc.code, exc.message)
        return encode_result(request.id, result)

    # -- session methods --------------------------------------------------------------------------------------

    def _login(self, session: Session, params: dict[str, Any]) -> dict[str, str]:
        key = self.auth.verify(params["token"], time.time())
        account = params.get("account", key.account_number)
        if account != key.account_number:
            raise RpcError(28, f"unauthorized: key {key.kid} may not use account {account}")
        if session.session_id is not None:
            if session.account != account:
                raise RpcError(INVALID_REQUEST, f"already logged in to {session.account}; reconnect to switch")
            return {"account_number": account}
        session.account = account
        session.session_id = self.venue.open_session(account)
        self.hub.bind_session(session, session.session_id, account)
        return {"account_number": account}

    def _set_cod(self, session: Session, params: dict[str, Any]) -> dict[str, int]:
        timeout = params["timeout_secs"]
        if timeout <= 0:
            raise RpcError(INVALID_REQUEST, f"invalid params: `timeout_secs` must be > 0, was {timeout}")
        assert session.session_id is not None
        result, events = self.venue.call(
            "private/set_cancel_on_disconnect", session.session_id, session.account, params
        )
        self.hub.route(events)
        session.cod_timeout_s = float(timeout)
        rate = session.limiter.enable_cod(time.monotonic_ns()) if session.limiter is not None else None
        if isinstance(result, dict) and rate is not None:
            result = {**result, "message_rate": rate}
        return result if isinstance(result, dict) else {"message_rate": rate or 0}

    def _subscribe(self, session: Session, channels: list[str], allow_private: bool) -> list[str]:
        accepted: list[str] = []
        for name in channels:
            channel = self.venue.parse_channel(name)
            if channel is None or (channel.private and not allow_private):
                continue
            self._add(session, channel)
            accepted.append(name)
        return accepted

    def _add(self, session: Session, channel: Channel) -> None:
        self.hub.subscribe(session, channel)

    def _portfolio(self, session: Session, params: dict[str, Any]) -> list[dict[str, object]]:
        """``private/portfolio``, here rather than in the venue: the ``portfolio_lag_ms`` fault is the server's."""
        assert session.account is not None  # private: logged in
        return self.venue.portfolio(session.account, self.faults.config.portfolio_lag_ms / 1000.0)

    def _public_subscribe(self, session: Session, params: dict[str, Any]) -> list[str]:
        return self._subscribe(session, params["channels"], allow_private=False)

    def _private_subscribe(self, session: Session, params: dict[str, Any]) -> list[str]:
        return self._subscribe(session, params["channels"], allow_private=True)

    def _unsubscribe(self, session: Session, params: dict[str, Any]) -> list[str]:
        return [name for name in params["channels"] if self.hub.unsubscribe(session, name)]

    # -- background loops -------------------------------------------------------------------------------------

    async def _market_loop(self) -> None:
        interval_s = self.config.market_step_ms / 1000.0
        while True:
            events = self.venue.step_market()
            self.hub.route(events)
            self.hub.market_changed()
            self.hub.flush()
            await asyncio.sleep(interval_s)

    async def _feed_timer(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self.hub.flush()

    async def _summary_loop(self) -> None:
        interval_s = self.config.summary_period_ms / 1000.0
        while True:
            await asyncio.sleep(interval_s)
            self.hub.publish_summaries()

    async def _cod_watchdog(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            now_s = time.monotonic()
            for session in list(self.sessions):
                timeout = session.cod_timeout_s
                if timeout is not None and now_s - session.ws.last_rx_s > timeout:
                    _log.info("cancel-on-disconnect: session %s silent > %s s", session.session_id, timeout)
                    self._end_session(session)
                    await session.ws.close(1008, "heartbeat timeout (cancel_on_disconnect)")


def _log_task_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("emulator task %s failed", task.get_name(), exc_info=task.exception())
