"""MultiWindowRegimeAnalyzer: realized vol over three windows, trend, IV vs RV → a typed :class:`Regime`."""

from __future__ import annotations

import math
import operator
from typing import Final

from ..errors import InvalidValue
from . import vol_kernel as vk
from .regime import Regime, RegimeConfig, RegimeLabel
from .rolling_volatility import log_return, per_sqrt_second

_TS_MAX_NS: Final[int] = 2**63 - 1
_INT64_MIN: Final[int] = -(2**63)
_LABELS: Final[tuple[RegimeLabel, ...]] = (
    RegimeLabel.CALM, RegimeLabel.NORMAL, RegimeLabel.VOLATILE, RegimeLabel.TRENDING,
)  # indexed by vol_kernel.LABEL_* codes
_OUT_START: Final[int] = vk.F_OUT_VOL_RATIO
_OUT_END: Final[int] = vk.window_out_offset(3)


class MultiWindowRegimeAnalyzer:
    """Classifies the market of one instrument from its mid prices and, optionally, the ATM implied vol.

    Prices are sampled at least ``sample_interval_ns`` apart; each sample costs O(1) amortised whatever the
    window durations (rolling sums, no rescans): one compiled :func:`~.vol_kernel.regime_step` call pushes the
    return into the three windows (state in preallocated arrays owned here), drops what left them, and
    reclassifies. Volatility is measured on time: ``sigma = sqrt(sum r² / sum dt)`` per window, relative units per
    sqrt(second); each window covers the configured time whatever the ticker rate.

    Input rules:
        * a price that is not a finite number > 0 raises :class:`InvalidValue`; state is unchanged;
        * a timestamp before the last accepted one, or outside ``[0, 2**63)`` ns, raises :class:`InvalidValue`;
          state is unchanged;
        * a timestamp less than ``sample_interval_ns`` after the last sample (an equal one too) is skipped: nothing
          is lost, the next return is measured from the last sample and so includes the move.

    Classification (once the data spans the mid window; before that the label is NORMAL and ``ready`` is False):
    TRENDING if the mid-window trend strength >= ``trend_threshold``; else VOLATILE if fast/slow vol >=
    ``volatile_vol_ratio``; else CALM if <= ``calm_vol_ratio``; else NORMAL. The risk multiplier is the
    label's multiplier times the IV/RV ratio clamped to ``[iv_rv_factor_min, iv_rv_factor_max]`` (when a fresh
    IV is known), clamped to ``[risk_multiplier_min, risk_multiplier_max]``.
    """

    __slots__ = (
        "_f", "_i", "_interval_ns", "_iv_annual", "_iv_ts_ns", "_last_price", "_last_ts_ns", "_quoting", "_regime",
        "config",
    )

    def __init__(self, config: RegimeConfig | None = None) -> None:
        cfg = self.config = config if config is not None else RegimeConfig()
        f, i = vk.new_state((cfg.fast_window_ns, cfg.mid_window_ns, cfg.slow_window_ns), cfg.capacity)
        i[vk.I_READY_SPAN_NS] = cfg.mid_window_ns
        f[vk.F_SIGMA_FLOOR] = per_sqrt_second(cfg.sigma_floor_annual)
        f[vk.F_CALM_VOL_RATIO] = cfg.calm_vol_ratio
        f[vk.F_VOLATILE_VOL_RATIO] = cfg.volatile_vol_ratio
        f[vk.F_TREND_THRESHOLD] = cfg.trend_threshold
        for code, label in enumerate(_LABELS):
            f[vk.F_LABEL_MULTIPLIERS + code] = cfg.label_risk_multiplier(label)
        f[vk.F_IV_RV_FACTOR_MIN] = cfg.iv_rv_factor_min
        f[vk.F_IV_RV_FACTOR_MAX] = cfg.iv_rv_factor_max
        f[vk.F_RISK_MULTIPLIER_MIN] = cfg.risk_multiplier_min
        f[vk.F_RISK_MULTIPLIER_MAX] = cfg.risk_multiplier_max
        self._f = f
        self._i = i
        self._interval_ns = cfg.sample_interval_ns
        self._last_price: float | None = None
        self._last_ts_ns = 0
        self._iv_annual: float | None = None
        self._iv_ts_ns = 0
        self._regime: Regime | None = None  # built on demand from the kernel outputs, dropped by every change
        self._quoting: tuple[float, float] = vk.regime_step(0.0, 0, 0, f, i)

    # -- inputs ---------------------------------------------------------------------------------------------

    def update(self, mid_price: float, ts_ns: int) -> None:
        """Add a mid price (USD) observed at ``ts_ns`` (int ns, in ``[0, 2**63)``).

        Raises:
            InvalidValue: ``mid_price`` not finite and > 0, or ``ts_ns`` before the last accepted sample or out
                of range.
        """
        # a finite positive float passes the first test alone (the tick path); anything else is checked in full
        if (type(mid_price) is not float or not 0.0 < mid_price < math.inf) and not (
            isinstance(mid_price, (int, float)) and math.isfinite(mid_price) and mid_price > 0
        ):
            raise InvalidValue(f"MultiWindowRegimeAnalyzer.update: mid_price must be finite and > 0, was {mid_price!r}")
        if type(ts_ns) is not int:
            try:
                ts_ns = operator.index(ts_ns)  # accepts numpy ints; refuses floats (sums of ns must stay exact)
            except TypeError:
                raise InvalidValue(
                    f"MultiWindowRegimeAnalyzer.update: ts_ns must be int nanoseconds, was {ts_ns!r}"
                ) from None
        previous = self._last_price
        if previous is None:
            if not 0 <= ts_ns <= _TS_MAX_NS:
                raise InvalidValue(f"MultiWindowRegimeAnalyzer.update: ts_ns must be in [0, 2**63), was {ts_ns}")
            self._last_price = float(mid_price)
            self._last_ts_ns = ts_ns
            self._i[vk.I_FIRST_TS_NS] = ts_ns
            self._quoting = vk.regime_step(0.0, 0, ts_ns, self._f, self._i)  # IV staleness moves with time
            self._regime = None
            return
        dt_ns = ts_ns - self._last_ts_ns
        if dt_ns < self._interval_ns:
            if dt_ns >= 0:
                return
            raise InvalidValue(
                f"MultiWindowRegimeAnalyzer.update: ts_ns must be >= last ts_ns {self._last_ts_ns}, was {ts_ns}"
            )
        if ts_ns > _TS_MAX_NS:  # the first sample was >= 0, so every window spans less than 2**63 ns
            raise InvalidValue(f"MultiWindowRegimeAnalyzer.update: ts_ns must be in [0, 2**63), was {ts_ns}")
        self._quoting = vk.regime_step(log_return(previous, mid_price), dt_ns, ts_ns, self._f, self._i)
        self._last_price = float(mid_price)
        self._last_ts_ns = ts_ns
        self._regime = None

    def set_implied_vol(self, atm_iv_annual: float | None, ts_ns: int, rv_annual: float | None = None) -> None:
        """Set the ATM implied vol (annualised fraction: 0.5 = 50 %/yr) as of ``ts_ns``; None = unknown.

        ``rv_annual`` is the realized vol measured on the implied vol's own horizon (annualised, from the same
        source: :class:`~thalex_modular.platform.services.options_vol.OptionsVolatilityService`); only against it
        does IV/RV scale the risk multiplier (None: no IV/RV factor; minutes of this analyzer's windows are not
        comparable to days of implied vol). A fresh IV also sets the quoting vol's warm-up floor.

        Raises:
            InvalidValue: ``atm_iv_annual`` or ``rv_annual`` not finite and > 0, or ``ts_ns`` before the previous
                IV's time.
        """
        if ts_ns < self._iv_ts_ns:
            raise InvalidValue(
                f"MultiWindowRegimeAnalyzer.set_implied_vol: ts_ns must be >= previous {self._iv_ts_ns}, was {ts_ns}"
            )
        for name, value in (("atm_iv_annual", atm_iv_annual), ("rv_annual", rv_annual)):
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InvalidValue(
                    f"MultiWindowRegimeAnalyzer.set_implied_vol: {name} must be finite and > 0, was {value!r}"
                )
        self._iv_annual = None if atm_iv_annual is None else float(atm_iv_annual)
        self._iv_ts_ns = ts_ns
        # stale once last_ts - iv_ts > max_age, i.e. last_ts > floor(iv_ts + max_age) (exact for int and float ts)
        deadline = math.floor(ts_ns + self.config.iv_max_age_ns)
        self._i[vk.I_IV_DEADLINE_NS] = min(max(deadline, _INT64_MIN), _TS_MAX_NS)
        self._f[vk.F_IV_ANNUAL] = math.nan if self._iv_annual is None else self._iv_annual
        self._f[vk.F_RV_ANNUAL] = math.nan if rv_annual is None or atm_iv_annual is None else float(rv_annual)
        self._quoting = vk.regime_step(0.0, 0, self._last_ts_ns, self._f, self._i)
        self._regime = None

    # -- output ---------------------------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        """Returns sampled so far (price updates after the first, at least a sample interval apart)."""
        return int(self._i[vk.I_TOTAL])

    def quoting_inputs(self) -> tuple[float, float]:
        """``(quoting sigma per sqrt(second), risk multiplier)``: the same floats as
        ``regime().quoting_sigma_per_sqrt_s`` and ``regime().risk_multiplier``, without building the
        :class:`Regime` (O(1), computed by the last update)."""
        return self._quoting

    def regime(self) -> Regime:
        """The current regime (O(1); built once per state change from the kernel's outputs)."""
        regime = self._regime
        if regime is None:
            regime = self._regime = self._build_regime()
        return regime

    def _build_regime(self) -> Regime:
        out = self._f[_OUT_START:_OUT_END].tolist()
        w = vk.F_WINDOWS - _OUT_START
        iv = out[vk.F_OUT_IV_ANNUAL - _OUT_START]
        iv_rv = out[vk.F_OUT_IV_RV - _OUT_START]
        return Regime(  # positional: keywords cost a microsecond here
            _LABELS[int(out[vk.F_OUT_LABEL - _OUT_START])],
            out[w + 2],
            out[w + vk.F_PER_WINDOW + 2],
            out[w + 2 * vk.F_PER_WINDOW + 2],
            out[vk.F_OUT_VOL_RATIO - _OUT_START],
            out[vk.F_OUT_TREND - _OUT_START],
            out[vk.F_OUT_RISK_MULTIPLIER - _OUT_START],
            None if math.isnan(iv) else iv,
            None if math.isnan(iv_rv) else iv_rv,
            int(self._i[vk.I_TOTAL]),
            out[vk.F_OUT_READY - _OUT_START] != 0.0,
            self._last_ts_ns,
            out[vk.F_OUT_QUOTING_SIGMA - _OUT_START],
            None if math.isnan(iv_rv) else self._f[vk.F_RV_ANNUAL].item(),
        )
