"""API under load: a shadow deployment of BTC-PERPETUAL and ETH-PERPETUAL on the emulator with its Serve API, first
quiet, then with 50 SSE clients (5 of them never reading) and 200 REST requests/s.

Starts ``platform emulator`` in a subprocess and a local Ray instance here (2 CPUs, no dashboard), deploys through
the Controller as ``platform deploy`` does, starts the API (one replica, loopback), lets it quote for ``--warmup-s``,
then measures ``--seconds`` without load and ``--seconds`` with it.

Prints ``sse_event_lag_p99_ms`` (an event's own timestamp in its actor to a reading client parsing it: includes the
actor's report interval of 250 ms; target <= 250), ``rest_p99_ms`` (one GET, sent to received; target <= 50),
``tick_to_quote_p99_ms`` without load and ``tick_to_quote_p99_ms_under_load`` with it and their ratio
``tick_to_quote_p99_ratio`` (target <= 1.2), ``api_rss_growth_mb`` (the API replica's and Serve proxy's resident
memory at the end of the loaded run minus at its start; target <= 50), and counts (``rest_requests``,
``rest_errors``, ``sse_events``, ``sse_gaps``, ``sse_stuck_clients``).

Run: ``.venv/bin/python benchmarks/api_load.py [--seconds 30] [--warmup-s 10] [--rps 200] [--sse-clients 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import httpx
import ray

from thalex_modular.deployment.api.app import ApiOptions
from thalex_modular.deployment.api.auth import ensure_token_file
from thalex_modular.deployment.api.serve_app import start_api, stop_api
from thalex_modular.deployment.config import ApiSettings, load_run_config
from thalex_modular.deployment.deployment_book import DeploySpec
from thalex_modular.deployment.instrument_runtime import compile_tick_path
from thalex_modular.deployment.ray.cluster import free_port
from thalex_modular.deployment.ray.controller import Controller
from thalex_modular.deployment.ray.names import instrument_actor
from thalex_modular.deployment.snapshots import InstrumentState
from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.process import emulator_process

INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
NAMESPACE = "thalex-modular-bench"
STREAMS = ["equity", "fills", "quotes", "regime"]
STUCK = 5


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def api_pids() -> list[int]:
    """The Serve proxy's and the API replica's processes (asked of the actors themselves: no dashboard here)."""
    pids = []
    for named in ray.util.list_named_actors(all_namespaces=True):
        name = named["name"]
        if name.startswith("SERVE_PROXY_ACTOR") or name.startswith("SERVE_REPLICA::thalex-api"):
            actor = ray.get_actor(name, namespace=named["namespace"])
            pids.append(ray.get(actor.__ray_call__.remote(lambda self: os.getpid()), timeout=30))
    return pids


async def tick_to_quote(actors: list[Any], seconds: float) -> np.ndarray:
    start = [await a.counters.remote() for a in actors]
    await asyncio.sleep(seconds)
    end = [await a.counters.remote((s["tick_to_quote_count"], s["feed_lag_count"]))
           for a, s in zip(actors, start, strict=True)]
    return np.array([v for e in end for v in e["tick_to_quote_ms"]] or [np.nan])


async def sse_reader(url: str, lags_ms: list[float], counts: dict[str, int], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=None) as client:
        last_id: str | None = None
        while not stop.is_set():
            headers = {} if last_id is None else {"Last-Event-ID": last_id}
            async with client.stream("GET", url, headers=headers) as response:
                buffer = ""
                async for chunk in response.aiter_text():
                    now_ns = time.time_ns()
                    buffer += chunk
                    while "\n\n" in buffer:
                        frame, buffer = buffer.split("\n\n", 1)
                        fields = dict(line.partition(": ")[::2] for line in frame.split("\n"))
                        if fields.get("event") == "gap":
                            counts["gaps"] += 1
                        elif "id" in fields:
                            last_id = fields["id"]
                            lags_ms.append((now_ns - json.loads(fields["data"])["ts_ns"]) / 1e6)
                            counts["events"] += 1
                    if stop.is_set():
                        return


def stuck_client(base: str, stream: str) -> socket.socket:
    """A client that asks for a stream with a large backlog and never reads a byte."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /api/v1/stream/{stream}?backlog=10000 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return sock


