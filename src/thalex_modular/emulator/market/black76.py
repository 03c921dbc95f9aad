"""Black-76 for the emulator: the scalar functions of :mod:`thalex_modular.platform.domain.market.black76` and
their vectorised forms over a whole option chain (numpy, scipy).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr  # type: ignore[import-untyped]

from thalex_modular.platform.domain.market.black76 import (
    MIN_YEARS,
    delta,
    gamma,
    implied_vol,
    price,
    theta,
    vega,
)

__all__ = ["MIN_YEARS", "delta", "delta_array", "gamma", "implied_vol", "price", "price_array", "theta", "vega"]

FloatArray = npt.NDArray[np.float64]


def price_array(
    forward: FloatArray,
    strike: float | FloatArray,
    years: FloatArray,
    vol: FloatArray,
    is_call: bool | npt.NDArray[np.bool_],
    rate: float = 0.0,
) -> FloatArray:
    """Vectorised :func:`price` over arrays of forwards, strikes, times to expiry, vols and call flags
    (broadcast together)."""
    t = np.maximum(years, MIN_YEARS)
    sd = np.maximum(vol, 1e-12) * np.sqrt(t)
    d1 = (np.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    df = np.exp(-rate * t)
    call = forward * ndtr(d1) - strike * ndtr(d2)
    out = df * np.where(is_call, call, call - (forward - strike))  # put by parity
    return np.asarray(np.maximum(out, 0.0), dtype=np.float64)


def delta_array(
    forward: FloatArray,
    strike: float | FloatArray,
    years: FloatArray,
    vol: FloatArray,
    is_call: bool | npt.NDArray[np.bool_],
) -> FloatArray:
    """Vectorised undiscounted :func:`delta` (broadcast together): N(d1) for calls, N(d1) - 1 for puts; at expiry
    or zero vol 1 / -1 strictly in the money, else 0."""
    f = np.asarray(forward, dtype=np.float64)
    t = np.asarray(years, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    degenerate = (t <= MIN_YEARS) | (v == 0.0)
    sd = np.where(degenerate, 1.0, v * np.sqrt(np.maximum(t, MIN_YEARS)))
    n_d1 = ndtr((np.log(f / strike) + 0.5 * sd * sd) / sd)
    at_expiry = np.where(is_call, (f > strike).astype(np.float64), -(f < strike).astype(np.float64))
    return np.asarray(np.where(degenerate, at_expiry, np.where(is_call, n_d1, n_d1 - 1.0)), dtype=np.float64)
