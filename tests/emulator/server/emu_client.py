"""A minimal JSON-RPC websocket client for emulator tests: awaits replies by id, keeps notifications."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from thalex_modular.emulator.auth import make_token
from thalex_modular.emulator.config import EmulatorConfig, RateLimitConfig
from thalex_modular.emulator.server import EmulatorServer


class RpcClient:
    """Send ``{"method", "params", "id"}``; :meth:`call` returns the whole reply (``result`` or ``error``)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.notifications: list[dict[str, Any]] = []
        self.all_notifications: list[dict[str, Any]] = []  # never consumed, for conformance checks
        self.exchanges: list[tuple[str, dict[str, Any]]] = []  # (method, reply) of every call
        self.replies: dict[Any, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RpcClient:
        return cls(await connect(url, compression=None, **kwargs))

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                message = json.loads(frame)
                if "channel_name" in message:
                    self.notifications.append(message)
                    self.all_notifications.append(message)
                else:
                    self.replies[message.get("id")] = message
                self._changed.set()

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def reply(self, request_id: Any, timeout_s: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while request_id not in self.replies:
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply to id {request_id!r}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.replies.pop(request_id)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        request_id = next(self._ids)
        await self.ws.send(json.dumps({"method": method, "params": params, "id": request_id}))
        reply = await self.reply(request_id)
        self.exchanges.append((method, reply))
        return reply

    async def result(self, method: str, **params: Any) -> Any:
        reply = await self.call(method, **params)
        assert "result" in reply, f"{method} failed: {reply}"
        return reply["result"]

    async def wait_for(self, channel: str, predicate: Any = None, timeout_s: float = 5.0) -> dict[str, Any]:
        """The first kept notification on ``channel`` matching ``predicate(notification)``; removed from the list."""
        deadline = time.monotonic() + timeout_s
        while True:
            for i, message in enumerate(self.notifications):
                if message["channel_name"] == channel and (predicate is None or predicate(message["notification"])):
                    return self.notifications.pop(i)
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no notification on {channel}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass(frozen=True)
class Credentials:
    """A registered key (kid + private PEM) and the account it logs in to."""

    kid: str
    private_key_pem: str
    account: str

    def token(self) -> str:
        return make_token(self.kid, self.private_key_pem, time.time())


async def logged_in(server: EmulatorServer, cred: Credentials) -> RpcClient:
    """A connected client that has logged in with ``cred`` (and may use the control API when it is on)."""
    client = await control_client(server)
    reply = await client.call("public/login", token=cred.token())
    assert reply.get("result") == {"account_number": cred.account}, reply
    return client


async def control_client(server: EmulatorServer) -> RpcClient:
    """A connected client that presented the control token (when the server has the control API on)."""
    client = await RpcClient.open(server.url)
    if server.control_token is not None:
        assert await client.result("emulator/authenticate", token=server.control_token) == {"control": True}
    return client


START_S = 1_733_011_200.0  # 2024-12-01T00:00:00Z: fixed sim start, so catalogues are reproducible


def make_config(keys_file: Path, **overrides: object) -> EmulatorConfig:
    """Test config: free port, fixed sim start, no flow agents, no rate limits, control API on."""
    base: dict[str, object] = {
        "port": 0,
        "keys_file": keys_file,
        "start_time_s": START_S,
        "flow_agents": False,
        "rate_limits": RateLimitConfig(enabled=False),
        "control_enabled": True,
    }
    base.update(overrides)
    return EmulatorConfig.model_validate(base)
