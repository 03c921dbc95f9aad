"""API under load: a shadow deployment of BTC-PERPETUAL and ETH-PERPETUAL on the emulator with its Serve API, measured
side by side without and with 50 SSE clients (5 of them never reading) and 200 REST requests/s.

Starts ``platform emulator`` in a subprocess (its market stepping every ``--market-step-ms``, 25 ms: four times its
default rate, so four times the tick-to-quote samples) and a local Ray instance here (2 CPUs, no dashboard), deploys
through the Controller as ``platform deploy`` does, starts the API (one replica, loopback), lets it quote for
``--warmup-s``, then runs interleaved windows of ``--window-s``: quiet, loaded, loaded, quiet, ... (``--cycles`` of
each), so a drift of the box (other work on it) lands on both sides alike. The load clients are one process for the
whole run, paused between loaded windows (no connections) and resumed. With ``--placement both`` (the default) it
alternates two placements in blocks: ``shared`` (every process on every CPU: the default deployment) and ``pinned``
(the API replica and its job registry on ``--api-cpus``, the instrument actors on ``--instrument-cpus``, applied at
run time with the same ``pin_process`` as ``placement.*`` in the config); the pinned figures end in ``_pinned``.

The clients (api_load_clients.py) are one asyncio process on raw sockets, at the instrument actors' niceness (or
``--client-niceness``), on any CPU (or ``--client-cpus``): their own CPU use is printed (``load_client_cpu_pct``),
as is the API replica's (``api_cpu_pct``).

Prints ``sse_event_lag_p99_ms`` (an event's own timestamp in its actor to a reading client parsing it: includes the
actor's report interval of 250 ms; target <= 250) and ``sse_event_lag_p99_ms_quiet`` (the same with one reader per
stream and no other load: the pipeline's own floor), ``rest_p99_ms`` (one GET, from when it was due to its last byte:
a request waiting for a free connection counts its wait; target <= 50), ``tick_to_quote_p99_ms`` over the quiet
windows and ``tick_to_quote_p99_ms_under_load`` over the loaded ones and their ratio ``tick_to_quote_p99_ratio``
(target <= 1.2), with ``tick_to_quote_samples`` (quiet/loaded) and each window pair's p99s
(``tick_to_quote_p99_ms_by_window``), ``api_rss_growth_mb`` (the API replica's resident memory at the end of the
last loaded window minus at the start of the first; target <= 50), and counts (``rest_requests``,
``rest_achieved_rps``, ``rest_errors``, ``rest_unsent``, ``sse_events``, ``sse_gaps``, ``sse_stuck_clients``).

Run: ``.venv/bin/python benchmarks/api_load.py [--window-s 15] [--cycles 4] [--placement both|shared|pinned]
[--api-cpus 1] [--instrument-cpus 0] [--market-step-ms 25] [--rps 200] [--sse-clients 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
from thalex_modular.deployment.placement import cpu_list, describe_cpus, pin_process
from thalex_modular.deployment.ray.cluster import free_port
from thalex_modular.deployment.ray.controller import Controller
from thalex_modular.deployment.ray.names import API_JOBS, instrument_actor
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


def api_replica() -> Any:
    for named in ray.util.list_named_actors(all_namespaces=True):
        if named["name"].startswith("SERVE_REPLICA::thalex-api"):
            return ray.get_actor(named["name"], namespace=named["namespace"])
    raise RuntimeError("no API replica")


def api_pid() -> int:
    """The API replica's process (asked of the actor itself: no dashboard here)."""
    return int(ray.get(api_replica().__ray_call__.remote(lambda self: os.getpid()), timeout=30))


def threads_cpus(self: Any) -> list[int]:
    """The CPUs any thread of this process may run on (called in an actor: ``__ray_call__``)."""
    return sorted({c for t in os.listdir("/proc/self/task") for c in os.sched_getaffinity(int(t))})


def pin(self: Any, cpus: tuple[int, ...]) -> list[int]:
    """Pin this actor's process as ``placement`` does it (``pin_process``); returns the CPUs its threads now have."""
    pin_process(cpus, "benchmark placement")
    return threads_cpus(self)


def _p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


@dataclass
class Condition:
    """What one placement's windows measured, quiet and loaded."""

    tick_quiet: list[float] = field(default_factory=list)
    tick_loaded: list[float] = field(default_factory=list)
    window_p99: dict[str, list[float]] = field(default_factory=lambda: {"quiet": [], "loaded": []})
    quiet_sse: Results = field(default_factory=Results)
    load: list[dict[str, Any]] = field(default_factory=list)
    api_cpu_s: float = 0.0
    loaded_s: float = 0.0


