"""The emulator over a real websocket: login, market data, trading, subscriptions, bad input."""

from __future__ import annotations

import json

import pytest
from emu_client import Credentials, RpcClient, control_client, logged_in
from websockets.asyncio.client import connect

from thalex_modular.emulator.server import EmulatorServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERP = "BTC-PERPETUAL"


async def _mark(client: RpcClient) -> float:
    ticker = await client.result("public/ticker", instrument_name=PERP)
    return float(ticker["mark_price"])


async def test_public_methods_answer_without_login(emulator: EmulatorServer) -> None:
    client = await RpcClient.open(emulator.url)
    instruments = await client.result("public/instruments")
    names = {i["instrument_name"] for i in instruments}
    assert PERP in names and any(i["type"] == "option" for i in instruments)
    assert (await client.result("public/instrument", instrument_name=PERP))["tick_size"] == 1.0
    info = await client.result("public/system_info")
    assert info["environment"] == "testnet" and info["banners"] == []
    index = await client.result("public/index", underlying="BTCUSD")
    assert index["index_name"] == "BTCUSD" and index["price"] > 0
    book = await client.result("public/book", instrument_name=PERP)
    assert set(book) >= {"bids", "asks", "time"}
    ticker = await client.result("public/ticker", instrument_name=PERP)
    assert ticker["collar_low"] < ticker["mark_price"] < ticker["collar_high"]
    history = await client.result(
        "public/index_price_historical_data",
        index_name="BTCUSD",
        **{"from": 1_733_011_200 - 3 * 3600, "to": 1_733_011_200},
        resolution="1h",
    )
    assert len(history["index"]) == 3
    await client.close()


async def test_private_methods_need_login(emulator: EmulatorServer) -> None:
    client = await RpcClient.open(emulator.url)
    reply = await client.call("private/portfolio")
    assert reply["error"]["code"] == 7
    subscribed = await client.result("public/subscribe", channels=["session.orders", f"ticker.{PERP}.raw"])
    assert subscribed == [f"ticker.{PERP}.raw"]  # private channel silently dropped from the public call
    await client.close()


async def test_bad_input_gets_documented_errors_and_connection_stays_up(
    emulator: EmulatorServer, creds: list[Credentials]
) -> None:
    client = await logged_in(emulator, creds[0])
    mark = await _mark(client)
    before = await client.result("public/book", instrument_name=PERP)

    await client.send_raw("{this is not json")
    assert (await client.reply(None))["error"]["code"] == 6
    await client.send_raw('{"method": "private/insert", "params": [1], "id": "x"}')
    assert (await client.reply("x"))["error"]["code"] == 6
    assert (await client.call("private/teleport"))["error"]["code"] == 31
    wrong_type = await client.call("private/buy", instrument_name=PERP, amount="1", price=mark)
    assert wrong_type["error"]["code"] == 6 and "`amount`" in wrong_type["error"]["message"]
    unknown = await client.call("private/buy", instrument_name="BTC-NOPE", amount=0.01, price=mark)
    assert unknown["error"]["code"] == 5
    off_tick = await client.call("private/buy", instrument_name=PERP, amount=0.01, price=int(mark * 0.99) + 0.5)
    assert off_tick["error"]["code"] == 15
    bad_amount = await client.call("private/buy", instrument_name=PERP, amount=0.0015, price=float(int(mark * 0.99)))
    assert bad_amount["error"]["code"] == 14
    assert (await client.call("public/ticker", instrument_name="NOPE"))["error"]["code"] == 5
    assert (await client.call("public/index", underlying="XYZUSD"))["error"]["code"] == 40

    bad_login = await RpcClient.open(emulator.url)
    reply = await bad_login.call("public/login", token="a.b.c")
    assert reply["error"]["code"] == 19
    assert "result" in await bad_login.call("public/system_info")  # still connected
    await bad_login.close()

    after = await client.result("public/book", instrument_name=PERP)
    assert (after["bids"], after["asks"]) == (before["bids"], before["asks"])
    assert "result" in await client.call("private/portfolio")
    await client.close()


