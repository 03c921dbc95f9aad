"""Shared kit of the tests that talk to the emulator (importable as ``exchange_kit``): emulator accounts, the run
config of a test, a bare JSON-RPC client (control API, another trader of the account, the exchange's view), polling
helpers."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from thalex_modular.deployment.config import RunConfig, load_run_config
from thalex_modular.deployment.instrument_runtime import InstrumentRuntime
from thalex_modular.emulator.auth import make_token
from thalex_modular.emulator.config import EmulatorConfig
from thalex_modular.emulator.runtime import build_server
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


@asynccontextmanager
async def emulators(keys_json: Path, **defaults: object) -> AsyncIterator[EmulatorFactory]:
    """A factory starting REAL emulators in this process on free loopback ports (``defaults`` then the call's
    overrides as their config); every one started is stopped on exit."""
    servers: list[EmulatorServer] = []

    async def factory(**overrides: object) -> EmulatorServer:
        base: dict[str, object] = {"port": 0, "keys_file": keys_json, "start_time_s": START_S, "seed": 7}
        base.update(defaults)
        base.update(overrides)
        server = build_server(EmulatorConfig.model_validate(base))
        await server.start()
        servers.append(server)
        return server

    try:
        yield factory
    finally:
        for server in servers:
            await server.stop()


def assert_expiries_are_black76(server: EmulatorServer, expiries: Any) -> None:
    """Each expiry's ATM IV and straddle equal Black-76 on the emulator's own chain now (3 %: the vol drifts a
    little in sim seconds)."""
    import numpy as np
    import pytest

    from thalex_modular.emulator.market import black76
    from thalex_modular.emulator.market.pricing import atm_iv, forward_price, years_to_expiry

    model = server.venue.model
    idx = model._indexes["BTCUSD"]
    for e in expiries:
        years = float(years_to_expiry(model.now_ns, e.expiry_ns))
        fwd = float(forward_price(np.asarray(idx.price), idx.u, np.asarray(years)))
        vol = float(atm_iv(idx.u, model.config.smile, np.asarray(idx.vol), np.asarray(years)))
        assert e.atm_iv_annual == pytest.approx(vol, rel=0.03)
        assert e.atm_straddle_usd == pytest.approx(2 * black76.price(fwd, fwd, years, vol, True), rel=0.03)
