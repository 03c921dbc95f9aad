"""Emulator market step: how long one step of the market loop holds the emulator's event loop.

Every ``market_step_ms`` (100 ms by default) the emulator advances its market model, pushes marks and collars of
every instrument (perpetuals, futures and the option chains) into the engine, lets the flow agents act and routes
the notifications. Nothing else runs on the emulator's event loop meanwhile, so this is the stall every client of
the emulator sees (replies and feeds late by up to this much). Runs the default catalogue in this process, with
no client connected, and prints ``emulator_market_step_median_ms``, ``emulator_market_step_p99_ms`` and
``emulator_instruments``.

Run: ``.venv/bin/python benchmarks/emulator_market_step.py [--steps 300] [--no-flow-agents]``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from thalex_modular.emulator.config import EmulatorConfig
from thalex_modular.emulator.runtime import build_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--no-flow-agents", action="store_true")
    args = parser.parse_args()
    if args.steps <= 0 or args.warmup < 0:
        parser.error(f"--steps must be > 0 and --warmup >= 0, were {args.steps} and {args.warmup}")

    server = build_server(EmulatorConfig(port=0, flow_agents=not args.no_flow_agents))
    venue, hub = server.venue, server.hub
    samples_ms = np.empty(args.steps)
    total = args.warmup + args.steps
    progress_every = max(1, total // 5)
    for i in range(total):
        started = time.perf_counter()
        hub.route(venue.step_market())  # what EmulatorServer._market_loop does per step
        hub.market_changed()
        hub.flush()
        if i >= args.warmup:
            samples_ms[i - args.warmup] = (time.perf_counter() - started) * 1e3
        if (i + 1) % progress_every == 0:
            print(f"emulator_market_step: {i + 1}/{total} steps", file=sys.stderr, flush=True)
        time.sleep(0.002)  # sim time moves between steps, as between the loop's steps
    print(f"emulator_instruments={len(venue.specs)}")
    print(f"emulator_market_step_median_ms={np.median(samples_ms):.2f}")
    print(f"emulator_market_step_p99_ms={np.percentile(samples_ms, 99):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
