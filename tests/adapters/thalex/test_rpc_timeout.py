"""Request timeouts over a real websocket: a server that never answers."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.server import ServerConnection, serve

from thalex_modular.platform.adapters.exchanges.thalex.config import RateLimitConfig
from thalex_modular.platform.adapters.exchanges.thalex.errors import ExchangeConnectionError, RpcTimeoutError
from thalex_modular.platform.adapters.exchanges.thalex.rpc import RpcConnection
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import LocalTokenBuckets
from thalex_modular.platform.adapters.live_clock import LiveClock


async def _silent(ws: ServerConnection) -> None:
    async for _ in ws:  # read every request, answer none
        pass


async def test_an_unanswered_request_times_out_and_drops_the_connection() -> None:
    async with serve(_silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        conn = await RpcConnection.open(
            f"ws://127.0.0.1:{port}",
            clock=LiveClock(),
            mono_ns=time.monotonic_ns,
            tokens=LocalTokenBuckets(RateLimitConfig(), time.monotonic_ns()),
            handlers={},
            request_timeout_s=0.4,
            connect_timeout_s=2.0,
            ping_interval_s=5.0,
            user_agent="test",
        )
        replies: list[Exception | None] = []
        sent = await conn.request("public/ping", {}, lambda _r, error, _ts: replies.append(error))
        assert sent
        started = time.monotonic()
        # Act
        with pytest.raises(RpcTimeoutError, match=r"public/time: no reply within 0\.2 s"):
            await conn.call("public/time", timeout_s=0.2)
        waited = time.monotonic() - started
        # Assert: the short request timed out after its own timeout (within one sweep); the connection is dropped,
        # so the other request is resolved with a connection error, never left hanging
        assert 0.2 <= waited < 0.2 + 0.1 + 0.2
        await asyncio.wait_for(conn.wait_closed(), 2.0)
        assert len(replies) == 1 and isinstance(replies[0], ExchangeConnectionError)