async def test_trading_round_trip_with_notifications(emulator: EmulatorServer, creds: list[Credentials]) -> None:
    maker = await logged_in(emulator, creds[0])
    taker = await logged_in(emulator, creds[1])
    channels = ["session.orders", "account.orders", "account.portfolio", "account.trade_history", "account.summary"]
    assert await maker.result("private/subscribe", channels=channels) == channels
    snapshot = await maker.wait_for("session.orders")
    assert snapshot["notification"] == [] and snapshot.get("snapshot") is True
    await maker.wait_for("account.portfolio")
    await maker.wait_for("account.summary")
    book_channel = f"book.{PERP}.none.10.raw"
    assert await taker.result("public/subscribe", channels=[book_channel, f"recent_trades.{PERP}.single"]) == [
        book_channel,
        f"recent_trades.{PERP}.single",
    ]
    assert (await taker.wait_for(book_channel)).get("snapshot") is True

    mark = await _mark(maker)
    price = float(int(mark))
    order = await maker.result(
        "private/insert", direction="sell", instrument_name=PERP, amount=0.02, price=price, client_order_id=7, label="t"
    )
    assert order["status"] == "open" and order["client_order_id"] == 7 and order["label"] == "t"
    update = await maker.wait_for("session.orders", lambda n: n[0]["change_reason"] == "insert")
    assert update["notification"][0]["order_id"] == order["order_id"]
    diff = await taker.wait_for(book_channel, lambda n: n["ask_changes"])
    assert diff["notification"]["ask_changes"] == [[price, 0.02, 0.02]] and "snapshot" not in diff

    amended = await maker.result("private/amend", client_order_id=7, price=price + 1, amount=0.03)
    assert amended["change_reason"] == "amend" and amended["price"] == price + 1 and amended["amount"] == 0.03

    fill = await taker.result("private/buy", instrument_name=PERP, amount=0.01, price=price + 1)
    assert fill["status"] == "filled" and fill["fills"][0]["maker_taker"] == "taker"
    maker_fill = await maker.wait_for("session.orders", lambda n: n[0]["change_reason"] == "fill")
    assert maker_fill["notification"][0]["fills"][0]["maker_taker"] == "maker"
    portfolio = await maker.wait_for("account.portfolio", lambda n: any(e["instrument_name"] == PERP for e in n))
    entry = next(e for e in portfolio["notification"] if e["instrument_name"] == PERP)
    assert entry["position"] == pytest.approx(-0.01)
    trade = await maker.wait_for("account.trade_history")
    assert trade["notification"][0]["direction"] == "sell" and trade["notification"][0]["amount"] == 0.01
    trades = await taker.wait_for(f"recent_trades.{PERP}.single", lambda n: len(n) > 0)
    assert trades["notification"][-1][:3] == [price + 1, 0.01, "buy"]

    cancelled = await maker.result("private/cancel", client_order_id=7)
    assert cancelled["status"] == "cancelled_partially_filled" and cancelled["delete_reason"] == "client_cancel"
    again = await maker.call("private/cancel", client_order_id=7)
    assert again["error"]["code"] == 1
    open_orders = await maker.result("private/open_orders")
    assert all(o["client_order_id"] != 7 for o in open_orders if "client_order_id" in o)
    history = await maker.result("private/trade_history")
    assert any(t["order_id"] == order["order_id"] for t in history["trades"])
    assert await maker.result("unsubscribe", channels=["account.summary", "nope"]) == ["account.summary"]
    # flatten the taker so later tests start from a clean book
    await taker.result("private/cancel_all")
    await maker.result("private/cancel_all")
    await maker.close()
    await taker.close()


async def test_ticker_lwt_and_index_feeds(emulator: EmulatorServer) -> None:
    client = await control_client(emulator)
    channels = [f"ticker.{PERP}.raw", f"lwt.{PERP}.100ms", "price_index.BTCUSD", "instruments", "system"]
    assert await client.result("public/subscribe", channels=channels) == channels
    ticker = await client.wait_for(f"ticker.{PERP}.raw")
    assert {"mark_price", "mark_timestamp", "index", "delta"} <= set(ticker["notification"])
    lwt = await client.wait_for(f"lwt.{PERP}.100ms")
    assert "m" in lwt["notification"]
    assert (await client.wait_for("price_index.BTCUSD"))["notification"]["index_name"] == "BTCUSD"
    instruments = await client.wait_for("instruments")
    assert instruments.get("snapshot") is True and all("added" in d for d in instruments["notification"])
    assert (await client.result("emulator/system_reconnect"))["recipients"] >= 1
    assert (await client.wait_for("system"))["notification"] == {"event": "reconnect"}
    await client.close()


async def test_reply_comes_before_the_notifications_it_caused(
    emulator: EmulatorServer, creds: list[Credentials]
) -> None:
    ws = await connect(emulator.url)
    await ws.send(json.dumps({"method": "public/login", "params": {"token": creds[0].token()}, "id": 1}))
    assert "result" in json.loads(await ws.recv())
    await ws.send(json.dumps({"method": "private/subscribe", "params": {"channels": ["session.orders"]}, "id": 2}))
    frames = [json.loads(await ws.recv()) for _ in range(2)]
    assert {"id", "channel_name"} <= {k for f in frames for k in f}
    await ws.send(json.dumps({"method": "public/ticker", "params": {"instrument_name": PERP}, "id": 3}))
    price = float(int(json.loads(await ws.recv())["result"]["mark_price"] * 0.9))
    params = {"direction": "buy", "instrument_name": PERP, "amount": 0.01, "price": price}
    await ws.send(json.dumps({"method": "private/insert", "params": params, "id": 4}))
    first, second = json.loads(await ws.recv()), json.loads(await ws.recv())
    assert first["id"] == 4 and "result" in first
    assert second["channel_name"] == "session.orders" and second["notification"][0]["change_reason"] == "insert"
    await ws.send(json.dumps({"method": "private/cancel_all", "params": {}, "id": 5}))
    await ws.close()
