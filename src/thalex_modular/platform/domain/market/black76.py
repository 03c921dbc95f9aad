"""Black-76 option pricing, greeks and implied vol on a forward (scalar; the emulator adds vectorised forms).

The one Black-76 of the project: the emulator prices its option chain with it and the options volatility service
inverts the chain's marks with it. Units: forward and strike in USD, ``years`` to expiry in years (ACT/365), ``vol``
annualised, ``rate`` continuously compounded per year (discounting only; 0 means undiscounted). Prices in USD.
Delta is the forward delta e^{-rT} N(d1) (call) / e^{-rT} (N(d1) - 1) (put); with the forward
F = S e^{rT} it equals the spot delta dV/dS.
"""

from __future__ import annotations

import math

_SQRT_2PI = math.sqrt(2.0 * math.pi)
MIN_YEARS = 1e-9


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / _SQRT_2PI


def _check(forward: float, strike: float, years: float, vol: float) -> None:
    if not forward > 0.0:
        raise ValueError(f"invalid `forward` <= 0, was {forward}")
    if not strike > 0.0:
        raise ValueError(f"invalid `strike` <= 0, was {strike}")
    if years < 0.0:
        raise ValueError(f"invalid `years` < 0, was {years}")
    if vol < 0.0:
        raise ValueError(f"invalid `vol` < 0, was {vol}")


def _d1_d2(forward: float, strike: float, years: float, vol: float) -> tuple[float, float]:
    sd = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    return d1, d1 - sd


def price(forward: float, strike: float, years: float, vol: float, is_call: bool, rate: float = 0.0) -> float:
    """Black-76 premium in USD. At expiry (or zero vol) the discounted intrinsic value.

    Raises ValueError when forward or strike <= 0, or years or vol < 0.
    """
    _check(forward, strike, years, vol)
    df = math.exp(-rate * years)
    if years <= MIN_YEARS or vol == 0.0:
        intrinsic = forward - strike if is_call else strike - forward
        return df * max(intrinsic, 0.0)
    d1, d2 = _d1_d2(forward, strike, years, vol)
    if is_call:
        return df * (forward * _norm_cdf(d1) - strike * _norm_cdf(d2))
    return df * (strike * _norm_cdf(-d2) - forward * _norm_cdf(-d1))


def delta(forward: float, strike: float, years: float, vol: float, is_call: bool, rate: float = 0.0) -> float:
    """Forward delta (dimensionless, per unit of underlying): call in [0, 1], put in [-1, 0]."""
    _check(forward, strike, years, vol)
    df = math.exp(-rate * years)
    if years <= MIN_YEARS or vol == 0.0:
        itm = forward > strike if is_call else forward < strike
        return (df if is_call else -df) if itm else 0.0
    d1, _ = _d1_d2(forward, strike, years, vol)
    return df * _norm_cdf(d1) if is_call else df * (_norm_cdf(d1) - 1.0)


def gamma(forward: float, strike: float, years: float, vol: float, rate: float = 0.0) -> float:
    """d(delta)/dF per USD (same for calls and puts)."""
    _check(forward, strike, years, vol)
    if years <= MIN_YEARS or vol == 0.0:
        return 0.0
    d1, _ = _d1_d2(forward, strike, years, vol)
    return math.exp(-rate * years) * _norm_pdf(d1) / (forward * vol * math.sqrt(years))


def vega(forward: float, strike: float, years: float, vol: float, rate: float = 0.0) -> float:
    """dPrice/dVol in USD per 1.00 (100 vol points) of annualised vol (same for calls and puts)."""
    _check(forward, strike, years, vol)
    if years <= MIN_YEARS or vol == 0.0:
        return 0.0
    d1, _ = _d1_d2(forward, strike, years, vol)
    return math.exp(-rate * years) * forward * _norm_pdf(d1) * math.sqrt(years)


def theta(forward: float, strike: float, years: float, vol: float, is_call: bool, rate: float = 0.0) -> float:
    """dPrice/dt in USD per year of calendar time passing (negative for a long option when rate = 0)."""
    _check(forward, strike, years, vol)
    if years <= MIN_YEARS or vol == 0.0:
        return 0.0
    d1, _ = _d1_d2(forward, strike, years, vol)
    decay = -math.exp(-rate * years) * forward * _norm_pdf(d1) * vol / (2.0 * math.sqrt(years))
    return decay + rate * price(forward, strike, years, vol, is_call, rate)


def implied_vol(premium: float, forward: float, strike: float, years: float, is_call: bool, rate: float = 0.0) -> float:
    """Annualised vol that reprices ``premium`` (USD), by bisection on [1e-4, 10].

    Raises ValueError if the premium is outside the no-arbitrage bounds.
    """
    _check(forward, strike, years, 0.0)
    lo_p = price(forward, strike, years, 0.0, is_call, rate)
    hi_p = math.exp(-rate * years) * (forward if is_call else strike)
    if not lo_p <= premium < hi_p:
        raise ValueError(f"invalid `premium` outside [{lo_p}, {hi_p}), was {premium}")
    lo, hi = 1e-4, 10.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if price(forward, strike, years, mid, is_call, rate) < premium:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return 0.5 * (lo + hi)
