"""A shadow deployment on the emulator with its Serve API, for the API tests: the emulator in its own process (the
deployment's actors trade on it whatever the test's event loop does), a Controller on the session's Ray cluster, and
the API app on Serve bound to loopback with a token file of mode 0600."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import ray

from thalex_modular.deployment.api.app import ApiOptions
from thalex_modular.deployment.api.auth import ensure_token_file, read_token
from thalex_modular.deployment.api.serve_app import start_api, stop_api
from thalex_modular.deployment.config import ApiSettings, load_run_config
from thalex_modular.deployment.deployment_book import DeploySpec
from thalex_modular.deployment.ray.cluster import free_port, stop_process, wait_for_port
from thalex_modular.deployment.ray.controller import Controller

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"
NAMESPACE = "thalex-modular-test"  # the session cluster's (tests/cluster/conftest.py)


@dataclass(frozen=True)
class ApiDeployment:
    url: str  # the API's base URL
    token: str
    controller: Any
    emulator_url: str
    options: ApiOptions
    port: int

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextlib.contextmanager
def emulator_process(log_dir: Path, speed: float = 2.0) -> Iterator[str]:
    """The emulator as ``platform emulator`` runs it, on a free loopback port; yields its websocket URL."""
    port = free_port()
    with open(log_dir / "emulator.log", "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "thalex_modular", "emulator", "--host", "127.0.0.1", "--port", str(port),
             "--seed", "3", "--speed", str(speed)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        if not wait_for_port("127.0.0.1", port, 60.0):
            raise RuntimeError(f"the emulator did not start (log: {log_dir / 'emulator.log'})")
        yield f"ws://127.0.0.1:{port}/ws/api/v2"
    finally:
        stop_process(process.pid, timeout_s=10.0)


@contextlib.contextmanager
def api_deployment(tmp: Path, controller_name: str, **api: Any) -> Iterator[ApiDeployment]:
    """A shadow deployment of BTC and ETH on a fresh emulator, with the API; waits until both quote."""
    with emulator_process(tmp) as emulator_url:
        config = load_run_config(None, {}, {
            "mode": "shadow", "network": "local", "connection.emulator_url": emulator_url,
            "toxic_flow.enabled": False, "options_vol.enabled": False,
        })
        spec = DeploySpec.of(config, [BTC, ETH], persistence=False)
        controller = ray.remote(Controller).options(
            name=controller_name, namespace=NAMESPACE, num_cpus=0, max_concurrency=1000,
        ).remote(spec, NAMESPACE, controller_name)
        try:
            ray.get(controller.deploy.remote(), timeout=120)
            settings = ApiSettings(**api)
            token_file = ensure_token_file(settings, {}, tmp / "api_token")
            options = ApiOptions(controller_name, NAMESPACE, str(token_file), settings,
                                 jobs_dir=str(tmp / "api-jobs"))
            port = free_port()
            url = start_api(options, port=port)
            try:
                deployment = ApiDeployment(url, read_token(token_file), controller, emulator_url, options, port)
                wait_until_quoting(deployment)
                yield deployment
            finally:
                stop_api()
        finally:
            with contextlib.suppress(Exception):
                ray.get(controller.stop.remote(20.0), timeout=60)
            ray.kill(controller, no_restart=True)


def wait_until_quoting(deployment: ApiDeployment, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            last = httpx.get(f"{deployment.url}/api/v1/instruments", timeout=5.0)
            if last.status_code == 200 and all(
                i["state"] == "quoting" and i["open_quotes"] > 0 for i in last.json()
            ) and len(last.json()) == 2:
                return
        time.sleep(0.5)
    raise AssertionError(f"the deployment did not quote through the API in {timeout_s} s: "
                         f"{None if last is None else last.text}")


def restart_api(deployment: ApiDeployment) -> None:
    """Stop the API (Serve shut down) and start it again on the same port: a new replica, an empty process."""
    stop_api()
    start_api(deployment.options, port=deployment.port)
