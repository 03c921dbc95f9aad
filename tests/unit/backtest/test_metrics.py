"""Post-run statistics on hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thalex_modular.platform.use_cases.backtest.metrics import half_life_s, markouts_bps, max_drawdown, sharpe_sortino
from thalex_modular.platform.use_cases.backtest.recorder import FILL_DTYPE, mqp_side_size, sample_interval_for


def test_max_drawdown_is_the_largest_fall_from_a_running_peak() -> None:
    assert max_drawdown(np.array([0.0, 5.0, 2.0, 7.0, 1.0, 3.0])) == 6.0
    assert max_drawdown(np.array([1.0, 2.0, 3.0])) == 0.0


def test_half_life_of_an_ar1_series() -> None:
    # Arrange: x[t+1] = 0.5 x[t] + noise, sampled every 2 s: half-life one step = 2 s
    rng = np.random.default_rng(3)
    x = np.zeros(20_000)
    for i in range(1, len(x)):
        x[i] = 0.5 * x[i - 1] + rng.normal()
    # Act / Assert
    assert half_life_s(x, 2.0) == pytest.approx(2.0, rel=0.05)
    assert math.isnan(half_life_s(np.zeros(100), 1.0))


def test_markouts_are_amount_weighted_signed_edges_and_skip_unreached_horizons() -> None:
    # Arrange: bought 1 at 100, mid 101 after 1 s (+100 bps); sold 3 at 100, mid 99 after 1 s (+100 bps) and
    # 102 after 10 s (-200 bps); 60 s never reached
    fills = np.zeros(2, dtype=FILL_DTYPE)
    fills["side"] = [1, -1]
    fills["price"] = 100.0
    fills["amount"] = [1.0, 3.0]
    fills["mid_1s"] = [101.0, 99.0]
    fills["mid_10s"] = [np.nan, 102.0]
    fills["mid_60s"] = np.nan
    # Act
    m1, m10, m60 = markouts_bps(fills)
    # Assert
    assert m1 == pytest.approx(100.0)
    assert m10 == pytest.approx(-200.0)
    assert math.isnan(m60)


def test_sharpe_and_sortino_need_two_steps_and_see_only_the_downside() -> None:
    assert all(math.isnan(v) for v in sharpe_sortino(np.array([0.0, 1.0]), 60.0))
    sharpe, sortino = sharpe_sortino(np.array([0.0, 2.0, 1.0, 3.0, 2.0, 4.0]), 60.0)
    changes = np.array([2.0, -1.0, 2.0, -1.0, 2.0])
    per_year = math.sqrt(365 * 24 * 60)
    assert sharpe == pytest.approx(changes.mean() / changes.std(ddof=1) * per_year)
    assert sortino == pytest.approx(changes.mean() / math.sqrt(2 / 5) * per_year)


def test_mqp_size_discounts_linearly_to_zero_at_10_bps() -> None:
    assert mqp_side_size([(100_000.0, 1.0), (99_950.0, 2.0), (99_800.0, 5.0)], 100_000.0) == pytest.approx(2.0)


def test_the_sample_grid_widens_on_long_ranges() -> None:
    second = 10**9
    assert sample_interval_for(0, 3_600 * second) == second
    assert sample_interval_for(0, 30 * 86_400 * second) == -(-30 * 86_400 * second // 200_000)
