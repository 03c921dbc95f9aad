from __future__ import annotations

import math
import time

import numpy as np
import pytest

from thalex_modular.emulator.market import MarketConfig, MarketModel, UnderlyingConfig

SEC = 1_000_000_000


def _walk(model: MarketModel, seconds: int, step_s: float) -> list[float]:
    prices = []
    now = model.config.start_ns
    for _ in range(int(seconds / step_s)):
        now += int(step_s * SEC)
        model.step(now)
        prices.append(model.index_price("BTCUSD"))
    return prices


def test_same_seed_same_path_other_seed_other_path() -> None:
    a = _walk(MarketModel(MarketConfig(seed=3)), 120, 0.5)
    b = _walk(MarketModel(MarketConfig(seed=3)), 120, 0.5)
    c = _walk(MarketModel(MarketConfig(seed=4)), 120, 0.5)
    assert a == b
    assert a != c


def test_path_does_not_depend_on_step_pattern() -> None:
    # Arrange
    fine = MarketModel(MarketConfig(seed=5))
    coarse = MarketModel(MarketConfig(seed=5))
    end = fine.config.start_ns + 600 * SEC
    # Act
    _walk(fine, 600, 0.1)
    coarse.step(end)
    # Assert
    assert fine.index_price("BTCUSD") == coarse.index_price("BTCUSD")
    assert fine.index_price("ETHUSD") == coarse.index_price("ETHUSD")


def test_starts_at_configured_price_and_time_never_runs_back() -> None:
    model = MarketModel(MarketConfig(seed=1))
    assert model.index_price("BTCUSD") == pytest.approx(100_000.0, rel=1e-4)
    model.step(model.config.start_ns + 60 * SEC)
    price = model.index_price("BTCUSD")
    model.step(model.config.start_ns + 10 * SEC)
    assert model.index_price("BTCUSD") == price


def _annual_vol(closes: np.ndarray, seconds_per_obs: float) -> float:
    r = np.diff(np.log(closes))
    return float(np.sqrt(np.mean(r * r) * 365 * 86_400 / seconds_per_obs))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_history_realised_vol_near_configured(seed: int) -> None:
    model = MarketModel(MarketConfig(seed=seed))
    start_s = model.config.start_ns / SEC
    rows = model.index_history("BTCUSD", start_s - 7 * 86_400, start_s, "1m")["index"]
    closes = np.array([r[4] for r in rows])  # type: ignore[index]
    assert len(closes) == 7 * 1440
    assert _annual_vol(closes, 60.0) == pytest.approx(0.55, rel=0.25)


def test_live_realised_vol_near_configured_over_a_day() -> None:
    # No vol-of-vol, jumps or trends so that one day is enough for a tight estimate
    u = UnderlyingConfig(currency="BTC", initial_price_usd=100_000.0, annual_vol=0.8, vol_of_vol=0.0,
                         jumps_per_day=0.0, trend_spells_per_day=0.0)
    model = MarketModel(MarketConfig(seed=11, underlyings=(u,)))
    start_s = model.config.start_ns / SEC
    model.step(model.config.start_ns + 86_400 * SEC)
    rows = model.index_history("BTCUSD", start_s, start_s + 86_400, "1m")["index"]
    closes = np.array([r[4] for r in rows])  # type: ignore[index]
    assert len(closes) == 1440
    assert _annual_vol(closes, 60.0) == pytest.approx(0.8, rel=0.1)


def test_jumps_and_trend_spells_occur() -> None:
    u = UnderlyingConfig(currency="BTC", initial_price_usd=100_000.0, jumps_per_day=50.0, jump_sd=0.02,
                         trend_spells_per_day=24.0)
    model = MarketModel(MarketConfig(seed=2, underlyings=(u,)))
    start_s = model.config.start_ns / SEC
    rows = model.index_history("BTCUSD", start_s - 86_400, start_s, "1m")["index"]
    r = np.diff(np.log(np.array([row[4] for row in rows])))  # type: ignore[index]
    kurtosis = float(np.mean(r**4) / np.mean(r**2) ** 2)
    assert kurtosis > 5.0  # jumps fatten the tails (normal: 3)
    directions = set()
    now = model.config.start_ns
    for _ in range(48):
        now += 1800 * SEC
        model.step(now)
        directions.add(model.trend_direction("BTCUSD"))
    assert {1, -1} <= directions or {1, 0} <= directions or {-1, 0} <= directions


def test_generation_of_seven_days_history_is_fast() -> None:
    t0 = time.perf_counter()
    MarketModel(MarketConfig(seed=9))
    assert time.perf_counter() - t0 < 1.0


def test_index_json_is_api_index_object(model: MarketModel) -> None:
    doc = model.index_json("ETHUSD", model.config.start_ns + 5 * SEC)
    assert set(doc) == {"index_name", "price", "timestamp"}
    assert doc["index_name"] == "ETHUSD"
    assert doc["timestamp"] == pytest.approx(model.config.start_ns / SEC + 5)
    assert math.isfinite(float(doc["price"]))  # type: ignore[arg-type]
