"""The deployment's one options follower: two instruments of one underlying share one chain subscription, its numbers
are Black-76 on the emulator's own chain, and a raised implied vol moves both instruments' regimes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import ray

from exchange_kit import EmulatorFactory, Raw, assert_expiries_are_black76, eventually
from thalex_modular.deployment.config import load_run_config
from thalex_modular.deployment.deployment_book import DeploySpec
from thalex_modular.deployment.ray.controller import Controller
from thalex_modular.deployment.ray.names import OPTIONS_VOL
from thalex_modular.deployment.snapshots import InstrumentSnapshot, InstrumentState

pytestmark = pytest.mark.usefixtures("ray_cluster")

NAMESPACE = "thalex-modular-test"  # the session cluster's (tests/cluster/conftest.py)


async def test_one_follower_per_underlying_black76_numbers_and_a_raised_iv_widens_every_instrument(
    start_emulator: EmulatorFactory,
) -> None:
    # Arrange: shadow BTC-PERPETUAL and a BTC future (one underlying), options feeding the regime
    server = await start_emulator(speed=5.0)
    client = await Raw.open(server.url)
    listed = await client.call("public/instruments")
    await client.close()
    future = next(i["instrument_name"] for i in listed if i["type"] == "future" and i["underlying"] == "BTCUSD")
    names = ["BTC-PERPETUAL", future]
    config = load_run_config(None, {}, {"mode": "shadow", "network": "local", "connection.emulator_url": server.url,
                                        "options_vol.publish_interval_s": 0.5})
    controller = ray.remote(Controller).options(name="controller-vol", namespace=NAMESPACE, num_cpus=0).remote(
        DeploySpec.of(config, names, persistence=False), NAMESPACE, "controller-vol"
    )
    await controller.deploy.remote()

    async def status() -> dict[str, InstrumentSnapshot]:
        return {s.instrument: s for s in await controller.status.remote()}

    async def all_have_iv() -> bool:
        now = await status()
        return all(s.state is InstrumentState.QUOTING and s.atm_iv_annual is not None for s in now.values())

    try:
        await eventually(all_have_iv, timeout_s=90.0, interval_s=0.5)
        options_vol = ray.get_actor(OPTIONS_VOL, namespace=NAMESPACE)
        # Assert: one chain subscription serves both instruments
        assert await options_vol.followed.remote() == ["BTCUSD"]
        snap: Any = await options_vol.snapshot.remote("BTCUSD")
        assert snap is not None and snap.cm_iv_annual is not None and snap.expiries
        # its expiries are Black-76 on the emulator's own chain (the vol drifts a little in sim seconds)
        model = server.venue.model
        assert_expiries_are_black76(server, snap.expiries)
        before = await status()

        # Act: the market's implied vol doubles (the vol risk premium of the emulator's smile goes 5 % -> 110 %)
        smile = dataclasses.replace(model.config.smile, vol_risk_premium=1.1)
        model.config = dataclasses.replace(model.config, smile=smile)

        # Assert: both instruments' regimes see it and defend: a higher IV/RV factor, wider (risk multiplier up)
        async def raised() -> bool:
            now = await status()
            return all((now[n].atm_iv_annual or 0.0) > 1.8 * (before[n].atm_iv_annual or 0.0) for n in names)

        await eventually(raised, timeout_s=30.0, interval_s=0.5)
        after = await status()
        for name in names:
            assert after[name].risk_multiplier > before[name].risk_multiplier
    finally:
        await controller.stop.remote(20.0)
    def gone() -> bool:  # stopped with the deployment (ray.kill returns before the name is released)
        try:
            ray.get_actor(OPTIONS_VOL, namespace=NAMESPACE)
        except ValueError:
            return True
        return False

    await eventually(gone, timeout_s=10.0)