async def rest_load(base: str, rps: float, latencies_ms: list[float], errors: list[int], stop: asyncio.Event) -> None:
    paths = itertools.cycle(
        ["/api/v1/health", "/api/v1/instruments", "/api/v1/account"]
        + [f"/api/v1/instruments/{i}/{what}" for i in INSTRUMENTS
           for what in ("market", "portfolio", "orders", "fills")]
    )
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=10.0, limits=limits) as client:
        async def one(path: str) -> None:
            started = time.perf_counter()
            try:
                response = await client.get(path)
                if response.status_code != 200:
                    errors.append(response.status_code)
            except httpx.HTTPError:
                errors.append(-1)
            latencies_ms.append((time.perf_counter() - started) * 1e3)

        tasks: set[asyncio.Task[None]] = set()
        interval = 1.0 / rps
        next_at = time.perf_counter()
        while not stop.is_set():
            task = asyncio.create_task(one(next(paths)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*tasks)


def load_process(base: str, args: argparse.Namespace, results: Any) -> None:
    """The clients, in their own process (like users on other machines; this one measures): SSE readers, stuck
    clients and the REST load for 2 s of connecting plus ``args.seconds``; results go to ``results``."""

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        lags_ms: list[float] = []
        counts = {"events": 0, "gaps": 0}
        rest_ms: list[float] = []
        errors: list[int] = []
        stuck = [stuck_client(base, "quotes") for _ in range(STUCK)]
        readers = [asyncio.create_task(sse_reader(f"{base}/api/v1/stream/{STREAMS[i % 4]}", lags_ms, counts, stop))
                   for i in range(args.sse_clients - STUCK)]
        load = asyncio.create_task(rest_load(base, args.rps, rest_ms, errors, stop))
        await asyncio.sleep(2.0 + args.seconds)
        stop.set()
        await load
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for sock in stuck:
            sock.close()
        return {"lags_ms": lags_ms, "rest_ms": rest_ms, "errors": len(errors), **counts}

    results.put(asyncio.run(main()))


async def run(url: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    import multiprocessing

    config = load_run_config(None, {}, {"mode": "shadow", "network": "local", "connection.emulator_url": url,
                                        "options_vol.enabled": False})
    controller = ray.remote(Controller).options(name="controller", namespace=NAMESPACE, num_cpus=0,
                                                max_concurrency=1000).remote(
        DeploySpec.of(config, INSTRUMENTS, persistence=False), NAMESPACE, "controller")
    await controller.deploy.remote()
    settings = ApiSettings()
    token_file = ensure_token_file(settings, {}, tmp / "api_token")
    base = start_api(ApiOptions("controller", NAMESPACE, str(token_file), settings), port=free_port())
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(s.state is InstrumentState.QUOTING for s in await controller.status.remote()):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.warmup_s)
        actors = [ray.get_actor(instrument_actor(n), namespace=NAMESPACE) for n in INSTRUMENTS]
        print("api_load: quiet run", file=sys.stderr, flush=True)
        quiet = await tick_to_quote(actors, args.seconds)

        print("api_load: loaded run", file=sys.stderr, flush=True)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        clients = context.Process(target=load_process, args=(base, args, results), daemon=True)
        clients.start()
        await asyncio.sleep(2.0)  # everyone connected
        pids = api_pids()
        assert len(pids) == 2, f"expected the Serve proxy and the API replica, found {pids}"
        rss_start = sum(rss_mb(p) for p in pids)
        loaded = await tick_to_quote(actors, args.seconds)
        rss_end = sum(rss_mb(p) for p in pids)
        load = await asyncio.to_thread(results.get, True, 120)
        clients.join(10)
    finally:
        stop_api()
        await controller.stop.remote(30.0)
        ray.kill(controller)
    quiet_p99 = float(np.percentile(quiet, 99))
    loaded_p99 = float(np.percentile(loaded, 99))
    return {
        "sse_event_lag_p50_ms": float(np.percentile(load["lags_ms"], 50)),
        "sse_event_lag_p99_ms": float(np.percentile(load["lags_ms"], 99)),
        "rest_p50_ms": float(np.percentile(load["rest_ms"], 50)),
        "rest_p99_ms": float(np.percentile(load["rest_ms"], 99)),
        "tick_to_quote_p99_ms": quiet_p99,
        "tick_to_quote_p99_ms_under_load": loaded_p99,
        "tick_to_quote_p99_ratio": loaded_p99 / quiet_p99,
        "api_rss_growth_mb": rss_end - rss_start,
        "rest_requests": len(load["rest_ms"]),
        "rest_achieved_rps": len(load["rest_ms"]) / (args.seconds + 2.0),
        "rest_errors": load["errors"],
        "sse_events": load["events"],
        "sse_gaps": load["gaps"],
        "sse_stuck_clients": STUCK,
    }


async def main_async(args: argparse.Namespace) -> int:
    compile_tick_path()
    with tempfile.TemporaryDirectory() as tmp:
        keygen_to_dir(Path(tmp) / "keys", "A000000052", shared_keys_json=Path(tmp) / "keys.json")
        async with emulator_process(Path(tmp), Path(tmp) / "keys.json", {"seed": 5}) as url:
            ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2,
                     namespace=NAMESPACE, log_to_driver=False)
            try:
                figures = await run(url, args, Path(tmp))
            finally:
                ray.shutdown()
    for name, value in figures.items():
        print(f"{name}={value:.3f}" if isinstance(value, float) else f"{name}={value}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--sse-clients", type=int, default=50)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
