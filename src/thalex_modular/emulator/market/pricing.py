"""Fair values from the index: perpetual premium, futures forward, implied-vol smile and option marks.

Every function works on numpy arrays (history candles) and, through the scalar helpers, on single values
(tickers), so live marks and historical marks come from the same formulas. Units: prices USD, time to expiry
in years (ACT/365), vols annualised, basis in bps of the index.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from . import black76
from .config import NANOS_PER_SECOND, SECONDS_PER_YEAR, SmileConfig, UnderlyingConfig
from .index_process import diffusive_annual_vol

FloatArray = npt.NDArray[np.float64]
MIN_YEARS_TO_EXPIRY = 60.0 / SECONDS_PER_YEAR  # expired instruments keep pricing as if 60 s were left
_BASIS_PERIODS_S = (900.0, 7_200.0, 30_000.0)


def years_to_expiry(now_ns: int | FloatArray, expiry_ns: int | npt.NDArray[np.int64]) -> FloatArray:
    """Years (ACT/365) from ``now_ns`` to ``expiry_ns``, floored at 60 s (the emulator does not settle)."""
    secs = (expiry_ns - np.asarray(now_ns, dtype=np.float64)) / NANOS_PER_SECOND
    return np.maximum(secs / SECONDS_PER_YEAR, MIN_YEARS_TO_EXPIRY)


def forward_price(index_usd: FloatArray, u: UnderlyingConfig, years: FloatArray) -> FloatArray:
    """Futures fair value and option forward: index * exp(carry * T), USD."""
    return np.asarray(index_usd * np.exp(u.carry_rate_annual * years), dtype=np.float64)


def total_vol(u: UnderlyingConfig, diffusive_vol: FloatArray) -> FloatArray:
    """Annualised vol including the jump component: sqrt(sig_d^2 + jump variance per year)."""
    jump_var = u.jumps_per_day * 365.0 * u.jump_sd**2
    return np.asarray(np.sqrt(diffusive_vol**2 + jump_var), dtype=np.float64)


def atm_iv(u: UnderlyingConfig, smile: SmileConfig, diffusive_vol: FloatArray, years: FloatArray) -> FloatArray:
    """At-the-money implied vol: current realised level for short expiries, long-run level for long ones,
    lifted by the vol risk premium."""
    current = total_vol(u, diffusive_vol)
    long_run = total_vol(u, np.asarray(diffusive_annual_vol(u)))
    w = np.exp(-years * SECONDS_PER_YEAR / smile.term_decay_s)
    return np.asarray((1.0 + smile.vol_risk_premium) * (long_run + (current - long_run) * w), dtype=np.float64)


def smile_iv(
    atm: FloatArray, forward: FloatArray, strike: float | FloatArray, years: FloatArray, smile: SmileConfig
) -> FloatArray:
    """iv = atm * (1 + skew m + curvature m^2), m = ln(K/F) / (atm sqrt T) clipped to [-4, 4]; clipped
    to [min_iv, max_iv]."""
    m = np.clip(np.log(strike / forward) / (atm * np.sqrt(years)), -4.0, 4.0)
    iv = atm * (1.0 + smile.skew * m + smile.curvature * m * m)
    return np.asarray(np.clip(iv, smile.min_iv, smile.max_iv), dtype=np.float64)


class PerpBasis:
    """The perpetual's fair premium over the index, in bps: a seeded sum of three slow sinusoids with
    standard deviation ``amplitude_bps``. A pure function of time, so live and history agree."""

    def __init__(self, rng: np.random.Generator, amplitude_bps: float) -> None:
        n = len(_BASIS_PERIODS_S)
        self._periods = np.array(_BASIS_PERIODS_S) * rng.uniform(0.8, 1.25, n)
        self._phases = rng.uniform(0.0, 2.0 * math.pi, n)
        weights = rng.uniform(0.5, 1.0, n)
        # var of sum of sinusoids = sum(w^2) / 2
        self._amps = weights * amplitude_bps / math.sqrt(0.5 * float(np.sum(weights**2)))

    def bps(self, t_s: FloatArray) -> FloatArray:
        """Premium in bps of the index at Unix seconds ``t_s``."""
        t = np.asarray(t_s, dtype=np.float64)[..., None]
        return np.asarray(np.sum(self._amps * np.sin(2 * math.pi * t / self._periods + self._phases), axis=-1))

    def bps_at(self, t_s: float) -> float:
        return float(self.bps(np.asarray(t_s)))


def option_mark(
    index_usd: FloatArray,
    diffusive_vol: FloatArray,
    years: FloatArray,
    strike: float | FloatArray,
    is_call: bool | npt.NDArray[np.bool_],
    u: UnderlyingConfig,
    smile: SmileConfig,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(mark USD, iv, forward USD) of an option, undiscounted Black-76 on the forward (USD-settled)."""
    fwd = forward_price(index_usd, u, years)
    iv = smile_iv(atm_iv(u, smile, diffusive_vol, years), fwd, strike, years, smile)
    return black76.price_array(fwd, strike, years, iv, is_call), iv, fwd


def dampened_premium(premium_usd: float, index_usd: float, dampener_bps: float) -> float:
    """Thalex funding dampener: premiums within +-``dampener_bps`` of the index count as zero; outside it
    the band is subtracted (USD)."""
    band = index_usd * dampener_bps * 1e-4
    if abs(premium_usd) <= band:
        return 0.0
    return premium_usd - math.copysign(band, premium_usd)
