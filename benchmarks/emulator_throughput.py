"""Emulator throughput: insert+cancel pairs from one client, and ticker fan-out lag to 20 subscribers.

Starts ``platform emulator`` in a subprocess (its own core), then from this process:

1. one logged-in client pipelines ``private/insert`` + ``private/cancel`` (by client_order_id) pairs with a window
   of outstanding requests and prints ``emulator_orders_per_s=<orders per second>`` (each pair = 2 order requests);
2. 20 clients subscribe to ``ticker.BTC-PERPETUAL.raw``; a driver moves the best bid (insert at a new price, then
   cancel) and every subscriber records when it first sees that bid; prints ``ticker_fanout_20_lag_ms_p99=<ms>``.

Run: ``.venv/bin/python benchmarks/emulator_throughput.py [--pairs 5000] [--window 64]``.
Rate limits are disabled in the benchmark's config (they would cap a session at 50 msg/s). The market's flow agents
are off unless ``--flow-agents`` is given; with them on only the orders figure is measured (background quotes move
the top of book, so a ticker update cannot be attributed to the driver's bid).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from thalex_modular.emulator.auth import make_token
from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.process import emulator_process

_INSTRUMENT = "BTC-PERPETUAL"


async def _login(url: str, kid: str, pem: str) -> ClientConnection:
    ws = await connect(url, compression=None, max_queue=None)
    await ws.send(
        json.dumps({"method": "public/login", "params": {"token": make_token(kid, pem, time.time())}, "id": 0})
    )
    reply = json.loads(await ws.recv())
    if "result" not in reply:
        raise RuntimeError(f"login failed: {reply}")
    return ws


async def _mark_price(ws: ClientConnection) -> float:
    await ws.send(json.dumps({"method": "public/ticker", "params": {"instrument_name": _INSTRUMENT}, "id": 1}))
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("id") == 1:
            return float(reply["result"]["mark_price"])


async def bench_orders(url: str, kid: str, pem: str, pairs: int, window: int) -> float:
    """Orders per second over ``pairs`` insert+cancel pairs (passive bids far below the mark)."""
    ws = await _login(url, kid, pem)
    price = float(int(await _mark_price(ws) * 0.9))
    decoder = msgspec.json.Decoder()
    encoder = msgspec.json.Encoder()
    done = asyncio.Event()
    received = 0
    errors = 0
    sent = 0
    slots = asyncio.Semaphore(window)

    async def reader() -> None:
        nonlocal received, errors
        async for frame in ws:
            message: dict[str, Any] = decoder.decode(frame)
            if "id" in message and message.get("id") is not None and message["id"] >= 1000:
                received += 1
                if "error" in message:
                    errors += 1
                slots.release()
                if received == 2 * pairs:
                    done.set()
                    return

    task = asyncio.get_running_loop().create_task(reader())
    start = time.perf_counter()
    for i in range(pairs):
        coid = 1000 + i
        insert = {
            "method": "private/insert",
            "params": {
                "direction": "buy",
                "instrument_name": _INSTRUMENT,
                "amount": 0.001,
                "price": price,
                "client_order_id": coid,
            },
            "id": 1000 + 2 * i,
        }
        cancel = {"method": "private/cancel", "params": {"client_order_id": coid}, "id": 1001 + 2 * i}
        await slots.acquire()
        await ws.send(encoder.encode(insert).decode())
        await slots.acquire()
        await ws.send(encoder.encode(cancel).decode())
        sent += 2
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - start
    task.cancel()
    await ws.close()
    if errors:
        raise RuntimeError(f"{errors} of {2 * pairs} order requests failed")
    return 2 * pairs / elapsed


async def bench_fanout(url: str, kid: str, pem: str, subscribers: int, moves: int) -> float:
    """p99 in ms from sending a bid that moves the top to each subscriber seeing it on ticker.<i>.raw."""
    channel = f"ticker.{_INSTRUMENT}.raw"
    driver = await _login(url, kid, pem)
    base = float(int(await _mark_price(driver) * 0.95))
    seen: dict[float, list[float]] = {}
    sent_at: dict[float, float] = {}
    clients = []
    for _ in range(subscribers):
        ws = await connect(url, compression=None, max_queue=None)
        await ws.send(json.dumps({"method": "public/subscribe", "params": {"channels": [channel]}, "id": 1}))
        clients.append(ws)

    async def listen(ws: ClientConnection) -> None:
        first: set[float] = set()
        async for frame in ws:
            message = json.loads(frame)
            if message.get("channel_name") != channel:
                continue
            bid = message["notification"].get("best_bid_price")
            if bid in sent_at and bid not in first:
                first.add(bid)
                seen.setdefault(bid, []).append(time.perf_counter())

    tasks = [asyncio.get_running_loop().create_task(listen(ws)) for ws in clients]
    await asyncio.sleep(0.3)
    for i in range(moves):
        price = base + i  # a new best bid each move (tick 1 USD)
        sent_at[price] = time.perf_counter()
        params = {"direction": "buy", "instrument_name": _INSTRUMENT, "amount": 0.001, "price": price}
        await driver.send(json.dumps({"method": "private/insert", "params": params, "id": 10 + i}))
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.0)
    for task in tasks:
        task.cancel()
    lags = sorted((t - sent_at[p]) * 1000.0 for p, ts in seen.items() for t in ts)
    missing = moves * subscribers - len(lags)
    if missing:
        raise RuntimeError(f"{missing} of {moves * subscribers} ticker updates never arrived")
    await driver.send(json.dumps({"method": "private/cancel_all", "params": {}, "id": 2}))
    for ws in [*clients, driver]:
        await ws.close()
    return lags[min(len(lags) - 1, int(0.99 * len(lags)))]


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        key = keygen_to_dir(Path(tmp))
        config = {"rate_limits": {"enabled": False}, "flow_agents": args.flow_agents}
        async with emulator_process(Path(tmp), Path(tmp) / "keys.json", config) as url:
            orders_per_s = await bench_orders(url, key.kid, key.private_key_pem, args.pairs, args.window)
            print(f"emulator_orders_per_s={orders_per_s:.0f}", flush=True)
            if not args.flow_agents:  # with background flow the top of book cannot be attributed to our bids
                lag_ms = await bench_fanout(url, key.kid, key.private_key_pem, 20, args.moves)
                print(f"ticker_fanout_20_lag_ms_p99={lag_ms:.2f}", flush=True)
    return 0 if orders_per_s >= args.target else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5000, help="insert+cancel pairs (default 5000)")
    parser.add_argument("--window", type=int, default=64, help="outstanding requests (default 64)")
    parser.add_argument("--moves", type=int, default=100, help="best-bid moves for the fan-out test (default 100)")
    parser.add_argument("--target", type=float, default=5000.0, help="orders/s below which the exit code is 1")
    parser.add_argument("--flow-agents", action="store_true", help="run the market's flow agents during the test")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
