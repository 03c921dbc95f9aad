"""KappaEstimator: exponential fit of trade distances, bounds, fallback, rolling window."""

from __future__ import annotations

import re

import numpy as np
import pytest

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.strategies import KappaEstimator


def _estimator(window: int = 2000, min_trades: int = 20) -> KappaEstimator:
    return KappaEstimator(window, min_trades, kappa_min_per_usd=0.01, kappa_max_per_usd=10.0,
                          fallback_kappa_per_usd=0.3)


def test_recovers_the_decay_rate_of_exponential_distances() -> None:
    est = _estimator()
    for d in np.random.default_rng(0).exponential(1 / 0.2, 2000):  # kappa 0.2 per USD
        est.observe(float(d))
    assert est.kappa_per_usd() == pytest.approx(0.2, rel=0.07)


def test_fallback_until_enough_trades_then_bounded() -> None:
    est = _estimator(window=5, min_trades=3)
    est.observe(1.0)
    est.observe(1.0)
    assert est.kappa_per_usd() == 0.3
    est.observe(1.0)
    assert est.kappa_per_usd() == pytest.approx(1.0)
    for _ in range(5):
        est.observe(0.0)  # every trade at the mid: the upper bound
    assert est.kappa_per_usd() == 10.0
    for _ in range(5):
        est.observe(1000.0)  # the window rolled: only far trades remain → the lower bound
    assert est.count == 5
    assert est.kappa_per_usd() == 0.01


def test_inputs_are_validated() -> None:
    with pytest.raises(InvalidValue, match=re.escape("distance_usd must be finite and >= 0, was -1.0")):
        _estimator().observe(-1.0)
    with pytest.raises(InvalidValue, match=r"min_trades must be an int in \[1, window_trades=5\], was 6"):
        KappaEstimator(5, 6, 0.1, 1.0, 0.5)
    with pytest.raises(InvalidValue, match=re.escape("kappa_min_per_usd must be <= kappa_max_per_usd 1.0, was 2.0")):
        KappaEstimator(5, 2, 2.0, 1.0, 0.5)
