"""The Guéant-Lehalle-Fernandez-Tapia quotes as one compiled kernel (same signature and parameter layout as the A-S
kernel, plus the arrival intensity A).

GLFT's closed-form approximation (Guéant 2017, "Optimal market making", the case ξ = γ) for fills of size Δ, with
fill intensity ``A exp(-κ δ)`` at distance δ from the mid and the mid's vol σ::

    c1 = ln(1 + γΔ/κ) / (γΔ)
    c2 = sqrt(γ / (2 A Δ κ) · (1 + γΔ/κ) ** (κ/(γΔ) + 1))
    δ_bid(q) = c1 + (Δ/2 + q) σ c2        δ_ask(q) = c1 + (Δ/2 - q) σ c2

so the ladder is centred on ``mid - q σ c2`` (the inventory skew) with half spread ``c1 + Δ σ c2 / 2``. Units: γ per
USD, κ per USD of price, A per second, σ USD per sqrt(second), q and Δ in the underlying; the model is stationary
(no horizon). As with A-S the regime's multiplier scales the skew and the (fee-floored) half spread, the skew is
capped at ``max_skew_ticks``, and the ladder (:func:`~.ladder_kernel.ladder_kernel`) bounds the inventory: at the
position limit only the reducing side is quoted.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.jit import kernel
from thalex_modular.platform.domain.quote_array import QuoteArray

from .as_kernel import pack_parameters
from .ladder_kernel import (
    ERR_RANGE,
    FP_GAMMA,
    FP_ORDER_SIZE,
    FP_SIZE,
    capped_skew,
    check_inputs,
    floored_half,
    ladder_kernel,
    time_left_s,
)

if TYPE_CHECKING:
    from .glft import GlftConfig

__all__ = ["FP_ARRIVAL_A", "glft_constants", "glft_quote_kernel", "pack_glft_parameters"]

FP_ARRIVAL_A: Final = FP_SIZE  # A: fill intensity at zero distance, per second
GLFT_FP_SIZE: Final = FP_SIZE + 1
_INF = math.inf


@kernel
def glft_constants(gamma: float, order_size: float, kappa_per_usd: float, arrival_per_s: float
                   ) -> tuple[float, float]:
    """(c1 in USD, c2 in sqrt(second) per unit of the underlying) of the module docstring."""
    risk = gamma * order_size
    c1 = math.log1p(risk / kappa_per_usd) / risk
    c2 = math.sqrt(gamma / (2.0 * arrival_per_s * order_size * kappa_per_usd)
                   * math.pow(1.0 + risk / kappa_per_usd, kappa_per_usd / risk + 1.0))
    return c1, c2


@kernel
def glft_quote_kernel(
    out: QuoteArray,
    fp: NDArray[np.float64],
    ip: NDArray[np.int64],
    best_bid_price: float,
    best_ask_price: float,
    fair_price: float,
    position: float,
    sigma_per_s: float,
    risk_multiplier: float,
    now_ns: int,
    kappa_per_usd: float,
) -> int:
    """Write the GLFT ladder into ``out[:n]`` (bids nearest first, then asks nearest first); return n, or an
    ``ERR_*`` code (< 0). Arguments as :func:`~.as_kernel.quote_kernel`'s; ``fp`` from :func:`pack_glft_parameters`.
    """
    err = check_inputs(out, ip, fair_price, position, sigma_per_s, risk_multiplier)
    if err != 0:
        return err
    if time_left_s(ip, _INF, now_ns) < 0.0:
        return 0  # on or after expiry
    sigma = sigma_per_s * fair_price  # USD per sqrt(second)
    order_size = fp[FP_ORDER_SIZE]
    c1, c2 = glft_constants(fp[FP_GAMMA], order_size, kappa_per_usd, fp[FP_ARRIVAL_A])
    if not (-_INF < c1 < _INF and -_INF < sigma * c2 < _INF):
        return ERR_RANGE
    skew = capped_skew(fp, risk_multiplier * position * sigma * c2)
    half = floored_half(fp, c1 + 0.5 * order_size * sigma * c2, fair_price, risk_multiplier)
    return ladder_kernel(out, fp, ip, best_bid_price, best_ask_price, position, fair_price - skew, half)


def pack_glft_parameters(instrument: Instrument, config: GlftConfig) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The A-S layout (:func:`~.as_kernel.pack_parameters`) with the arrival intensity appended."""
    fp, ip = pack_parameters(instrument, config)
    packed = np.empty(GLFT_FP_SIZE, dtype=np.float64)
    packed[:FP_SIZE] = fp
    packed[FP_ARRIVAL_A] = config.arrival_intensity_per_s
    return packed, ip
