"""Deployment scale: shadow deployments of 1, 2, 4 and 8 instruments on the emulator, on this one machine.

Starts ``platform emulator`` in a subprocess (its own process; speed 1, so its clock is the wall clock and the feed
lag is measurable; flow agents on) and a local Ray instance in this process (2 CPUs, no dashboard), then for each size
k deploys k instruments (perpetuals and futures of BTC and ETH: the emulator lists 8) through the Controller exactly as
``platform deploy`` does, lets them quote for ``--warmup-s``, measures for ``--seconds``, and stops them.

Prints, per k: ``deploy_<k>_tick_to_quote_p50_ms`` / ``_p99_ms`` (a ticker received to its run's requests written,
every actor's samples together), ``deploy_<k>_feed_lag_p99_ms`` (the emulator stamping a ticker to our receiving it:
a backlog in front of an actor shows here), ``deploy_<k>_tickers``, ``deploy_<k>_coalesced_share`` (tickers
superseded by a newer one of the same instrument before their run took them: never dropped unprocessed, the newest
is what is quoted), ``deploy_<k>_quoting`` (instruments quoting at the end); and ``actor_rss_mb`` (the largest
instrument actor's resident memory). Target for 8 instruments on a 2-core box: tick-to-quote p99 <= 5 ms.

Run: ``.venv/bin/python benchmarks/deploy_scale.py [--seconds 20] [--warmup-s 5] [--sizes 1,2,4,8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray

from thalex_modular.deployment.config import load_run_config
from thalex_modular.deployment.deployment_book import DeploySpec
from thalex_modular.deployment.instrument_runtime import compile_tick_path
from thalex_modular.deployment.ray.controller import Controller
from thalex_modular.deployment.ray.names import instrument_actor
from thalex_modular.deployment.snapshots import InstrumentState
from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.process import emulator_process

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file written to ~/.ray by a benchmark

INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-25DEC26", "ETH-25DEC26", "BTC-29JAN27", "ETH-29JAN27",
               "BTC-26FEB27", "ETH-26FEB27"]
NAMESPACE = "thalex-modular-bench"


async def measure(url: str, k: int, warmup_s: float, seconds: float) -> dict[str, float]:
    config = load_run_config(None, {}, {"mode": "shadow", "network": "local", "connection.emulator_url": url,
                                        "options_vol.enabled": False})
    names = INSTRUMENTS[:k]
    controller = ray.remote(Controller).options(name=f"controller-{k}", namespace=NAMESPACE, num_cpus=0).remote(
        DeploySpec.of(config, names, persistence=False), NAMESPACE, f"controller-{k}"
    )
    await controller.deploy.remote()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(s.state is InstrumentState.QUOTING for s in await controller.status.remote()):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(warmup_s)
        actors = [ray.get_actor(instrument_actor(n), namespace=NAMESPACE) for n in names]
        start = [await a.counters.remote() for a in actors]
        for second in range(int(seconds)):
            await asyncio.sleep(1.0)
            print(f"deploy_scale: k={k} {second + 1}/{int(seconds)} s", file=sys.stderr, flush=True)
        end = [await a.counters.remote((s["tick_to_quote_count"], s["feed_lag_count"]))
               for a, s in zip(actors, start, strict=True)]
        status = await controller.status.remote()
    finally:
        await controller.stop.remote(30.0)
        ray.kill(controller)
    latencies = np.array([v for e in end for v in e["tick_to_quote_ms"]] or [np.nan])
    lags = np.array([v for e in end for v in e["feed_lag_ms"]] or [np.nan])
    tickers = sum(e["tickers"] - s["tickers"] for e, s in zip(end, start, strict=True))
    coalesced = sum(e["coalesced"] - s["coalesced"] for e, s in zip(end, start, strict=True))
    return {
        "tick_to_quote_p50_ms": float(np.percentile(latencies, 50)),
        "tick_to_quote_p99_ms": float(np.percentile(latencies, 99)),
        "feed_lag_p99_ms": float(np.percentile(lags, 99)),
        "tickers": tickers,
        "coalesced_share": coalesced / tickers if tickers else float("nan"),
        "quoting": sum(1 for s in status if s.state is InstrumentState.QUOTING),
        "rss_mb": max(e["rss_mb"] for e in end),
    }


async def main_async(args: argparse.Namespace) -> int:
    sizes = [int(k) for k in args.sizes.split(",")]
    compile_tick_path()  # once here: the actors load it from the kernel cache
    rss = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        keys = keygen_to_dir(Path(tmp) / "keys", "A000000051", shared_keys_json=Path(tmp) / "keys.json")
        del keys  # shadow needs no login; the emulator wants a keys file
        async with emulator_process(Path(tmp), Path(tmp) / "keys.json", {"seed": 5}) as url:
            ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2,
                     namespace=NAMESPACE, log_to_driver=False)
            try:
                for k in sizes:
                    figures = await measure(url, k, args.warmup_s, args.seconds)
                    rss = max(rss, figures.pop("rss_mb"))
                    for name, value in figures.items():
                        print(f"deploy_{k}_{name}={value:.3f}" if isinstance(value, float) else
                              f"deploy_{k}_{name}={value}", flush=True)
            finally:
                ray.shutdown()
    print(f"actor_rss_mb={rss:.1f}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--sizes", default="1,2,4,8")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
