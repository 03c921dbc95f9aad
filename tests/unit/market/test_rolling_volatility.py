"""RollingVolatility and ExactSum: exact rolling sums, time-based vol, one annualisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market import (
    SECONDS_PER_YEAR,
    ExactSum,
    RollingVolatility,
    annualise,
    log_return,
    per_sqrt_second,
)


def test_annualise_scales_by_sqrt_of_seconds_per_year() -> None:
    assert SECONDS_PER_YEAR == 31_536_000.0
    assert annualise(1.0) == pytest.approx(math.sqrt(31_536_000.0), rel=1e-15)
    assert per_sqrt_second(annualise(2.5e-4)) == pytest.approx(2.5e-4, rel=1e-15)
    # 50 %/yr is about 8.9e-5 per sqrt(second)
    assert per_sqrt_second(0.5) == pytest.approx(8.9036e-5, rel=1e-4)


def test_log_return_keeps_precision_for_tiny_moves() -> None:
    assert log_return(100_000.0, 100_001.0) == pytest.approx(math.log(100_001 / 100_000), rel=1e-10)
    assert log_return(1.0, 1.0) == 0.0


def test_exact_sum_leaves_no_residue_after_a_huge_term_leaves() -> None:
    # Arrange
    s = ExactSum()
    # Act: a crash-sized squared return enters, tiny ones follow, the crash leaves
    s.add(4.0)
    for _ in range(10):
        s.add(1e-20)
    s.add(-4.0)
    # Assert: a naive float sum would read 0.0 here
    assert s.value == pytest.approx(1e-19, rel=1e-15)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=60),
       st.integers(1, 10))
def test_exact_sum_matches_fsum_of_the_window(values: list[float], window: int) -> None:
    s = ExactSum()
    for i, v in enumerate(values):
        s.add(v)
        if i >= window:
            s.add(-values[i - window])
    assert s.value == math.fsum(values[-window:])


def test_window_size_is_validated() -> None:
    with pytest.raises(InvalidValue, match="window_samples must be an int >= 2, was 1"):
        RollingVolatility(1)


def test_vol_is_measured_on_time_not_on_tick_count() -> None:
    # The same Brownian motion (1e-4 per sqrt(second)) sampled every 0.1 s and every 1 s reads the same
    # per-second vol (LESSONS 6): tick count does not matter, elapsed time does.
    rng = np.random.default_rng(7)
    sigma = 1e-4
    estimates = []
    for dt_s in (0.1, 1.0):
        rv = RollingVolatility(2000)
        for r in rng.normal(0.0, sigma * math.sqrt(dt_s), 2000):
            rv.push(float(r), round(dt_s * 1e9))
        estimates.append(rv.sigma_per_sqrt_s())
    assert estimates[0] == pytest.approx(sigma, rel=0.05)
    assert estimates[1] == pytest.approx(sigma, rel=0.05)


def test_empty_window_reads_zero_and_trend_is_bounded_by_sqrt_n() -> None:
    rv = RollingVolatility(4)
    assert rv.sigma_per_sqrt_s() == 0.0
    assert rv.trend_strength() == 0.0
    for _ in range(6):
        rv.push(0.001, 1_000_000_000)
    assert rv.count == 4
    assert rv.is_full
    assert rv.elapsed_s == 4.0
    assert rv.trend_strength() == pytest.approx(2.0, rel=1e-12)  # sqrt(4) for equal one-way steps
    assert rv.drift_per_s() == pytest.approx(0.001, rel=1e-12)
    assert rv.sigma_per_sqrt_s() == pytest.approx(0.001, rel=1e-12)
