"""Shared kit of the tests that talk to the emulator (importable as ``exchange_kit``): emulator accounts, the run
config of a test, a bare JSON-RPC client (control API, another trader of the account, the exchange's view), polling
helpers."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from thalex_modular.deployment.config import RunConfig, load_run_config
from thalex_modular.deployment.instrument_runtime import InstrumentRuntime
from thalex_modular.emulator.auth import make_token
from thalex_modular.emulator.server import EmulatorServer
from thalex_modular.platform.domain.enums import Side

START_S = 1_733_011_200.0  # 2024-12-01T00:00:00Z: fixed sim start, reproducible market
NAME = "BTC-PERPETUAL"


@dataclass(frozen=True)
class Account:
    """A registered emulator key: the account, the key id, the private key file and its PEM."""

    account: str
    kid: str
    key_path: Path
    private_key_pem: str


Accounts = tuple[Path, list[Account]]
EmulatorFactory = Callable[..., Awaitable[EmulatorServer]]


def run_config(server: EmulatorServer, mode: str, account: Account | None = None, **flags: Any) -> RunConfig:
    env = {}
    if account is not None:
        env = {"THALEX_KEY_ID": account.kid, "THALEX_PRIVATE_KEY_PATH": str(account.key_path)}
    base: dict[str, Any] = {"mode": mode, "network": "local", "connection.emulator_url": server.url}
    base.update(flags)
    return load_run_config(None, env, base)


class Raw:
    """A bare JSON-RPC websocket client (control API, a second trader, the exchange's view of our account)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, url: str, account: Account | None = None) -> Raw:
        raw = cls(await connect(url, compression=None))
        if account is not None:
            await raw.call("public/login", token=make_token(account.kid, account.private_key_pem, time.time()))
        return raw

    @classmethod
    async def control(cls, server: EmulatorServer) -> Raw:
        """A client of ``server``'s control API (it presented the control token)."""
        raw = await cls.open(server.url)
        await raw.call("emulator/authenticate", token=server.control_token)
        return raw

    async def request(self, method: str, **params: Any) -> dict[str, Any]:
        """The whole reply (``result`` or ``error``)."""
        request_id = next(self._ids)
        await self.ws.send(json.dumps({"method": method, "params": params, "id": request_id}))
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 5.0))
            if message.get("id") == request_id:
                return message

    async def call(self, method: str, **params: Any) -> Any:
        message = await self.request(method, **params)
        assert "result" in message, f"{method}: {message}"
        return message["result"]

    async def close(self) -> None:
        await self.ws.close()


async def raw_positions(client: Raw) -> dict[str, float]:
    """The account's positions per ``private/portfolio``, read by a bare client."""
    return {e["instrument_name"]: e["position"] for e in await client.call("private/portfolio")}


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], timeout_s: float = 10.0, interval_s: float = 0.05
) -> None:
    """Poll ``check`` every ``interval_s`` until it holds (a check that calls the exchange: mind its rate limit)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(interval_s)


def own(runtime: InstrumentRuntime, side: Side | None = None) -> list[float]:
    """Prices of our open orders as the tracker holds them."""
    orders = runtime.service.core.tracker.open_orders(NAME)
    return sorted(o.price for o in orders if side is None or o.side is side)
