"""The market regime as a typed value (LESSONS 7), and the analyzer's configuration."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from ..errors import InvalidValue
from .rolling_volatility import annualise

_S = 1_000_000_000  # ns per second
_MAX_SAMPLES = 2**20  # ring slots of the slow window: 10 MB of state at most


class RegimeLabel(StrEnum):
    """How the market behaves right now, from the analyzer's point of view."""

    CALM = "calm"  # short-window vol well below long-window vol
    NORMAL = "normal"
    VOLATILE = "volatile"  # short-window vol well above long-window vol
    TRENDING = "trending"  # the price drifts far more than its own noise explains


class Regime(NamedTuple):
    """A snapshot of realized vol, trend and implied/realized vol, with the label and risk multiplier.

    Vols are relative (log-return) vols per sqrt(second); the ``*_annual`` properties convert them once via
    :func:`~.rolling_volatility.annualise`.

    Attributes:
        label: the classification.
        sigma_fast_per_sqrt_s, sigma_mid_per_sqrt_s, sigma_slow_per_sqrt_s: realized vol per window.
        vol_ratio: fast over slow realized vol (dimensionless; 1.0 while the slow vol is 0).
        trend_strength: ``|log move| / realized std of that move`` over the mid window (dimensionless).
        risk_multiplier: how much wider (> 1) or narrower (< 1) than the model's the strategy quotes: it scales the
            half spread (never below the fee floor) and the inventory skew; within the config bounds.
        atm_iv_annual: the last fresh ATM implied vol (annualised fraction, 0.5 = 50 %/yr), None if unknown.
        iv_rv_ratio: ``atm_iv_annual / rv_annual``, None when either is unknown.
        samples: returns sampled so far.
        ready: the data spans the mid window, so the label is a classification rather than the NORMAL default and
            the quoting vol is measured rather than warming up.
        ts_ns: time of the last price sample (ns), 0 before the first.
        quoting_sigma_per_sqrt_s: the vol a quoting strategy should use (relative, per sqrt(second)): the larger of
            fast and mid (reacts to a spike at once, but does not relax on a few quiet ticks) and the configured
            floor; while not ready, at least a fresh implied vol too.
        rv_annual: the realized vol on the implied vol's horizon that came with it (annualised), None when the
            ratio is unknown.
    """

    label: RegimeLabel
    sigma_fast_per_sqrt_s: float
    sigma_mid_per_sqrt_s: float
    sigma_slow_per_sqrt_s: float
    vol_ratio: float
    trend_strength: float
    risk_multiplier: float
    atm_iv_annual: float | None
    iv_rv_ratio: float | None
    samples: int
    ready: bool
    ts_ns: int
    quoting_sigma_per_sqrt_s: float
    rv_annual: float | None

    @property
    def sigma_fast_annual(self) -> float:
        return annualise(self.sigma_fast_per_sqrt_s)

    @property
    def sigma_mid_annual(self) -> float:
        return annualise(self.sigma_mid_per_sqrt_s)

    @property
    def sigma_slow_annual(self) -> float:
        return annualise(self.sigma_slow_per_sqrt_s)



def _check_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise InvalidValue(f"RegimeConfig.{name} must be finite and > 0, was {value!r}")


