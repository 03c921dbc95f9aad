"""The official ``thalex`` PyPI client trades against the emulator: login, subscribe, insert, amend, cancel, and it
receives session.orders, account.portfolio and trade notifications. Its ``Network`` enum holds fixed URLs; the
client only reads ``network.value``, so a namespace with the emulator URL points it at us."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
import thalex
from emu_client import Credentials

from thalex_modular.emulator.server import EmulatorServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERP = "BTC-PERPETUAL"


class Inbox:
    """Reads one official client's messages into replies-by-id and notifications."""

    def __init__(self, client: thalex.Thalex) -> None:
        self.client = client
        self.replies: dict[int, dict[str, Any]] = {}
        self.notes: list[dict[str, Any]] = []

    async def pump_until(self, done: Any, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            remaining = deadline - time.monotonic()
            assert remaining > 0, (
                f"timed out; replies={list(self.replies)} notes={[n['channel_name'] for n in self.notes]}"
            )
            message = json.loads(await asyncio.wait_for(self.client.receive(), remaining))
            if "channel_name" in message:
                self.notes.append(message)
            else:
                self.replies[message["id"]] = message

    async def result(self, request_id: int) -> Any:
        await self.pump_until(lambda: request_id in self.replies)
        reply = self.replies[request_id]
        assert "result" in reply, reply
        return reply["result"]

    def seen(self, channel: str, predicate: Any = None) -> bool:
        return any(
            n["channel_name"] == channel and (predicate is None or predicate(n["notification"])) for n in self.notes
        )


async def _connect(emulator: EmulatorServer, cred: Credentials) -> Inbox:
    client = thalex.Thalex(network=SimpleNamespace(value=emulator.url))  # type: ignore[arg-type]
    await client.connect()
    assert client.connected()
    inbox = Inbox(client)
    await client.login(cred.kid, cred.private_key_pem, id=1)
    assert await inbox.result(1) == {"account_number": cred.account}
    return inbox


async def test_official_client_full_cycle(emulator: EmulatorServer, creds: list[Credentials]) -> None:
    maker = await _connect(emulator, creds[0])
    taker = await _connect(emulator, creds[1])
    tlx = maker.client
    await tlx.set_cancel_on_disconnect(6, id=2)
    assert (await maker.result(2))["message_rate"] > 0
    await tlx.private_subscribe(["session.orders", "account.portfolio", "account.trade_history"], id=3)
    assert len(await maker.result(3)) == 3
    await tlx.public_subscribe([f"recent_trades.{PERP}.single"], id=4)
    assert await maker.result(4) == [f"recent_trades.{PERP}.single"]
    await tlx.ticker(PERP, id=5)
    price = float(int((await maker.result(5))["mark_price"]))

    await tlx.insert(
        direction=thalex.Direction.SELL,
        instrument_name=PERP,
        amount=0.02,
        price=price,
        client_order_id=100,
        label="official",
        id=6,
    )
    order = await maker.result(6)
    assert order["status"] == "open" and order["persistent"] is False
    await tlx.amend(amount=0.03, price=price + 1, client_order_id=100, id=7)
    assert (await maker.result(7))["price"] == price + 1

    await taker.client.insert(direction=thalex.Direction.BUY, instrument_name=PERP, amount=0.01, price=price + 1, id=8)
    assert (await taker.result(8))["status"] == "filled"
    await maker.pump_until(
        lambda: (
            maker.seen("session.orders", lambda n: any(o["change_reason"] == "fill" for o in n))
            and maker.seen("account.portfolio", lambda n: any(e["instrument_name"] == PERP for e in n))
            and maker.seen("account.trade_history")
            and maker.seen(f"recent_trades.{PERP}.single", lambda n: len(n) > 0)
        )
    )
    await tlx.cancel(client_order_id=100, id=9)
    cancelled = await maker.result(9)
    assert cancelled["delete_reason"] == "client_cancel" and cancelled["filled_amount"] == 0.01
    await tlx.cancel_session(id=10)
    assert await maker.result(10) is None
    for inbox in (maker, taker):
        await inbox.client.disconnect()
