"""Fault campaign: a live deployment of two instruments on the emulator under every fault the emulator injects, with an
instrument actor killed every ~30 s; afterwards the exchange must hold no order we do not know and our positions must
be the exchange's.

Starts ``platform emulator --control`` in a subprocess (flow agents trading, per-session rate limits on: throttles),
sets its faults (rejected order requests, delayed and duplicated and reordered order notifications, delayed replies),
runs a local Ray instance in this process and deploys BTC-PERPETUAL and ETH-PERPETUAL live through the Controller as
``platform deploy`` does. For ``--minutes``: every ~30 s one instrument's actor process is killed (Ray restarts it:
it resyncs and quotes again), every ~45 s the exchange announces a reconnect (``system`` event) and every ~70 s it
drops the account's connections. Then the faults are switched off, the deployment settles for a few seconds, and the
exchange's view is compared with the actors'.

Prints ``faults_injected=`` (the emulator's count, every kind together; ``faults_<kind>=`` each), ``actor_restarts=``,
``orphan_orders=`` (orders of ours the exchange holds that no actor tracks; must be 0), ``position_mismatches=``
(instruments whose position differs from the exchange's; must be 0), ``requote_after_restart_s_max=`` (a kill to
that instrument quoting again). Exit code 1 when an orphan or a mismatch remains.

Run: ``.venv/bin/python benchmarks/fault_campaign.py [--minutes 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray
from websockets.asyncio.client import connect

from thalex_modular.deployment.config import load_run_config
from thalex_modular.deployment.deployment_book import DeploySpec
from thalex_modular.deployment.instrument_runtime import compile_tick_path
from thalex_modular.deployment.ray.controller import Controller
from thalex_modular.deployment.ray.names import instrument_actor
from thalex_modular.deployment.snapshots import InstrumentSnapshot, InstrumentState
from thalex_modular.emulator.auth import make_token
from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.process import control_token_of, emulator_process

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file written to ~/.ray by a benchmark

INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
NAMESPACE = "thalex-modular-faults"
ACCOUNT = "A000000061"
LABEL = "thalex-modular"
FAULTS = {
    "reject_share": 0.02, "duplicate_share": 0.05, "reorder_share": 0.05, "response_delay_ms": 3.0,
    "delayed_feeds": ["session.orders"], "feed_delay_ms": 40.0,
}


class Client:
    """A bare JSON-RPC client of the emulator (the control API, the exchange's view of the account)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    @classmethod
    async def open(cls, url: str) -> Client:
        return cls(await connect(url, compression=None))

    async def call(self, method: str, **params: Any) -> Any:
        self.next_id += 1
        await self.ws.send(json.dumps({"method": method, "params": params, "id": self.next_id}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 10.0))
            if message.get("id") == self.next_id:
                if "result" not in message:
                    raise RuntimeError(f"{method}: {message}")
                return message["result"]


async def status(controller: Any) -> dict[str, InstrumentSnapshot]:
    return {s.instrument: s for s in await controller.status.remote()}


async def kill_and_time(controller: Any, instrument: str) -> float:
    """Kill ``instrument``'s actor process; seconds until it quotes again (its new incarnation)."""
    before = (await status(controller))[instrument].started_ns
    ray.kill(ray.get_actor(instrument_actor(instrument), namespace=NAMESPACE), no_restart=False)
    killed = time.monotonic()
    while time.monotonic() - killed < 120:
        now = (await status(controller))[instrument]
        if now.started_ns != before and now.state is InstrumentState.QUOTING and now.open_quotes > 0:
            return time.monotonic() - killed
        await asyncio.sleep(0.1)
    return float("inf")


async def campaign(url: str, token: str, key: Any, minutes: float) -> int:
    control = await Client.open(url)
    await control.call("emulator/authenticate", token=token)
    observer: Client | None = None
    config = load_run_config(None, {}, {"mode": "live", "network": "local", "connection.emulator_url": url,
                                        "options_vol.enabled": False, "kill_switch.enabled": False})
    controller = ray.remote(Controller).options(name="controller", namespace=NAMESPACE, num_cpus=0).remote(
        DeploySpec.of(config, INSTRUMENTS, persistence=False), NAMESPACE, "controller"
    )
    await controller.deploy.remote()
    requotes: list[float] = []
    try:
        while not all(s.state is InstrumentState.QUOTING for s in (await status(controller)).values()):
            await asyncio.sleep(0.5)
        await control.call("emulator/set_faults", **FAULTS)
        started = time.monotonic()
        next_kill, next_reconnect, next_drop, victim = 30.0, 45.0, 70.0, 0
        while (elapsed := time.monotonic() - started) < minutes * 60:
            if elapsed >= next_kill:
                requotes.append(await kill_and_time(controller, INSTRUMENTS[victim % len(INSTRUMENTS)]))
                victim += 1
                next_kill += 30.0
            if elapsed >= next_reconnect:
                await control.call("emulator/system_reconnect")
                next_reconnect += 45.0
            if elapsed >= next_drop:
                await control.call("emulator/drop_connections", account=ACCOUNT)
                next_drop += 70.0
            print(f"fault_campaign: {elapsed:.0f}/{minutes * 60:.0f} s", file=sys.stderr, flush=True)
            await asyncio.sleep(1.0)
        await control.call("emulator/set_faults")  # all off: the deployment settles
        await asyncio.sleep(8.0)
        observer = await Client.open(url)  # the account's connections were dropped meanwhile: log in now
        await observer.call("public/login", token=make_token(key.kid, key.private_key_pem, time.time()))
        # the exchange's view against the actors'
        now = await status(controller)
        held = [o for o in await observer.call("private/open_orders") if o.get("label") == LABEL]
        orphans = 0
        for instrument in INSTRUMENTS:
            snap = now[instrument]
            tracked = Counter([("buy", p) for p, _ in snap.bids] + [("sell", p) for p, _ in snap.asks])
            exchange = Counter((o["direction"], o["price"]) for o in held if o["instrument_name"] == instrument)
            orphans += sum((exchange - tracked).values())
        positions = {p["instrument_name"]: p["position"] for p in await observer.call("private/portfolio")}
        mismatches = sum(1 for i in INSTRUMENTS if abs(positions.get(i, 0.0) - now[i].position) > 1e-9)
        faults = (await control.call("emulator/status"))["faults_injected"]
        restarts = sum((await controller.restarts.remote()).values())
    finally:
        await controller.stop.remote(30.0)
        ray.kill(controller)
        await control.ws.close()
        if observer is not None:
            await observer.ws.close()
    print(f"faults_injected={sum(faults.values())}")
    for kind, count in sorted(faults.items()):
        print(f"faults_{kind}={count}")
    print(f"actor_restarts={restarts}")
    print(f"orphan_orders={orphans}")
    print(f"position_mismatches={mismatches}")
    print(f"requote_after_restart_s_max={max(requotes, default=float('nan')):.2f}")
    return 0 if orphans == 0 and mismatches == 0 else 1


async def main_async(args: argparse.Namespace) -> int:
    compile_tick_path()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        key = keygen_to_dir(work / ACCOUNT, ACCOUNT, shared_keys_json=work / "keys.json")
        # live credentials reach the actors only through their node's environment (Ray's workers inherit it)
        os.environ["THALEX_KEY_ID"] = key.kid
        os.environ["THALEX_PRIVATE_KEY_PATH"] = str(work / ACCOUNT / "private_key.pem")
        config = {"seed": 9, "rate_limits": {"enabled": True}}
        async with emulator_process(work, work / "keys.json", config, control=True) as url:
            ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2,
                     namespace=NAMESPACE, log_to_driver=False)
            try:
                return await campaign(url, control_token_of(work), key, args.minutes)
            finally:
                ray.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
