from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from thalex_modular.emulator.market import black76


def test_textbook_value_hull_futures_put() -> None:
    # Hull, Options Futures and Other Derivatives: F=20, K=20, r=9 %, T=4 months, vol 25 % -> put 1.12
    put = black76.price(20.0, 20.0, 4 / 12, 0.25, is_call=False, rate=0.09)
    assert put == pytest.approx(1.1166, abs=1e-3)


def test_atm_call_approximation() -> None:
    # ATM undiscounted call ~ 0.4 * F * vol * sqrt(T)
    call = black76.price(100_000.0, 100_000.0, 0.25, 0.6, is_call=True)
    assert call == pytest.approx(0.3989 * 100_000 * 0.6 * 0.5, rel=0.02)


@settings(max_examples=150, deadline=None)
@given(
    fwd=st.floats(100.0, 200_000.0), moneyness=st.floats(0.5, 2.0), years=st.floats(1e-4, 2.0),
    vol=st.floats(0.05, 2.0), rate=st.floats(0.0, 0.1),
)
def test_put_call_parity_and_delta_bounds(fwd: float, moneyness: float, years: float, vol: float, rate: float) -> None:
    strike = fwd * moneyness
    call = black76.price(fwd, strike, years, vol, True, rate)
    put = black76.price(fwd, strike, years, vol, False, rate)
    assert call - put == pytest.approx(math.exp(-rate * years) * (fwd - strike), abs=1e-7 * fwd)
    dc = black76.delta(fwd, strike, years, vol, True, rate)
    dp = black76.delta(fwd, strike, years, vol, False, rate)
    assert 0.0 <= dc <= 1.0 and -1.0 <= dp <= 0.0
    assert dc - dp == pytest.approx(math.exp(-rate * years))


def test_delta_gamma_vega_match_finite_differences() -> None:
    f, k, t, v = 3_500.0, 3_700.0, 0.1, 0.7
    h = 1e-3
    fd_delta = (black76.price(f + h, k, t, v, True) - black76.price(f - h, k, t, v, True)) / (2 * h)
    assert black76.delta(f, k, t, v, True) == pytest.approx(fd_delta, rel=1e-5)
    fd_gamma = (black76.delta(f + h, k, t, v, True) - black76.delta(f - h, k, t, v, True)) / (2 * h)
    assert black76.gamma(f, k, t, v) == pytest.approx(fd_gamma, rel=1e-4)
    fd_vega = (black76.price(f, k, t, v + 1e-5, True) - black76.price(f, k, t, v - 1e-5, True)) / 2e-5
    assert black76.vega(f, k, t, v) == pytest.approx(fd_vega, rel=1e-5)
    fd_theta = -(black76.price(f, k, t + 1e-6, v, True) - black76.price(f, k, t - 1e-6, v, True)) / 2e-6
    assert black76.theta(f, k, t, v, True) == pytest.approx(fd_theta, rel=1e-4)


def test_implied_vol_round_trip_and_bounds() -> None:
    premium = black76.price(100_000.0, 90_000.0, 0.05, 0.55, False)
    assert black76.implied_vol(premium, 100_000.0, 90_000.0, 0.05, False) == pytest.approx(0.55, abs=1e-6)
    with pytest.raises(ValueError, match="premium"):
        black76.implied_vol(200_000.0, 100_000.0, 90_000.0, 0.05, True)


def test_expiry_is_intrinsic_and_bad_inputs_are_named() -> None:
    assert black76.price(110.0, 100.0, 0.0, 0.5, True) == 10.0
    assert black76.price(110.0, 100.0, 0.0, 0.5, False) == 0.0
    with pytest.raises(ValueError, match="strike"):
        black76.price(100.0, -1.0, 1.0, 0.5, True)


def test_vectorised_price_equals_scalar() -> None:
    fwd = np.array([90.0, 100.0, 120.0])
    strikes = np.array([100.0, 100.0, 95.0])
    years = np.array([0.1, 0.5, 1.0])
    vols = np.array([0.3, 0.6, 0.9])
    calls = np.array([True, False, True])
    out = black76.price_array(fwd, strikes, years, vols, calls)
    expected = [black76.price(*args) for args in zip(fwd, strikes, years, vols, calls, strict=True)]
    np.testing.assert_allclose(out, expected, rtol=1e-10)


def test_vectorised_delta_equals_scalar_including_expiry_and_zero_vol() -> None:
    fwd = np.array([90.0, 100.0, 120.0, 110.0, 90.0, 100.0, 110.0, 90.0])
    strikes = np.array([100.0, 100.0, 95.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    years = np.array([0.1, 0.5, 1.0, 0.0, 0.0, 0.0, 0.3, 0.3])
    vols = np.array([0.3, 0.6, 0.9, 0.5, 0.5, 0.5, 0.0, 0.0])
    calls = np.array([True, False, True, True, False, False, False, True])
    out = black76.delta_array(fwd, strikes, years, vols, calls)
    expected = [black76.delta(*args) for args in zip(fwd, strikes, years, vols, calls, strict=True)]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)
