"""Quoting models behind one :class:`Strategy` protocol. They depend only on the domain."""

from .avellaneda_stoikov import (
    AvellanedaStoikovConfig,
    AvellanedaStoikovStrategy,
    optimal_spread,
    reservation_price,
    usd_sigma_per_sqrt_s,
)
from .kappa_estimator import KappaEstimator
from .protocol import QuoteContext, Strategy

__all__ = [
    "AvellanedaStoikovConfig",
    "AvellanedaStoikovStrategy",
    "KappaEstimator",
    "QuoteContext",
    "Strategy",
    "optimal_spread",
    "reservation_price",
    "usd_sigma_per_sqrt_s",
]
