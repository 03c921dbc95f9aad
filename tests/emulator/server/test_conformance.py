"""Every reply and notification type the emulator produces validates against api.yaml / ws_spec.json."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from emu_client import Credentials, RpcClient, control_client, logged_in, make_config
from schemas import SPEC_DIR, notification_errors, response_errors, template_of

from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(not (SPEC_DIR / "api.yaml").exists(), reason=f"Thalex spec not found at {SPEC_DIR}"),
]

PERP = "BTC-PERPETUAL"
START_S = 1_733_011_200


async def _exercise(emulator: EmulatorServer, creds: list[Credentials]) -> list[RpcClient]:
    maker = await logged_in(emulator, creds[0])
    taker = await logged_in(emulator, creds[1])
    watcher = await control_client(emulator)
    option = next(i["instrument_name"] for i in await watcher.result("public/instruments") if i["type"] == "option")
    future = next(i["instrument_name"] for i in await watcher.result("public/instruments") if i["type"] == "future")
    private = [
        "session.orders",
        "account.orders",
        "account.persistent_orders",
        "account.portfolio",
        "account.trade_history",
        "account.summary",
        "session.mm_protection",
    ]
    public = [
        f"ticker.{PERP}.raw",
        f"ticker.{option}.raw",
        f"lwt.{PERP}.raw",
        f"lwt.{option}.raw",
        f"book.{PERP}.none.10.raw",
        f"book.{PERP}.10.all.raw",
        f"recent_trades.{PERP}.single",
        "recent_trades.BTCUSD.all",
        "price_index.BTCUSD",
        "instruments",
        "system",
    ]
    await maker.result("private/set_cancel_on_disconnect", timeout_secs=30)
    await maker.result("private/subscribe", channels=private)
    await watcher.result("public/subscribe", channels=public)
    await watcher.call("unsubscribe", channels=["system"])
    await watcher.result("public/subscribe", channels=["system"])

    for method, params in [
        ("public/instruments", {}),
        ("public/all_instruments", {}),
        ("public/instrument", {"instrument_name": option}),
        ("public/instrument", {"instrument_name": future}),
        ("public/ticker", {"instrument_name": PERP}),
        ("public/ticker", {"instrument_name": option}),
        ("public/index", {"underlying": "BTCUSD"}),
        ("public/book", {"instrument_name": PERP}),
        ("public/system_info", {}),
        ("public/mark_price_historical_data", {"instrument_name": PERP, "resolution": "1m"}),
        ("public/mark_price_historical_data", {"instrument_name": future, "resolution": "1h"}),
        ("public/mark_price_historical_data", {"instrument_name": option, "resolution": "5m"}),
        ("public/index_price_historical_data", {"index_name": "BTCUSD", "resolution": "1m"}),
    ]:
        if "resolution" in params:
            params = {**params, "from": START_S - 600, "to": START_S}
        await watcher.call(method, **params)

    mark = float((await maker.result("public/ticker", instrument_name=PERP))["mark_price"])
    price = float(int(mark))
    order = await maker.result(
        "private/insert", direction="sell", instrument_name=PERP, amount=0.05, price=price, client_order_id=1, label="c"
    )
    await maker.call("private/amend", order_id=order["order_id"], price=price + 2, amount=0.04)
    await taker.call("private/buy", instrument_name=PERP, amount=0.01, price=price + 2, label="hit")
    await taker.call("private/sell", instrument_name=PERP, amount=0.01, order_type="market")
    await maker.call("private/set_mm_protection", product="FBTCUSD", trade_amount=0.5, quote_amount=1.0)
    await maker.call(
        "private/mass_quote",
        quotes=[{"i": PERP, "b": [[price - 10, 0.1], [price - 11, 0.1]], "a": {"p": price + 10, "a": 0.1}}],
        label="mq",
    )
    await taker.call("private/sell", instrument_name=PERP, amount=0.02, price=price - 10)
    await maker.call("private/cancel_mass_quote", product="FBTCUSD")
    for method in ("private/portfolio", "private/open_orders", "private/account_summary"):
        await maker.call(method)
    await maker.call("private/order_history", limit=10)
    await maker.call("private/trade_history", sort="ascending")
    await maker.call("private/cancel", client_order_id=1)
    await maker.call("private/cancel", client_order_id=1)  # error 1
    await maker.call("private/buy", instrument_name=PERP, amount=0.01, price=price - 50)
    await maker.call("private/cancel_all")
    await taker.call("private/cancel_all")
    await maker.call("private/buy", instrument_name=PERP, amount=0.01, price=price - 60)
    await maker.call("private/cancel_session")
    await watcher.call("emulator/system_reconnect")
    emulator.hub.publish_summaries()
    await asyncio.sleep(0.3)  # let the raw feeds flush
    return [maker, taker, watcher]


async def test_every_message_conforms(emulator: EmulatorServer, creds: list[Credentials]) -> None:
    clients = await _exercise(emulator, creds)
    failures: list[str] = []
    methods: set[str] = set()
    channels: set[str] = set()
    for client in clients:
        for method, reply in client.exchanges:
            if method.startswith("emulator/"):
                continue
            methods.add(method)
            failures += [f"{method}: {e}" for e in response_errors(method, reply)]
        for message in client.all_notifications:
            channels.add(template_of(message["channel_name"])[0])
            failures += [f"{message['channel_name']}: {e}" for e in notification_errors(message)]
    assert not failures, "\n".join(failures[:40])
    # the scenario really produced each kind
    assert {"private/insert", "private/amend", "private/mass_quote", "private/cancel_session"} <= methods
    assert {
        "session.orders",
        "account.orders",
        "account.persistent_orders",
        "account.portfolio",
        "account.trade_history",
        "account.summary",
        "session.mm_protection",
        "ticker.<instrument>.<delay>",
        "lwt.<instrument>.<delay>",
        "book.<instrument>.<grouping>.<nlevels>.<delay>",
        "recent_trades.<target>.<category>",
        "price_index.<underlying>",
        "instruments",
        "system",
    } <= channels
    for client in clients:
        await client.close()


async def test_market_activity_with_flow_agents_conforms(key_files: tuple[Path, list[Credentials]]) -> None:
    server: EmulatorServer = build_server(make_config(key_files[0], flow_agents=True, speed=5.0))
    await server.start()
    try:
        client = await RpcClient.open(server.url)
        instruments = await client.result("public/instruments")
        option = next(i["instrument_name"] for i in instruments if i["type"] == "option")
        channels = [
            f"ticker.{PERP}.100ms",
            f"ticker.{option}.raw",
            f"lwt.{option}.raw",
            f"book.{PERP}.none.all.raw",
            f"book.{option}.none.5.200ms",
            "recent_trades.BTCUSD.all",
            "recent_trades.BTCUSD.options",
            "price_index.ETHUSD",
        ]
        assert await client.result("public/subscribe", channels=channels) == channels
        await asyncio.sleep(2.0)
        await client.call("public/ticker", instrument_name=option)
        await client.call("public/book", instrument_name=PERP)
        failures = [f"{m['channel_name']}: {e}" for m in client.all_notifications for e in notification_errors(m)] + [
            f"{method}: {e}" for method, reply in client.exchanges for e in response_errors(method, reply)
        ]
        assert not failures, "\n".join(failures[:40])
        books = [m for m in client.all_notifications if m["channel_name"] == f"book.{PERP}.none.all.raw"]
        assert len(books) > 1 and books[0].get("snapshot") is True and books[0]["notification"]["bid_changes"]
        await client.close()
    finally:
        await server.stop()
