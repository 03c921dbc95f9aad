"""API under load: a shadow deployment of BTC-PERPETUAL and ETH-PERPETUAL on the emulator with its Serve API, first
quiet, then with 50 SSE clients (5 of them never reading) and 200 REST requests/s.

Starts ``platform emulator`` in a subprocess and a local Ray instance here (2 CPUs, no dashboard), deploys through
the Controller as ``platform deploy`` does, starts the API (one replica, loopback), lets it quote for ``--warmup-s``,
then measures ``--seconds`` without load and ``--seconds`` with it.

The clients (api_load_clients.py) are one asyncio process on raw sockets, at the instrument actors' niceness (or
``--client-niceness``), on the same two cores: their own CPU use is printed (``load_client_cpu_pct``), as is the API
replica's (``api_cpu_pct``).

Prints ``sse_event_lag_p99_ms`` (an event's own timestamp in its actor to a reading client parsing it: includes the
actor's report interval of 250 ms; target <= 250) and ``sse_event_lag_p99_ms_quiet`` (the same with one reader per
stream and no other load: the pipeline's own floor), ``rest_p99_ms`` (one GET, from when it was due to its last byte:
a request waiting for a free connection counts its wait; target <= 50), ``tick_to_quote_p99_ms`` without load and
``tick_to_quote_p99_ms_under_load`` with it and their ratio ``tick_to_quote_p99_ratio`` (target <= 1.2),
``api_rss_growth_mb`` (the API replica's resident memory at the end of the loaded run minus at its start; target
<= 50), and counts (``rest_requests``, ``rest_achieved_rps``, ``rest_errors``, ``rest_unsent``, ``sse_events``,
``sse_gaps``, ``sse_stuck_clients``).

Run: ``.venv/bin/python benchmarks/api_load.py [--seconds 60] [--warmup-s 10] [--rps 200] [--sse-clients 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

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

sys.path.insert(0, str(Path(__file__).parent))
from api_load_clients import STUCK, Results, load_process, sse_reader

INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
NAMESPACE = "thalex-modular-bench"
STREAMS = ["equity", "fills", "quotes", "regime"]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_pid() -> int:
    """The API replica's process (asked of the actor itself: no dashboard here)."""
    for named in ray.util.list_named_actors(all_namespaces=True):
        if named["name"].startswith("SERVE_REPLICA::thalex-api"):
            actor = ray.get_actor(named["name"], namespace=named["namespace"])
            return int(ray.get(actor.__ray_call__.remote(lambda self: os.getpid()), timeout=30))
    raise RuntimeError("no API replica")


async def tick_to_quote(actors: list[Any], seconds: float) -> np.ndarray:
    start = [await a.counters.remote() for a in actors]
    await asyncio.sleep(seconds)
    end = [await a.counters.remote((s["tick_to_quote_count"], s["feed_lag_count"]))
           for a, s in zip(actors, start, strict=True)]
    return np.array([v for e in end for v in e["tick_to_quote_ms"]] or [np.nan])


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
        quiet_sse = Results()  # one reader per stream: the pipeline's own lag (report interval included)
        host, port = base.removeprefix("http://").rsplit(":", 1)
        readers = [asyncio.create_task(sse_reader(host, int(port), stream, quiet_sse)) for stream in STREAMS]
        quiet = await tick_to_quote(actors, args.seconds)
        for reader in readers:
            reader.cancel()

        print("api_load: loaded run", file=sys.stderr, flush=True)
        pid = api_pid()
        niceness = args.client_niceness
        if niceness is None:  # the instruments': the clients get no priority over them
            niceness = await actors[0].__ray_call__.remote(lambda self: os.nice(0))
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        clients = context.Process(target=load_process, daemon=True,
                                  args=(base, args.rps, args.sse_clients, 2.0 + args.seconds, niceness, results))
        clients.start()
        await asyncio.sleep(2.0)  # everyone connected
        rss_start, cpu_start = rss_mb(pid), cpu_s(pid)
        loaded = await tick_to_quote(actors, args.seconds)
        rss_end, api_cpu = rss_mb(pid), cpu_s(pid) - cpu_start
        load = await asyncio.to_thread(results.get, True, 120)
        clients.join(10)
    finally:
        stop_api()
        await controller.stop.remote(30.0)
        ray.kill(controller)
    quiet_p99 = float(np.percentile(quiet, 99))
    loaded_p99 = float(np.percentile(loaded, 99))
    return {
        "sse_event_lag_p99_ms_quiet": float(np.percentile(quiet_sse.lags_ms or [np.nan], 99)),
        "sse_event_lag_p50_ms": float(np.percentile(load["lags_ms"], 50)),
        "sse_event_lag_p99_ms": float(np.percentile(load["lags_ms"], 99)),
        "rest_p50_ms": float(np.percentile(load["rest_ms"], 50)),
        "rest_p95_ms": float(np.percentile(load["rest_ms"], 95)),
        "rest_p99_ms": float(np.percentile(load["rest_ms"], 99)),
        "tick_to_quote_p99_ms": quiet_p99,
        "tick_to_quote_p99_ms_under_load": loaded_p99,
        "tick_to_quote_p99_ratio": loaded_p99 / quiet_p99,
        "tick_to_quote_samples": f"{len(quiet)}/{len(loaded)}",
        "load_client_niceness": niceness,
        "api_rss_growth_mb": rss_end - rss_start,
        "rest_requests": len(load["rest_ms"]),
        "rest_achieved_rps": len(load["rest_ms"]) / (args.seconds + 2.0),
        "rest_errors": load["errors"],
        "rest_unsent": load["unsent"],
        "api_cpu_pct": 100.0 * api_cpu / args.seconds,
        "load_client_cpu_pct": load["client_cpu_pct"],
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
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="each phase (quiet, loaded); 60 s gives ~350 ticks: a p99 of 100 ticks is the 2nd worst")
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--sse-clients", type=int, default=50)
    parser.add_argument("--client-niceness", type=int, default=None,
                        help="the load clients' niceness (default: the instrument actors'; 19: the lowest, nearer "
                             "to clients on other machines)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
