"""The wire-latency probe (control API): a pinned ticker goes to subscribers at once, the next order request is
stamped, the periodic refresh of the pinned ticker stops; without the control API the method does not exist."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from emu_client import Credentials, RpcClient, control_client, logged_in, make_config

from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERP = "BTC-PERPETUAL"
CHANNEL = f"ticker.{PERP}.raw"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fast_market(key_files: tuple[Path, list[Credentials]]) -> AsyncIterator[EmulatorServer]:
    server: EmulatorServer = build_server(make_config(key_files[0], market_step_ms=20.0))
    await server.start()
    yield server
    await server.stop()


async def test_probe_pins_the_ticker_and_times_the_next_order_request(
    fast_market: EmulatorServer, creds: list[Credentials]
) -> None:
    # Arrange: a trader subscribed to the raw ticker, and a control client
    trader = await logged_in(fast_market, creds[0])
    await trader.result("public/subscribe", channels=[CHANNEL])
    mark = float((await trader.wait_for(CHANNEL))["notification"]["mark_price"])
    control = await control_client(fast_market)
    bid, ask = float(int(mark) - 50), float(int(mark) + 50)

    # Act: probe, and answer the probed ticker with an order as a quoter would
    probe = asyncio.create_task(
        control.result(
            "emulator/probe_ticker", instrument_name=PERP, best_bid_price=bid, best_ask_price=ask,
            mark_price=bid + 50, expect_requests=1, timeout_ms=3000,
        )
    )
    seen = await trader.wait_for(CHANNEL, lambda n: n["best_bid_price"] == bid)
    await trader.result("private/buy", instrument_name=PERP, amount=0.01, price=bid - 100)
    result = await probe

    # Assert: the ticker carried the probe's values, the request was stamped after the send
    assert seen["notification"]["best_ask_price"] == ask and seen["notification"]["mark_price"] == bid + 50
    assert result["recipients"] == 1
    [request] = result["requests"]
    assert request["method"] == "private/buy"
    assert request["latency_ns"] == request["arrival_ns"] - result["sent_ns"] > 0
    # the market loop (every 20 ms) no longer refreshes the pinned ticker; public/ticker shows the pinned values
    trader.notifications.clear()
    await asyncio.sleep(0.2)
    assert not [n for n in trader.notifications if n["channel_name"] == CHANNEL]
    assert (await trader.result("public/ticker", instrument_name=PERP))["best_bid_price"] == bid

    # a probe nobody answers times out with no requests; release resumes the normal feed
    quiet = await control.result(
        "emulator/probe_ticker", instrument_name=PERP, best_bid_price=bid + 1, best_ask_price=ask,
        mark_price=bid + 50, timeout_ms=50,
    )
    assert quiet["requests"] == [] and quiet["recipients"] == 1
    assert await control.result("emulator/probe_release", instrument_name=PERP) == {"released": True}
    resumed = await trader.wait_for(CHANNEL, lambda n: n["best_bid_price"] != bid + 1, timeout_s=2.0)
    assert resumed["notification"]["best_bid_price"] == bid - 100  # the engine's book again: our own bid
    await trader.result("private/cancel_all")
    for client in (trader, control):
        await client.close()


async def test_probe_counts_only_the_requests_of_the_sessions_it_wrote_to(
    fast_market: EmulatorServer, creds: list[Credentials]
) -> None:
    # Arrange: a subscriber of the probed ticker, and another trader who is not subscribed
    subscriber = await logged_in(fast_market, creds[0])
    await subscriber.result("public/subscribe", channels=[CHANNEL])
    mark = float((await subscriber.wait_for(CHANNEL))["notification"]["mark_price"])
    other = await logged_in(fast_market, creds[1])
    control = await control_client(fast_market)
    bid, ask = float(int(mark) - 60), float(int(mark) + 60)

    # Act: the other trader sends an order first, then the subscriber answers the probe
    probe = asyncio.create_task(
        control.result(
            "emulator/probe_ticker", instrument_name=PERP, best_bid_price=bid, best_ask_price=ask,
            mark_price=bid + 60, expect_requests=1, timeout_ms=3000,
        )
    )
    await subscriber.wait_for(CHANNEL, lambda n: n["best_bid_price"] == bid)
    await other.result("private/buy", instrument_name=PERP, amount=0.01, price=bid - 200)
    await subscriber.result("private/sell", instrument_name=PERP, amount=0.01, price=ask + 200)
    result = await probe

    # Assert: only the subscriber's request was recorded
    assert [r["method"] for r in result["requests"]] == ["private/sell"]
    assert await control.result("emulator/probe_release", instrument_name=PERP) == {"released": True}
    for client in (subscriber, other):
        await client.result("private/cancel_all")
    for client in (subscriber, other, control):
        await client.close()


async def test_probe_rejects_bad_params(fast_market: EmulatorServer) -> None:
    control = await control_client(fast_market)
    crossed = await control.call(
        "emulator/probe_ticker", instrument_name=PERP, best_bid_price=101.0, best_ask_price=100.0, mark_price=100.0
    )
    assert crossed["error"]["code"] == 6 and "best_bid_price" in crossed["error"]["message"]
    unknown = await control.call(
        "emulator/probe_ticker", instrument_name="NOPE", best_bid_price=1.0, best_ask_price=2.0, mark_price=1.5
    )
    assert unknown["error"]["code"] == 5
    await control.close()


async def test_probe_is_an_unknown_method_without_the_control_api(key_files: tuple[Path, list[Credentials]]) -> None:
    server = build_server(make_config(key_files[0], control_enabled=False))
    await server.start()
    try:
        client = await RpcClient.open(server.url)
        reply = await client.call(
            "emulator/probe_ticker", instrument_name=PERP, best_bid_price=1.0, best_ask_price=2.0, mark_price=1.5
        )
        assert reply["error"]["code"] == 31
        assert not server.probe.armed and server.venue.ticker_overrides == {}
        await client.close()
    finally:
        await server.stop()
