"""Sessions: rate limits (error 4), cancel-on-disconnect with the ping-aware watchdog, fault injection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from emu_client import Credentials, RpcClient, control_client, logged_in, make_config

from thalex_modular.emulator.config import RateLimitConfig
from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERP = "BTC-PERPETUAL"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def limited(key_files: tuple[Path, list[Credentials]]) -> AsyncIterator[EmulatorServer]:
    limits = RateLimitConfig(persistent_per_s=5, cod_per_s=20, cancel_per_s=100)
    server: EmulatorServer = build_server(make_config(key_files[0], rate_limits=limits))
    await server.start()
    yield server
    await server.stop()


async def _bid_price(client: RpcClient) -> float:
    ticker = await client.result("public/ticker", instrument_name=PERP)
    return float(int(ticker["mark_price"] * 0.99))


async def test_throttle_exceeded_is_error_4_and_cancels_use_their_own_bucket(
    limited: EmulatorServer, creds: list[Credentials]
) -> None:
    client = await logged_in(limited, creds[0])  # login took one token of 5
    await asyncio.sleep(1.0)  # refill
    replies = [await client.call("private/portfolio") for _ in range(8)]
    codes = [r.get("error", {}).get("code") for r in replies]
    assert codes.count(None) == 5 and codes.count(4) == 3
    assert next(r["error"]["message"] for r in replies if "error" in r) == "throttle exceeded"
    assert "result" in await client.call("private/cancel_all")  # cancel bucket still full
    await asyncio.sleep(0.25)
    assert "result" in await client.call("private/portfolio")  # refilled at 5/s
    await client.close()


async def test_cod_switches_rate_and_silent_session_loses_its_orders(
    limited: EmulatorServer, creds: list[Credentials]
) -> None:
    observer = await logged_in(limited, creds[0])
    await observer.result("private/subscribe", channels=["account.orders"])
    await observer.wait_for("account.orders")
    silent = await RpcClient.open(limited.url, ping_interval=None)
    await silent.result("public/login", token=creds[0].token())
    assert await silent.result("private/set_cancel_on_disconnect", timeout_secs=1) == {"message_rate": 20}
    price = await _bid_price(silent)
    order = await silent.result("private/buy", instrument_name=PERP, amount=0.01, price=price)
    assert order["persistent"] is False
    deleted = await observer.wait_for(
        "account.orders", lambda n: n[0]["order_id"] == order["order_id"] and "delete_reason" in n[0], timeout_s=4
    )
    assert deleted["notification"][0]["delete_reason"] == "session_end"
    await asyncio.sleep(0.2)
    assert silent.ws.close_code == 1008
    await observer.close()


async def test_websocket_pings_keep_a_cod_session_alive(limited: EmulatorServer, creds: list[Credentials]) -> None:
    pinging = await RpcClient.open(limited.url, ping_interval=0.3)
    await pinging.result("public/login", token=creds[1].token())
    await pinging.result("private/set_cancel_on_disconnect", timeout_secs=1)
    order = await pinging.result("private/buy", instrument_name=PERP, amount=0.01, price=await _bid_price(pinging))
    await asyncio.sleep(2.0)  # no requests, only ping frames
    orders = await pinging.result("private/open_orders")
    assert order["order_id"] in {o["order_id"] for o in orders}
    assert await pinging.result("private/cancel_session") is None
    assert await pinging.result("private/open_orders") == []
    await pinging.close()


async def test_cancel_session_needs_cod(emulator: EmulatorServer, creds: list[Credentials]) -> None:
    client = await logged_in(emulator, creds[0])
    assert (await client.call("private/cancel_session"))["error"]["code"] == 52
    await client.close()


async def test_fault_injection_rejects_pauses_and_restores(emulator: EmulatorServer, creds: list[Credentials]) -> None:
    client = await logged_in(emulator, creds[0])
    await client.result("private/subscribe", channels=["session.orders"])
    await client.wait_for("session.orders")
    price = await _bid_price(client)
    faults = await client.result("emulator/set_faults", reject_share=1.0, reject_code=20)
    assert faults["reject_share"] == 1.0
    rejected = await client.call("private/buy", instrument_name=PERP, amount=0.01, price=price)
    assert rejected["error"]["code"] == 20
    await client.result("emulator/set_faults", paused_feeds=["session.orders"])
    quiet = await client.result("private/buy", instrument_name=PERP, amount=0.01, price=price)
    await asyncio.sleep(0.2)
    assert not [n for n in client.notifications if n["channel_name"] == "session.orders"]
    await client.result("emulator/set_faults", duplicate_share=1.0)
    await client.result("private/cancel", order_id=quiet["order_id"])
    first = await client.wait_for("session.orders")
    second = await client.wait_for("session.orders")
    assert first == second and first["notification"][0]["delete_reason"] == "client_cancel"
    await client.result("emulator/set_faults")
    status = await client.result("emulator/status")
    assert status["logged_in"] >= 1
    bad = await client.call("emulator/set_faults", reject_share=2.0)
    assert bad["error"]["code"] == 6
    await client.close()


async def test_control_methods_are_unknown_unless_enabled(limited: EmulatorServer) -> None:
    limited.config = limited.config.model_copy(update={"control_enabled": False})
    client = await RpcClient.open(limited.url)
    assert (await client.call("emulator/status"))["error"]["code"] == 31
    await client.close()


async def test_drop_connections_applies_cancel_on_disconnect(
    emulator: EmulatorServer, creds: list[Credentials]
) -> None:
    victim = await logged_in(emulator, creds[1])
    await victim.result("private/set_cancel_on_disconnect", timeout_secs=30)
    await victim.result("private/buy", instrument_name=PERP, amount=0.01, price=await _bid_price(victim))
    admin = await control_client(emulator)
    assert (await admin.result("emulator/drop_connections", account=creds[1].account))["dropped"] == 1
    await asyncio.sleep(0.3)
    assert victim.ws.close_code == 1012
    checker = await logged_in(emulator, creds[1])
    assert await checker.result("private/open_orders") == []
    for c in (admin, checker):
        await c.close()


async def test_response_delay_and_notification_reorder(emulator: EmulatorServer, creds: list[Credentials]) -> None:
    client = await logged_in(emulator, creds[0])
    await client.result("emulator/set_faults", response_delay_ms=150)
    started = asyncio.get_running_loop().time()
    await client.result("public/system_info")
    assert asyncio.get_running_loop().time() - started >= 0.14
    await client.result("private/subscribe", channels=["session.orders"])
    await client.wait_for("session.orders")
    await client.result("emulator/set_faults", reorder_share=1.0)
    price = await _bid_price(client)
    first = await client.result("private/buy", instrument_name=PERP, amount=0.01, price=price, client_order_id=501)
    second = await client.result("private/buy", instrument_name=PERP, amount=0.01, price=price, client_order_id=502)
    await client.result("emulator/set_faults")
    a = await client.wait_for("session.orders")
    b = await client.wait_for("session.orders")
    # the first insert's update was held back and sent after the second one
    assert [a["notification"][0]["order_id"], b["notification"][0]["order_id"]] == [
        second["order_id"],
        first["order_id"],
    ]
    await client.result("private/cancel_all")
    await client.close()
