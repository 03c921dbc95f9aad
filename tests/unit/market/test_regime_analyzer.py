"""MultiWindowRegimeAnalyzer: exactness against numpy, input rules, classification, IV/RV, risk multiplier."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market import (
    MultiWindowRegimeAnalyzer,
    RegimeConfig,
    RegimeLabel,
    annualise,
)

S = 1_000_000_000
MS = 1_000_000
SMALL = RegimeConfig(fast_window_ns=3 * S, mid_window_ns=7 * S, slow_window_ns=15 * S, sample_interval_ns=MS)


def _direct_sigma(prices: np.ndarray, ts_ns: np.ndarray, window_ns: int) -> float:
    """Realized vol per sqrt(second) computed directly over the returns that began within ``window_ns`` of the last
    sample (the newest always counts)."""
    r = np.log1p(np.diff(prices) / prices[:-1])
    starts = ts_ns[:-1]
    inside = ts_ns[-1] - starts <= window_ns
    inside[-1] = True
    dt_s = np.diff(ts_ns) / 1e9
    return float(np.sqrt(np.sum(r[inside] ** 2) / np.sum(dt_s[inside])))


def _feed(analyzer: MultiWindowRegimeAnalyzer, returns: np.ndarray, dt_s: float, start: float = 100_000.0,
          t0_ns: int = 0) -> int:
    price, ts = start, t0_ns
    analyzer.update(price, ts)
    for r in returns:
        price *= math.exp(float(r))
        ts += round(dt_s * S)
        analyzer.update(price, ts)
    return ts


def _assert_close(actual: float, expected: float) -> None:
    if expected == 0.0:
        assert actual == 0.0
    else:
        assert abs(actual - expected) / expected < 1e-9


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-8.0, 8.0, allow_nan=False).map(lambda x: math.exp(x)),  # relative price level e^-8..e^8
            st.integers(MS, 10**10),  # irregular spacing: 1 ms (the sample interval) .. 10 s
        ),
        min_size=2,
        max_size=45,
    ),
    st.sampled_from([1.0, 1e-3, 1e5]),
)
def test_rv_equals_direct_numpy_computation_on_irregular_series(samples: list[tuple[float, int]], scale: float) -> None:
    # Arrange
    prices = np.array([p * scale for p, _ in samples])
    ts = np.cumsum(np.array([dt for _, dt in samples], dtype=np.int64))
    analyzer = MultiWindowRegimeAnalyzer(SMALL)
    # Act
    for p, t in zip(prices, ts, strict=True):
        analyzer.update(float(p), int(t))
    regime = analyzer.regime()
    # Assert
    _assert_close(regime.sigma_fast_per_sqrt_s, _direct_sigma(prices, ts, 3 * S))
    _assert_close(regime.sigma_mid_per_sqrt_s, _direct_sigma(prices, ts, 7 * S))
    _assert_close(regime.sigma_slow_per_sqrt_s, _direct_sigma(prices, ts, 15 * S))


def test_default_windows_stay_exact_after_a_crash_leaves_them() -> None:
    # A 30 % crash, then 1500 tiny moves: every window has long forgotten the crash and must read exactly calm.
    rng = np.random.default_rng(3)
    prices = [100_000.0, 70_000.0]
    for r in rng.normal(0.0, 1e-7, 1500):
        prices.append(prices[-1] * math.exp(float(r)))
    cfg = RegimeConfig()
    ts = np.cumsum(rng.integers(cfg.sample_interval_ns, 5 * S, len(prices)))
    analyzer = MultiWindowRegimeAnalyzer(cfg)
    for p, t in zip(prices, ts, strict=True):
        analyzer.update(p, int(t))
    regime = analyzer.regime()
    arr = np.array(prices)
    _assert_close(regime.sigma_fast_per_sqrt_s, _direct_sigma(arr, ts, cfg.fast_window_ns))
    _assert_close(regime.sigma_mid_per_sqrt_s, _direct_sigma(arr, ts, cfg.mid_window_ns))
    _assert_close(regime.sigma_slow_per_sqrt_s, _direct_sigma(arr, ts, cfg.slow_window_ns))
    assert regime.sigma_slow_annual == pytest.approx(annualise(regime.sigma_slow_per_sqrt_s), rel=1e-15)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_bad_price_is_refused_and_leaves_state_unchanged(bad: float) -> None:
    analyzer = MultiWindowRegimeAnalyzer(SMALL)
    analyzer.update(100.0, 1 * S)
    analyzer.update(101.0, 2 * S)
    before = analyzer.regime()
    with pytest.raises(InvalidValue, match=re.escape("mid_price must be finite and > 0")):
        analyzer.update(bad, 3 * S)
    assert analyzer.regime() == before
    analyzer.update(102.0, 3 * S)  # and the next good sample is measured from the last good one
    assert analyzer.samples == 2


def test_earlier_timestamp_is_refused_and_one_within_the_sample_interval_skipped() -> None:
    analyzer = MultiWindowRegimeAnalyzer(SMALL)
    analyzer.update(100.0, 10 * S)
    analyzer.update(101.0, 11 * S)
    before = analyzer.regime()
    with pytest.raises(InvalidValue, match=re.escape(f"ts_ns must be >= last ts_ns {11 * S}, was {10 * S}")):
        analyzer.update(99.0, 10 * S)
    assert analyzer.regime() == before
    analyzer.update(150.0, 11 * S)  # same nanosecond: skipped
    analyzer.update(150.0, 11 * S + MS - 1)  # within the sample interval: skipped
    assert analyzer.regime() == before
    analyzer.update(150.0, 11 * S + MS)  # a sample: its return is measured from 101 at 11 s
    expected = math.sqrt((math.log(101 / 100) ** 2 + math.log(150 / 101) ** 2) / 1.001)
    assert (analyzer.samples, analyzer.regime().sigma_fast_per_sqrt_s) == (2, pytest.approx(expected, rel=1e-12))
    with pytest.raises(InvalidValue, match=re.escape("ts_ns must be int nanoseconds")):
        analyzer.update(100.0, 12.5)  # type: ignore[arg-type]


def test_warm_up_is_normal_and_not_ready_until_the_data_spans_the_mid_window() -> None:
    analyzer = MultiWindowRegimeAnalyzer(SMALL)
    regime = analyzer.regime()
    assert (regime.label, regime.ready, regime.samples, regime.sigma_fast_per_sqrt_s) == (
        RegimeLabel.NORMAL, False, 0, 0.0,
    )
    # quiet for 6 s, then a spike: the data spans 7 s (the mid window) only with the spike
    ts = _feed(analyzer, np.full(6, 1e-4), 1.0)
    assert not analyzer.regime().ready
    assert analyzer.regime().label is RegimeLabel.NORMAL
    analyzer.update(110_000.0, ts + S)
    assert analyzer.regime().ready and analyzer.regime().label is RegimeLabel.VOLATILE


def _walk(seed: int, n: int, sigma_per_step: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, sigma_per_step, n)


def test_vol_spike_is_volatile_and_quiet_is_calm_with_matching_risk_multipliers() -> None:
    cfg = RegimeConfig()
    base = _walk(1, 600, 1e-4)
    volatile = MultiWindowRegimeAnalyzer(cfg)
    _feed(volatile, np.concatenate([base, _walk(2, 20, 4e-4)]), 1.0)
    calm = MultiWindowRegimeAnalyzer(cfg)
    _feed(calm, np.concatenate([base, _walk(2, 20, 0.2e-4)]), 1.0)

    rv, rc = volatile.regime(), calm.regime()
    assert rv.label is RegimeLabel.VOLATILE
    assert rv.vol_ratio >= cfg.volatile_vol_ratio
    assert rv.risk_multiplier == cfg.volatile_risk_multiplier
    assert rc.label is RegimeLabel.CALM
    assert rc.risk_multiplier == cfg.calm_risk_multiplier
    assert rv.risk_multiplier > rc.risk_multiplier  # a regime change changes the multiplier (LESSONS 7)


def test_steady_drift_is_trending() -> None:
    analyzer = MultiWindowRegimeAnalyzer()
    returns = _walk(4, 600, 1e-4) + 5e-5  # drift half a sigma per step
    _feed(analyzer, returns, 0.5)
    regime = analyzer.regime()
    assert regime.trend_strength > 3.0
    assert regime.label is RegimeLabel.TRENDING
    assert regime.risk_multiplier == RegimeConfig().trending_risk_multiplier


def test_iv_above_rv_raises_the_multiplier_bounded_compared_on_the_ivs_own_horizon() -> None:
    cfg = RegimeConfig()
    analyzer = MultiWindowRegimeAnalyzer(cfg)
    last_ts = _feed(analyzer, _walk(5, 600, 1e-4), 1.0)
    base = analyzer.regime()
    assert base.iv_rv_ratio is None
    rv_7d = 0.5  # the realized vol of the IV's horizon (days), measured by whoever measured the IV

    # an IV alone is not compared with minutes of realized vol: no ratio, no factor
    analyzer.set_implied_vol(1.2 * rv_7d, last_ts)
    alone = analyzer.regime()
    assert (alone.atm_iv_annual, alone.iv_rv_ratio, alone.risk_multiplier) == (0.6, None, base.risk_multiplier)

    analyzer.set_implied_vol(1.2 * rv_7d, last_ts, rv_7d)
    high = analyzer.regime()
    assert high.iv_rv_ratio == pytest.approx(1.2, rel=1e-12) and high.rv_annual == rv_7d
    assert high.risk_multiplier == pytest.approx(base.risk_multiplier * 1.2, rel=1e-12)

    analyzer.set_implied_vol(50 * rv_7d, last_ts, rv_7d)  # absurd IV: factor clamped
    assert analyzer.regime().risk_multiplier == pytest.approx(base.risk_multiplier * cfg.iv_rv_factor_max)

    analyzer.set_implied_vol(0.5 * rv_7d, last_ts, rv_7d)
    assert analyzer.regime().risk_multiplier == pytest.approx(base.risk_multiplier * cfg.iv_rv_factor_min)

    analyzer.set_implied_vol(None, last_ts, rv_7d)
    assert analyzer.regime().iv_rv_ratio is None and analyzer.regime().rv_annual is None


def test_stale_iv_counts_as_unknown() -> None:
    cfg = RegimeConfig(iv_max_age_ns=60 * S)
    analyzer = MultiWindowRegimeAnalyzer(cfg)
    analyzer.set_implied_vol(0.6, 0)
    _feed(analyzer, _walk(6, 50, 1e-4), 1.0)  # last sample at 50 s: IV is fresh
    assert analyzer.regime().atm_iv_annual == 0.6
    _feed(analyzer, _walk(7, 20, 1e-4), 1.0, t0_ns=51 * S)  # last sample at 71 s: IV 71 s old
    regime = analyzer.regime()
    assert regime.atm_iv_annual is None
    assert regime.iv_rv_ratio is None


def test_implied_vol_input_is_validated() -> None:
    analyzer = MultiWindowRegimeAnalyzer()
    with pytest.raises(InvalidValue, match=re.escape("atm_iv_annual must be finite and > 0, was -0.1")):
        analyzer.set_implied_vol(-0.1, 0)
    with pytest.raises(InvalidValue, match=re.escape("rv_annual must be finite and > 0, was 0.0")):
        analyzer.set_implied_vol(0.5, 0, 0.0)
    analyzer.set_implied_vol(0.5, 10)
    with pytest.raises(InvalidValue, match=re.escape("ts_ns must be >= previous 10, was 5")):
        analyzer.set_implied_vol(0.5, 5)


def test_risk_multiplier_is_clamped_to_config_bounds() -> None:
    cfg = RegimeConfig(trending_risk_multiplier=10.0, risk_multiplier_max=2.5)
    analyzer = MultiWindowRegimeAnalyzer(cfg)
    _feed(analyzer, np.full(70, 1e-4), 1.0)  # one-way moves for 70 s: trending
    regime = analyzer.regime()
    assert regime.label is RegimeLabel.TRENDING
    assert regime.risk_multiplier == 2.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fast_window_ns": 100 * S}, "fast < mid < slow"),
        ({"sample_interval_ns": 20 * S}, "sample_interval_ns must be <= fast_window_ns 10000000000, was 20000000000"),
        ({"sample_interval_ns": 1}, "slow_window_ns / sample_interval_ns must be <= 1048576"),
        ({"sigma_floor_annual": -0.1}, "sigma_floor_annual must be finite and >= 0, was -0.1"),
        ({"calm_vol_ratio": 2.0}, "calm_vol_ratio must be < volatile_vol_ratio 1.5, was 2.0"),
        ({"trend_threshold": -1.0}, "trend_threshold must be finite and > 0, was -1.0"),
        ({"risk_multiplier_min": 4.0}, "risk_multiplier_min must be <= risk_multiplier_max 3.0, was 4.0"),
        ({"iv_rv_factor_min": 2.0}, "iv_rv_factor_min must be <= 1, was 2.0"),
        ({"iv_max_age_ns": 0}, "iv_max_age_ns must be an int > 0, was 0"),
    ],
)
def test_config_errors_name_field_bound_and_value(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidValue, match=re.escape(message)):
        RegimeConfig(**kwargs)  # type: ignore[arg-type]
