"""Volatility the quotes can trust from the first ticker (a floor, a warm-up that never quotes on sigma = 0) and
windows whose meaning is time, whatever the ticker rate (issue 16 item 4)."""

from __future__ import annotations

import math

import pytest

from thalex_modular.platform.domain.market import MultiWindowRegimeAnalyzer, RegimeConfig, per_sqrt_second

S = 1_000_000_000
T0 = 1_700_000_000 * S


def test_a_fresh_or_flat_market_quotes_on_the_sigma_floor_not_on_zero() -> None:
    cfg = RegimeConfig()
    floor = per_sqrt_second(cfg.sigma_floor_annual)
    assert floor > 0
    analyzer = MultiWindowRegimeAnalyzer(cfg)
    assert analyzer.quoting_inputs()[0] == floor  # before any price
    for k in range(600):  # ten minutes of a mark that never moves
        analyzer.update(100_000.0, T0 + k * S)
    regime = analyzer.regime()
    assert regime.sigma_fast_per_sqrt_s == 0.0 and regime.ready
    assert analyzer.quoting_inputs()[0] == regime.quoting_sigma_per_sqrt_s == floor


def test_warm_up_quotes_on_the_implied_vol_until_the_windows_cover_their_time() -> None:
    cfg = RegimeConfig()
    analyzer = MultiWindowRegimeAnalyzer(cfg)
    analyzer.set_implied_vol(0.8, T0)
    analyzer.update(100_000.0, T0)
    analyzer.update(100_001.0, T0 + S)  # one tiny return: a measured vol, from one second of data
    regime = analyzer.regime()
    assert not regime.ready
    assert regime.quoting_sigma_per_sqrt_s == pytest.approx(per_sqrt_second(0.8))
    # once the data covers the mid window, the measured vol (and the floor) decide
    for k in range(2, 2 + cfg.mid_window_ns // S):
        analyzer.update(100_000.0 + (k % 2), T0 + k * S)
    regime = analyzer.regime()
    assert regime.ready
    assert regime.quoting_sigma_per_sqrt_s == max(regime.sigma_fast_per_sqrt_s, regime.sigma_mid_per_sqrt_s,
                                                  per_sqrt_second(cfg.sigma_floor_annual))


@pytest.mark.parametrize("tickers_per_s", [1, 4, 20])
def test_windows_cover_the_same_time_whatever_the_ticker_rate(tickers_per_s: int) -> None:
    # Arrange: a flat mark with one 1 % jump at 100 s, seen at different ticker rates
    cfg = RegimeConfig()
    analyzer = MultiWindowRegimeAnalyzer(cfg)
    step = S // tickers_per_s

    def feed_until(t_s: float, start: int) -> int:
        k = start
        while k * step <= t_s * S:
            analyzer.update(100_000.0 if k * step < 100 * S else 101_000.0, T0 + k * step)
            k += 1
        return k

    # Act / Assert: the fast window (10 s) holds the jump 5 s later and has forgotten it 15 s later
    k = feed_until(105, 0)
    assert analyzer.regime().sigma_fast_per_sqrt_s > 0.0
    k = feed_until(115, k)
    assert analyzer.regime().sigma_fast_per_sqrt_s == 0.0
    # the mid window (60 s) still holds it, and the slow one (300 s) long after
    assert analyzer.regime().sigma_mid_per_sqrt_s > 0.0
    k = feed_until(170, k)
    assert analyzer.regime().sigma_mid_per_sqrt_s == 0.0 and analyzer.regime().sigma_slow_per_sqrt_s > 0.0
    assert math.isfinite(analyzer.regime().vol_ratio)