@dataclass(frozen=True, slots=True)
class RegimeConfig:
    """Thresholds of :class:`~.regime_analyzer.MultiWindowRegimeAnalyzer`.

    Args:
        fast_window_ns, mid_window_ns, slow_window_ns: the time each window covers, ns (fast < mid < slow): it
            holds the returns that began within that long before the last sample, whatever the ticker rate.
        sample_interval_ns: prices are sampled at least this far apart (ns, > 0, <= the fast window): a ticker
            within it of the last sample is skipped (the next sample measures its move), so a fast feed neither
            floods the windows with microstructure noise nor their memory.
        sigma_floor_annual: the least vol the quotes use (annualised fraction, >= 0): a fresh or flat market never
            quotes on sigma = 0.
        calm_vol_ratio: fast/slow realized vol at or below which the regime is CALM (dimensionless).
        volatile_vol_ratio: fast/slow realized vol at or above which it is VOLATILE (dimensionless).
        trend_threshold: mid-window trend strength (a z-score, dimensionless) at or above which it is TRENDING.
        calm_risk_multiplier, normal_risk_multiplier, volatile_risk_multiplier, trending_risk_multiplier:
            risk multiplier per label, before the IV/RV factor. Defensive labels (VOLATILE, TRENDING) must not be
            below NORMAL's and CALM not above it: the regime acts in the direction it claims.
        iv_rv_factor_min, iv_rv_factor_max: the IV/RV ratio multiplies the risk multiplier, clamped to these
            bounds (IV above RV: the market prices more risk than we measured, so quote wider); min <= 1 <= max.
        risk_multiplier_min, risk_multiplier_max: final bounds of the multiplier.
        iv_max_age_ns: an implied vol older than this (ns, relative to the last price sample) counts as unknown.
    """

    fast_window_ns: int = 10 * _S
    mid_window_ns: int = 60 * _S
    slow_window_ns: int = 300 * _S
    sample_interval_ns: int = 250_000_000
    sigma_floor_annual: float = 0.2
    calm_vol_ratio: float = 0.7
    volatile_vol_ratio: float = 1.5
    trend_threshold: float = 3.0
    calm_risk_multiplier: float = 0.8
    normal_risk_multiplier: float = 1.0
    volatile_risk_multiplier: float = 1.5
    trending_risk_multiplier: float = 2.0
    iv_rv_factor_min: float = 0.8
    iv_rv_factor_max: float = 1.5
    risk_multiplier_min: float = 0.5
    risk_multiplier_max: float = 3.0
    iv_max_age_ns: int = 300 * 1_000_000_000

    def label_risk_multiplier(self, label: RegimeLabel) -> float:
        """The configured risk multiplier of ``label`` (before the IV/RV factor and the final clamp)."""
        if label is RegimeLabel.CALM:
            return self.calm_risk_multiplier
        if label is RegimeLabel.VOLATILE:
            return self.volatile_risk_multiplier
        if label is RegimeLabel.TRENDING:
            return self.trending_risk_multiplier
        return self.normal_risk_multiplier

    @property
    def capacity(self) -> int:
        """Samples the slow window can hold: one per sample interval, plus the newest and one straddling its start."""
        return self.slow_window_ns // self.sample_interval_ns + 2

    def __post_init__(self) -> None:
        windows = (self.fast_window_ns, self.mid_window_ns, self.slow_window_ns, self.sample_interval_ns)
        if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in windows):
            raise InvalidValue(f"RegimeConfig window durations and sample interval must be ints > 0 (ns), were "
                               f"{windows}")
        if not windows[0] < windows[1] < windows[2]:
            raise InvalidValue(f"RegimeConfig windows must satisfy fast < mid < slow, were {windows[:3]}")
        if self.sample_interval_ns > self.fast_window_ns:
            raise InvalidValue(f"RegimeConfig.sample_interval_ns must be <= fast_window_ns {self.fast_window_ns}, "
                               f"was {self.sample_interval_ns}")
        if self.capacity > _MAX_SAMPLES:
            raise InvalidValue(f"RegimeConfig: slow_window_ns / sample_interval_ns must be <= {_MAX_SAMPLES}, was "
                               f"{self.slow_window_ns // self.sample_interval_ns}")
        if not (math.isfinite(self.sigma_floor_annual) and self.sigma_floor_annual >= 0):
            raise InvalidValue(f"RegimeConfig.sigma_floor_annual must be finite and >= 0, was "
                               f"{self.sigma_floor_annual!r}")
        for name in (
            "calm_vol_ratio", "volatile_vol_ratio", "trend_threshold", "calm_risk_multiplier",
            "normal_risk_multiplier", "volatile_risk_multiplier", "trending_risk_multiplier",
            "iv_rv_factor_min", "iv_rv_factor_max", "risk_multiplier_min", "risk_multiplier_max",
        ):
            _check_positive(name, getattr(self, name))
        if self.calm_vol_ratio >= self.volatile_vol_ratio:
            raise InvalidValue(
                f"RegimeConfig.calm_vol_ratio must be < volatile_vol_ratio {self.volatile_vol_ratio}, "
                f"was {self.calm_vol_ratio}"
            )
        normal = self.normal_risk_multiplier
        for name in ("volatile_risk_multiplier", "trending_risk_multiplier"):
            if getattr(self, name) < normal:
                raise InvalidValue(
                    f"RegimeConfig.{name} must be >= normal_risk_multiplier {normal}, was {getattr(self, name)}"
                )
        if self.calm_risk_multiplier > normal:
            raise InvalidValue(
                f"RegimeConfig.calm_risk_multiplier must be <= normal_risk_multiplier {normal}, "
                f"was {self.calm_risk_multiplier}"
            )
        if self.iv_rv_factor_min > 1.0:
            raise InvalidValue(f"RegimeConfig.iv_rv_factor_min must be <= 1, was {self.iv_rv_factor_min}")
        if self.iv_rv_factor_max < 1.0:
            raise InvalidValue(f"RegimeConfig.iv_rv_factor_max must be >= 1, was {self.iv_rv_factor_max}")
        if self.risk_multiplier_min > self.risk_multiplier_max:
            raise InvalidValue(
                f"RegimeConfig.risk_multiplier_min must be <= risk_multiplier_max {self.risk_multiplier_max}, "
                f"was {self.risk_multiplier_min}"
            )
        if isinstance(self.iv_max_age_ns, bool) or not isinstance(self.iv_max_age_ns, int) or self.iv_max_age_ns <= 0:
            raise InvalidValue(f"RegimeConfig.iv_max_age_ns must be an int > 0, was {self.iv_max_age_ns!r}")
