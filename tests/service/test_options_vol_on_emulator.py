"""`platform run` follows the underlying's option chain on the emulator and feeds its implied vol to the regime."""

from __future__ import annotations

import math

import pytest

from exchange_kit import EmulatorFactory, assert_expiries_are_black76, eventually, run_config
from thalex_modular.deployment.instrument_runtime import build_runtime
from thalex_modular.platform.domain.market.rolling_volatility import SECONDS_PER_YEAR

S = 1_000_000_000


async def test_shadow_run_feeds_the_chains_implied_vol_and_the_rv_of_its_horizon(
    start_emulator: EmulatorFactory,
) -> None:
    # Arrange / Act: a shadow run of BTC-PERPETUAL on an emulator listing BTC options
    server = await start_emulator(speed=5.0)
    runtime = await build_runtime(run_config(server, "shadow"))
    try:
        feed = runtime.options_vol
        assert feed is not None and len(feed.service.option_names) == 54
        await eventually(lambda: feed.last is not None and feed.last.rv_annual is not None)
        await eventually(lambda: runtime.service.core.regime().atm_iv_annual is not None)
        snap = feed.last
        assert snap is not None and snap.cm_iv_annual is not None and snap.rv_annual is not None
        regime = runtime.service.core.regime()
        # Assert: the regime holds the service's constant-maturity IV and compares it with the same horizon's RV
        assert regime.atm_iv_annual == feed.analyzer.regime().atm_iv_annual
        assert regime.iv_rv_ratio == pytest.approx(regime.atm_iv_annual / regime.rv_annual)  # type: ignore[operator]
        assert snap.rv_span_s >= 0.9 * 7 * 86_400  # seven days of 1m index history
        assert "iv=" in runtime.status().line() and "iv/rv=" in runtime.status().line()
        # the expiries against Black-76 on the emulator's own chain now (the vol drifts a little in sim seconds)
        assert_expiries_are_black76(server, snap.expiries)
        assert 0.0 < snap.constant_maturity_years == 7 * 86_400 / SECONDS_PER_YEAR
        assert math.isfinite(snap.iv_minus_rv or math.nan)
    finally:
        await runtime.stop()
    assert runtime.options_vol is not None and runtime.options_vol.session.connection is None


async def test_options_vol_can_be_switched_off(start_emulator: EmulatorFactory) -> None:
    server = await start_emulator()
    runtime = await build_runtime(run_config(server, "shadow", **{"options_vol.enabled": False}))
    try:
        assert runtime.options_vol is None
        assert runtime.service.core.regime().atm_iv_annual is None
    finally:
        await runtime.stop()
