"""The regime acts in the direction it claims: a higher risk multiplier never narrows the quotes, and every
defensive regime (VOLATILE, TRENDING, implied vol above realized) quotes wider than NORMAL."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings, strategies as st

from stubs import perpetual
from thalex_modular.platform.domain.market import MultiWindowRegimeAnalyzer, RegimeConfig, RegimeLabel
from thalex_modular.platform.domain.quote_array import new_quote_array
from thalex_modular.strategies import AvellanedaStoikovConfig, AvellanedaStoikovStrategy

S = 1_000_000_000
NOW = 1_700_000_000 * S
SIGMA_20_PCT = 0.2 / math.sqrt(365 * 24 * 3600)  # relative, per sqrt(second)


def _touch(strat: AvellanedaStoikovStrategy, multiplier: float, position: float = 0.0,
           sigma: float = SIGMA_20_PCT) -> tuple[int, int]:
    """(best bid ticks, best ask ticks) around 100 000 with an empty book; arguments by position."""
    out = new_quote_array(strat.max_quotes)
    n = strat.quote_into(out, perpetual(), None, None, 100_000.0, position, sigma, multiplier, NOW)
    rows = out[:n].tolist()
    bids = [r[1] for r in rows if r[0] == 1]
    asks = [r[1] for r in rows if r[0] == 0]
    return max(bids), min(asks)


def test_the_issues_example_a_doubled_multiplier_does_not_narrow() -> None:
    # 20 %/yr at 100 000, kappa 0.03 /USD, gamma 0.002, unit order size: scaling gamma by 2 took the spread from
    # 66.06 to 65.63 USD (the regime said "wider" and quoted tighter)
    strat = AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
        gamma=0.002, max_position_underlying=5.0, level_amounts=(1.0,), kappa_per_usd=0.03, min_spread_ticks=1))
    bid1, ask1 = _touch(strat, 1.0)
    bid2, ask2 = _touch(strat, 2.0)
    assert ask2 - bid2 > ask1 - bid1


@settings(max_examples=300, deadline=None)
@given(gamma=st.floats(1e-5, 0.1), kappa=st.floats(1e-3, 10.0), sigma=st.floats(0.0, 1e-4),
       size=st.sampled_from([0.001, 0.01, 0.1, 1.0, 5.0]), position=st.floats(-1.0, 1.0),
       low=st.floats(0.3, 3.0), factor=st.floats(1.0, 3.0), fee=st.sampled_from([0.0, 1.0]))
def test_a_higher_multiplier_never_narrows_the_spread_nor_weakens_the_skew(
    gamma: float, kappa: float, sigma: float, size: float, position: float, low: float, factor: float, fee: float
) -> None:
    strat = AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
        gamma=gamma, max_position_underlying=10.0, level_amounts=(size,), kappa_per_usd=kappa, min_spread_ticks=1,
        max_skew_ticks=10_000, maker_fee_bps=fee))
    bid_lo, ask_lo = _touch(strat, low, position, sigma)
    bid_hi, ask_hi = _touch(strat, low * factor, position, sigma)
    assert ask_hi - bid_hi >= ask_lo - bid_lo
    # the centre moves away from the mid at least as far (toward reducing the position)
    assert abs((bid_hi + ask_hi) - 200_000) >= abs((bid_lo + ask_lo) - 200_000) - 2


def _analyzer_in(label: str) -> MultiWindowRegimeAnalyzer:
    """An analyzer driven into ``label`` (1 s steps, 10 %/yr-ish noise), or NORMAL with a fresh IV above RV."""
    rng = np.random.default_rng(3)
    analyzer = MultiWindowRegimeAnalyzer()
    base = rng.normal(0.0, 2e-5, 900)
    tail = {
        "normal": rng.normal(0.0, 2e-5, 40),
        "volatile": rng.normal(0.0, 8e-5, 40),
        "trending": rng.normal(0.0, 2e-5, 40) + 2e-5,
        "iv_above_rv": rng.normal(0.0, 2e-5, 40),
        "calm": rng.normal(0.0, 0.3e-5, 40),
    }[label]
    price, ts = 100_000.0, NOW
    analyzer.update(price, ts)
    for r in np.concatenate([base, tail]):
        price *= math.exp(float(r))
        ts += S
        analyzer.update(price, ts)
    if label == "iv_above_rv":
        rv = analyzer.regime().sigma_slow_annual
        analyzer.set_implied_vol(1.4 * rv, ts, rv)
    return analyzer


def test_every_defensive_regime_widens_and_calm_never_goes_below_the_fee_floor() -> None:
    # Arrange: one strategy, the same sigma for every regime (only the regime's multiplier differs)
    strat = AvellanedaStoikovStrategy(AvellanedaStoikovConfig(
        gamma=0.002, max_position_underlying=1.0, level_amounts=(0.01,), kappa_per_usd=0.05, min_spread_ticks=1,
        maker_fee_bps=1.0, min_edge_bps=0.5))
    regimes = {label: _analyzer_in(label).regime() for label in ("normal", "volatile", "trending", "iv_above_rv",
                                                                 "calm")}
    assert regimes["normal"].label is RegimeLabel.NORMAL
    assert regimes["volatile"].label is RegimeLabel.VOLATILE
    assert regimes["trending"].label is RegimeLabel.TRENDING
    assert regimes["calm"].label is RegimeLabel.CALM
    assert regimes["iv_above_rv"].label is RegimeLabel.NORMAL and regimes["iv_above_rv"].iv_rv_ratio is not None
    # Act
    spreads = {}
    for label, regime in regimes.items():
        bid, ask = _touch(strat, regime.risk_multiplier)
        spreads[label] = ask - bid
    # Assert
    for defensive in ("volatile", "trending", "iv_above_rv"):
        assert regimes[defensive].risk_multiplier > regimes["normal"].risk_multiplier
        assert spreads[defensive] > spreads["normal"], defensive
    assert spreads["calm"] <= spreads["normal"]
    assert spreads["calm"] >= 2 * 15  # 1 bp fee + 0.5 bp edge of 100 000 on each side


def test_the_config_refuses_multipliers_that_act_backwards() -> None:
    import re

    import pytest

    from thalex_modular.platform.domain.errors import InvalidValue

    for kwargs, message in (
        ({"volatile_risk_multiplier": 0.9}, "volatile_risk_multiplier must be >= normal_risk_multiplier 1.0, was 0.9"),
        ({"trending_risk_multiplier": 0.5}, "trending_risk_multiplier must be >= normal_risk_multiplier 1.0, was 0.5"),
        ({"calm_risk_multiplier": 1.2}, "calm_risk_multiplier must be <= normal_risk_multiplier 1.0, was 1.2"),
        ({"iv_rv_factor_max": 0.9}, "iv_rv_factor_max must be >= 1, was 0.9"),
        ({"iv_rv_factor_min": 1.1}, "iv_rv_factor_min must be <= 1, was 1.1"),
    ):
        with pytest.raises(InvalidValue, match=re.escape(message)):
            RegimeConfig(**kwargs)  # type: ignore[arg-type]
