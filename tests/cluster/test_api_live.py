"""The API's control routes on a LIVE deployment against the REAL emulator: what the exchange holds is the proof.
Without the token a pause is a 401 and our orders keep resting; with it the instrument pauses and its orders are
cancelled on the exchange while the other instrument keeps quoting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray

from exchange_kit import Account, EmulatorFactory, Raw, eventually
from thalex_modular.deployment.api.app import ApiOptions
from thalex_modular.deployment.api.auth import ensure_token_file, read_token
from thalex_modular.deployment.api.serve_app import start_api, stop_api
from thalex_modular.deployment.config import ApiSettings, load_run_config
from thalex_modular.deployment.deployment_book import DeploySpec
from thalex_modular.deployment.ray.cluster import free_port
from thalex_modular.deployment.ray.controller import Controller
from thalex_modular.deployment.snapshots import InstrumentState

pytestmark = pytest.mark.usefixtures("ray_cluster")

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"
NAMESPACE = "thalex-modular-test"  # the session cluster's (tests/cluster/conftest.py)
CONTROLLER = "controller-api-live"


@contextlib.asynccontextmanager
async def live_api(server_url: str, tmp: Path) -> AsyncIterator[tuple[str, str, Any]]:
    """A live deployment of BTC and ETH on the emulator with the API; yields its URL, the token, the Controller."""
    config = load_run_config(None, {}, {
        "mode": "live", "network": "local", "connection.emulator_url": server_url, "toxic_flow.enabled": False,
        "options_vol.enabled": False,
    })
    controller = ray.remote(Controller).options(name=CONTROLLER, namespace=NAMESPACE, num_cpus=0,
                                                max_concurrency=1000).remote(
        DeploySpec.of(config, [BTC, ETH], persistence=False), NAMESPACE, CONTROLLER)
    try:
        await controller.deploy.remote()
        settings = ApiSettings()
        token_file = ensure_token_file(settings, {}, tmp / "api_token")
        options = ApiOptions(CONTROLLER, NAMESPACE, str(token_file), settings, jobs_dir=str(tmp / "api-jobs"))
        # off this loop: the emulator serving the actors runs on it
        url = await asyncio.to_thread(start_api, options, port=free_port())
        try:
            yield url, read_token(token_file), controller
        finally:
            await asyncio.to_thread(stop_api)
    finally:
        with contextlib.suppress(Exception):
            await controller.stop.remote(20.0)
        ray.kill(controller, no_restart=True)


async def test_pause_without_the_token_is_401_and_with_it_our_orders_leave_the_exchange(
    start_emulator: EmulatorFactory, cluster_account: Account, tmp_path: Path
) -> None:
    server = await start_emulator(speed=2.0)
    observer = await Raw.open(server.url, cluster_account)

    async def resting(instrument: str) -> list[dict[str, Any]]:
        return [o for o in await observer.call("private/open_orders") if o["instrument_name"] == instrument]

    try:
        async with live_api(server.url, tmp_path) as (url, token, controller), \
                httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=10.0) as api:
            async def both_quote_through_the_api() -> bool:
                response = await api.get("/instruments")
                return response.status_code == 200 and len(response.json()) == 2 and all(
                    i["state"] == "quoting" and i["open_quotes"] > 0 for i in response.json())

            await eventually(both_quote_through_the_api, timeout_s=90.0, interval_s=0.5)

            async def btc_rests() -> bool:
                return bool(await resting(BTC))

            await eventually(btc_rests, timeout_s=10.0, interval_s=0.3)

            # Act 1: no token, then a wrong one
            for headers in ({}, {"Authorization": "Bearer not-the-token"}):
                response = await api.post(f"/control/{BTC}/pause", headers=headers)
                # Assert: refused, and on the exchange BTC's orders still rest a while later
                assert response.status_code == 401
                assert response.headers["www-authenticate"] == "Bearer"
            await asyncio.sleep(1.0)
            assert await resting(BTC)
            status = {s.instrument: s for s in await controller.status.remote()}
            assert status[BTC].state is InstrumentState.QUOTING

            # Act 2: with the token
            response = await api.post(f"/control/{BTC}/pause", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200 and response.json() == {"action": "pause", "instruments": [BTC]}

            # Assert: the exchange holds no order of BTC's (cancelled, and none comes back while paused); ETH quotes
            async def btc_gone() -> bool:
                return not await resting(BTC)

            await eventually(btc_gone, timeout_s=5.0, interval_s=0.2)
            await asyncio.sleep(1.5)
            assert await resting(BTC) == []
            assert await resting(ETH)
            status = {s.instrument: s for s in await controller.status.remote()}
            assert status[BTC].state is InstrumentState.PAUSED and status[ETH].state is InstrumentState.QUOTING
    finally:
        await observer.close()
