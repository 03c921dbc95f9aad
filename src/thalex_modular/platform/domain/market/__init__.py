"""Market state analysis: realized volatility on time, regime classification (pure, O(1) per update)."""

from .regime import Regime, RegimeConfig, RegimeLabel
from .regime_analyzer import MultiWindowRegimeAnalyzer
from .rolling_volatility import (
    SECONDS_PER_YEAR,
    ExactSum,
    RollingVolatility,
    annualise,
    log_return,
    per_sqrt_second,
)

__all__ = [
    "SECONDS_PER_YEAR",
    "ExactSum",
    "MultiWindowRegimeAnalyzer",
    "Regime",
    "RegimeConfig",
    "RegimeLabel",
    "RollingVolatility",
    "annualise",
    "log_return",
    "per_sqrt_second",
]