class Bench:
    def __init__(self, args: argparse.Namespace, base: str, actors: list[Any], replica_actors: list[Any]) -> None:
        self.args, self.base, self.actors, self.api_actors = args, base, actors, replica_actors
        self.everywhere = tuple(sorted(os.sched_getaffinity(0)))
        self.placements = {"shared": (self.everywhere, self.everywhere),
                           "pinned": (cpu_list(args.api_cpus), cpu_list(args.instrument_cpus))}
        self.seen_cpus: dict[str, dict[str, list[int]]] = {}

    async def place(self, placement: str) -> None:
        api_cpus, instrument_cpus = self.placements[placement]
        seen = {"api": await self.api_actors[0].__ray_call__.remote(pin, api_cpus)}
        for actor in self.api_actors[1:]:
            await actor.__ray_call__.remote(pin, api_cpus)
        seen["instruments"] = sorted({c for a in self.actors
                                      for c in await a.__ray_call__.remote(pin, instrument_cpus)})
        self.seen_cpus[placement] = seen

    async def ticks(self, seconds: float) -> tuple[list[float], float]:
        start = [await a.counters.remote() for a in self.actors]
        began = time.monotonic()
        await asyncio.sleep(seconds)
        end = [await a.counters.remote((s["tick_to_quote_count"], s["feed_lag_count"]))
               for a, s in zip(self.actors, start, strict=True)]
        return [v for e in end for v in e["tick_to_quote_ms"]], time.monotonic() - began


async def run(url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import multiprocessing

    config = load_run_config(None, {}, {"mode": "shadow", "network": "local", "connection.emulator_url": url,
                                        "options_vol.enabled": False})
    controller = ray.remote(Controller).options(name="controller", namespace=NAMESPACE, num_cpus=0,
                                                max_concurrency=1000).remote(
        DeploySpec.of(config, INSTRUMENTS, persistence=False), NAMESPACE, "controller")
    await controller.deploy.remote()
    settings = ApiSettings()
    token_file = ensure_token_file(settings, {}, tmp / "api_token")
    base = start_api(ApiOptions("controller", NAMESPACE, str(token_file), settings, jobs_dir=str(tmp / "api-jobs")),
                     port=free_port())
    context = multiprocessing.get_context("spawn")
    commands, results = context.Queue(), context.Queue()
    clients = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(s.state is InstrumentState.QUOTING for s in await controller.status.remote()):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.warmup_s)
        actors = [ray.get_actor(instrument_actor(n), namespace=NAMESPACE) for n in INSTRUMENTS]
        pid = api_pid()
        bench = Bench(args, base, actors, [api_replica(), ray.get_actor(API_JOBS, namespace=NAMESPACE)])
        niceness = args.client_niceness
        if niceness is None:  # the instruments': the clients get no priority over them
            niceness = await actors[0].__ray_call__.remote(lambda self: os.nice(0))
        client_cpus = cpu_list(args.client_cpus) if args.client_cpus else ()
        clients = context.Process(target=load_process, daemon=True,
                                  args=(base, args.rps, args.sse_clients, niceness, client_cpus, commands, results))
        clients.start()
        host, port = base.removeprefix("http://").rsplit(":", 1)
        order = ["shared", "pinned"] if args.placement == "both" else [args.placement]
        blocks = [p for c in range(args.cycles) for p in (order if c % 2 == 0 else order[::-1])]
        measured = {p: Condition() for p in order}
        rss: list[float] = []
        for b, placement in enumerate(blocks):
            await bench.place(placement)
            condition = measured[placement]
            for phase in (["quiet", "loaded"] if b % 2 == 0 else ["loaded", "quiet"]):
                print(f"api_load: window {b}: {placement} {phase}", file=sys.stderr, flush=True)
                if phase == "quiet":  # one reader per stream: the pipeline's own lag (report interval included)
                    readers = [asyncio.create_task(sse_reader(host, int(port), stream, condition.quiet_sse))
                               for stream in STREAMS]
                    await asyncio.sleep(args.settle_s)
                    ticks, _ = await bench.ticks(args.window_s)
                    for reader in readers:
                        reader.cancel()
                    condition.tick_quiet += ticks
                else:
                    commands.put("start")
                    await asyncio.to_thread(results.get, True, 60)
                    await asyncio.sleep(args.settle_s)  # everyone connected
                    rss.append(rss_mb(pid))
                    cpu_start = cpu_s(pid)
                    ticks, elapsed = await bench.ticks(args.window_s)
                    condition.api_cpu_s += cpu_s(pid) - cpu_start
                    condition.loaded_s += elapsed
                    rss.append(rss_mb(pid))
                    commands.put("stop")
                    condition.load.append(await asyncio.to_thread(results.get, True, 120))
                    condition.tick_loaded += ticks
                condition.window_p99[phase].append(_p99(ticks))
        commands.put("exit")
        clients.join(30)
    finally:
        if clients is not None and clients.is_alive():
            clients.kill()
        stop_api()
        await controller.stop.remote(30.0)
        ray.kill(controller)
    figures: dict[str, Any] = {}
    for placement in order:
        figures.update(_figures(measured[placement], "" if placement == "shared" else "_pinned", args))
    figures["api_rss_growth_mb"] = rss[-1] - rss[0]
    figures["load_client_niceness"] = niceness
    figures["load_client_cpus"] = describe_cpus(client_cpus or bench.everywhere)
    for placement, seen in bench.seen_cpus.items():
        figures[f"cpus_{placement}"] = (f"api={describe_cpus(seen['api'])},"
                                        f"instruments={describe_cpus(seen['instruments'])}")
    figures["windows"] = f"{args.cycles * len(order)}x(quiet+loaded) of {args.window_s:g} s"
    return figures


