"""Amend churn of live quoting on the emulator: requests per second and queue keeping, for several tolerance settings.

Starts ``platform emulator`` in a subprocess (its own core; seed fixed, flow agents on, the exchange's rate limits on)
and quotes BTC-PERPETUAL live through ``build_runtime`` for ``--seconds`` per setting, one after the other on a fresh
emulator each (the same market). Prints per setting ``<name>_amends_per_s``, ``<name>_requests_per_s``,
``<name>_budget_share`` (requests per second over our 90 % share of the 50/s cancel-on-disconnect limit),
``<name>_deferred`` (amends and inserts the request budget held back), ``<name>_fills`` and ``<name>_throttled``.

Settings: ``ticks3`` (a 3-tick tolerance only, the old default's width), ``default`` (3 ticks or 1 bp, a partially
filled order kept while half of it remains), ``default_100ms`` (the same on the 100 ms ticker).

Run: ``.venv/bin/python benchmarks/amend_churn.py [--seconds 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from thalex_modular.deployment.config import load_run_config
from thalex_modular.deployment.instrument_runtime import build_runtime
from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.process import emulator_process

SETTINGS: dict[str, dict[str, Any]] = {
    "ticks3": {"strategy.amend_tolerance_ticks": 3, "strategy.amend_tolerance_bps": 0.0,
               "strategy.amount_tolerance": 0.0},
    "default": {},
    "default_100ms": {"connection.ticker_delay": "100ms"},
}
BUDGET_PER_S = 50.0 * 0.9


async def measure(workdir: Path, keys_json: Path, env: dict[str, str], name: str, flags: dict[str, Any],
                  seconds: float) -> dict[str, float]:
    config = {"seed": 3, "start_time_s": 1_733_011_200.0, "rate_limits": {"enabled": True}}
    async with emulator_process(workdir, keys_json, config) as url:
        run = load_run_config(None, env, {"mode": "live", "network": "local", "connection.emulator_url": url,
                                          **flags})
        runtime = await build_runtime(run)
        try:
            await asyncio.sleep(2.0)  # start-up and first quotes
            stats = runtime.service.stats
            sent, fills, deferred = stats.requests_sent, stats.fills, stats.deferred
            amends = stats.amends_sent
            for second in range(int(seconds)):
                await asyncio.sleep(1.0)
                print(f"amend_churn: {name} {second + 1}/{int(seconds)} s", file=sys.stderr, flush=True)
            return {
                "amends_per_s": (stats.amends_sent - amends) / seconds,
                "requests_per_s": (stats.requests_sent - sent) / seconds,
                "budget_share": (stats.requests_sent - sent) / seconds / BUDGET_PER_S,
                "deferred": stats.deferred - deferred,
                "fills": stats.fills - fills,
                "throttled": stats.throttled,
            }
        finally:
            await runtime.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        key = keygen_to_dir(workdir / "keys", "A000000021", shared_keys_json=workdir / "keys.json")
        env = {"THALEX_KEY_ID": key.kid, "THALEX_PRIVATE_KEY_PATH": str(workdir / "keys" / "private_key.pem")}
        for name, flags in SETTINGS.items():
            figures = await measure(workdir, workdir / "keys.json", env, name, flags, args.seconds)
            for figure, value in figures.items():
                print(f"{name}_{figure}={value:.3f}" if isinstance(value, float) else f"{name}_{figure}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
