"""The Guéant-Lehalle-Fernandez-Tapia quoting model (:mod:`.glft_kernel` states it), behind the same Strategy /
ArrayStrategy protocol as Avellaneda-Stoikov: the same ladder, rounding, inventory bound and online kappa; only the
centre and the half spread differ (stationary, from γ, κ, A, σ and the order size Δ)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.errors import InvalidValue

from .avellaneda_stoikov import AvellanedaStoikovConfig, AvellanedaStoikovStrategy, QuoteKernel
from .glft_kernel import glft_constants, glft_quote_kernel, pack_glft_parameters

__all__ = ["GlftConfig", "GlftStrategy", "glft_half_spread", "glft_skew"]


@dataclass(frozen=True, slots=True)
class GlftConfig(AvellanedaStoikovConfig):
    """:class:`AvellanedaStoikovConfig` (``horizon_s`` unused: the model is stationary) and the arrival intensity.

    Args:
        arrival_intensity_per_s: A, the rate of fills of a quote at zero distance from the mid, per second (> 0).
    """

    arrival_intensity_per_s: float = 1.0

    def __post_init__(self) -> None:
        AvellanedaStoikovConfig.__post_init__(self)
        a = self.arrival_intensity_per_s
        if not (math.isfinite(a) and a > 0):
            raise InvalidValue(f"GlftConfig.arrival_intensity_per_s must be finite and > 0, was {a!r}")


def glft_half_spread(gamma: float, order_size: float, kappa_per_usd: float, arrival_per_s: float,
                     sigma_usd: float) -> float:
    """The model's half spread ``c1 + Δ σ c2 / 2`` (USD), before fee floor, regime and rounding."""
    c1, c2 = glft_constants(gamma, order_size, kappa_per_usd, arrival_per_s)
    return float(c1 + 0.5 * order_size * sigma_usd * c2)


def glft_skew(gamma: float, order_size: float, kappa_per_usd: float, arrival_per_s: float, sigma_usd: float,
              position: float) -> float:
    """The model's inventory skew ``q σ c2`` (USD: the centre is the mid less it), before cap and regime."""
    _, c2 = glft_constants(gamma, order_size, kappa_per_usd, arrival_per_s)
    return float(position * sigma_usd * c2)


class GlftStrategy(AvellanedaStoikovStrategy):
    """Quotes the GLFT ladder; implements :class:`~.protocol.ArrayStrategy` (see :class:`AvellanedaStoikovStrategy`
    for everything but the model)."""

    __slots__ = ()

    def __init__(self, config: GlftConfig) -> None:
        super().__init__(config)

    def _model_kernel(self) -> QuoteKernel:
        return glft_quote_kernel

    def _pack(self, instrument: Instrument) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        assert isinstance(self.config, GlftConfig)
        return pack_glft_parameters(instrument, self.config)