def _figures(c: Condition, suffix: str, args: argparse.Namespace) -> dict[str, Any]:
    """One placement's figures; the shared placement's keep the issue's names, the pinned ones end in _pinned."""
    lags = [v for w in c.load for v in w["lags_ms"]]
    rest = [v for w in c.load for v in w["rest_ms"]]
    quiet, loaded = _p99(c.tick_quiet), _p99(c.tick_loaded)
    per_window = [f"{q:.2f}/{lo:.2f}" for q, lo in zip(c.window_p99["quiet"], c.window_p99["loaded"], strict=True)]
    out: dict[str, Any] = {
        "sse_event_lag_p99_ms_quiet": _p99(c.quiet_sse.lags_ms),
        "sse_event_lag_p50_ms": float(np.percentile(lags, 50)) if lags else float("nan"),
        "sse_event_lag_p99_ms": _p99(lags),
        "rest_p50_ms": float(np.percentile(rest, 50)) if rest else float("nan"),
        "rest_p99_ms": _p99(rest),
        "tick_to_quote_p50_ms": float(np.percentile(c.tick_quiet, 50)) if c.tick_quiet else float("nan"),
        "tick_to_quote_p50_ms_under_load": float(np.percentile(c.tick_loaded, 50)) if c.tick_loaded else float("nan"),
        "tick_to_quote_p99_ms": quiet,
        "tick_to_quote_p99_ms_under_load": loaded,
        "tick_to_quote_p99_ratio": loaded / quiet,
        "tick_to_quote_samples": f"{len(c.tick_quiet)}/{len(c.tick_loaded)}",
        "tick_to_quote_p99_ms_by_window": ",".join(per_window),
        "rest_requests": len(rest),
        "rest_achieved_rps": len(rest) / sum(w["elapsed_s"] for w in c.load),
        "rest_errors": sum(w["errors"] for w in c.load),
        "rest_unsent": sum(w["unsent"] for w in c.load),
        "api_cpu_pct": 100.0 * c.api_cpu_s / c.loaded_s,
        "load_client_cpu_pct": 100.0 * sum(w["client_cpu_s"] for w in c.load) / sum(w["elapsed_s"] for w in c.load),
        "sse_events": sum(w["events"] for w in c.load),
        "sse_gaps": sum(w["gaps"] for w in c.load),
        "sse_stuck_clients": STUCK,
    }
    return {f"{name}{suffix}": value for name, value in out.items()}


async def main_async(args: argparse.Namespace) -> int:
    compile_tick_path()
    with tempfile.TemporaryDirectory() as tmp:
        keygen_to_dir(Path(tmp) / "keys", "A000000052", shared_keys_json=Path(tmp) / "keys.json")
        emulator = {"seed": 5, "market_step_ms": args.market_step_ms, "speed": args.market_speed}
        async with emulator_process(Path(tmp), Path(tmp) / "keys.json", emulator) as url:
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
    parser.add_argument("--window-s", type=float, default=15.0, help="each measured window (quiet or loaded)")
    parser.add_argument("--cycles", type=int, default=4,
                        help="windows per placement: this many quiet and as many loaded, interleaved")
    parser.add_argument("--settle-s", type=float, default=2.0,
                        help="after switching the load on or off, before a window's measurement starts")
    parser.add_argument("--market-step-ms", type=float, default=25.0,
                        help="the emulator's market step, wall time (its default: 100 ms)")
    parser.add_argument("--market-speed", type=float, default=4.0,
                        help="the emulator's simulated time per wall second (its default: 1): with 25 ms steps each "
                             "step is its usual 100 ms of market, four times as often, so the prices move (and the "
                             "instruments requote) four times as often")
    parser.add_argument("--placement", choices=["shared", "pinned", "both"], default="both",
                        help="shared: every process on every CPU (the default deployment); pinned: the API replica "
                             "(and its job registry) on --api-cpus, the instruments on --instrument-cpus; both: "
                             "side by side, alternating")
    parser.add_argument("--api-cpus", default="1")
    parser.add_argument("--instrument-cpus", default="0")
    parser.add_argument("--client-cpus", default=None,
                        help="pin the load clients (default: any CPU; e.g. the API's, as if on another machine)")
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--sse-clients", type=int, default=50)
    parser.add_argument("--client-niceness", type=int, default=None,
                        help="the load clients' niceness (default: the instrument actors'; 19: the lowest, nearer "
                             "to clients on other machines)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
