"""MultiWindowRegimeAnalyzer: realized vol over three windows, trend, IV vs RV → a typed :class:`Regime`."""

from __future__ import annotations

import math
import operator

from ..errors import InvalidValue
from .regime import Regime, RegimeConfig, RegimeLabel
from .rolling_volatility import RollingVolatility, annualise, log_return, to_fixed


class MultiWindowRegimeAnalyzer:
    """Classifies the market of one instrument from its mid prices and, optionally, the ATM implied vol.

    Each :meth:`update` costs O(1) whatever the window sizes (rolling sums, no rescans). Volatility is measured
    on time: ``sigma = sqrt(sum r² / sum dt)`` per window, relative units per sqrt(second).

    Input rules:
        * a price that is not a finite number > 0 raises :class:`InvalidValue`; state is unchanged;
        * a timestamp before the last accepted one raises :class:`InvalidValue`; state is unchanged;
        * a timestamp *equal* to the last accepted one is ignored (a second quote in the same nanosecond spans
          no time; nothing is lost, because the next return is measured from the kept price and so includes
          the move).

    Classification (once the fast window is full; before that the label is NORMAL and ``ready`` is False):
    TRENDING if the mid-window trend strength >= ``trend_threshold``; else VOLATILE if fast/slow vol >=
    ``volatile_vol_ratio``; else CALM if <= ``calm_vol_ratio``; else NORMAL. The gamma multiplier is the
    label's multiplier times the IV/RV ratio clamped to ``[iv_rv_factor_min, iv_rv_factor_max]`` (when a fresh
    IV is known), clamped to ``[gamma_multiplier_min, gamma_multiplier_max]``.
    """

    __slots__ = (
        "_fast", "_iv_annual", "_iv_ts_ns", "_last_price", "_last_ts_ns", "_mid", "_regime", "_samples", "_slow",
        "config",
    )

    def __init__(self, config: RegimeConfig | None = None) -> None:
        self.config = config if config is not None else RegimeConfig()
        self._fast = RollingVolatility(self.config.fast_window_samples)
        self._mid = RollingVolatility(self.config.mid_window_samples)
        self._slow = RollingVolatility(self.config.slow_window_samples)
        self._last_price: float | None = None
        self._last_ts_ns = 0
        self._samples = 0
        self._iv_annual: float | None = None
        self._iv_ts_ns = 0
        self._regime: Regime | None = None  # computed on demand, dropped by every state change

    # -- inputs ---------------------------------------------------------------------------------------------

    def update(self, mid_price: float, ts_ns: int) -> None:
        """Add a mid price (USD) observed at ``ts_ns`` (int ns).

        Raises:
            InvalidValue: ``mid_price`` not finite and > 0, or ``ts_ns`` before the last accepted sample.
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
            self._last_price = float(mid_price)
            self._last_ts_ns = ts_ns
            self._regime = None
            return
        dt_ns = ts_ns - self._last_ts_ns
        if dt_ns < 0:
            raise InvalidValue(
                f"MultiWindowRegimeAnalyzer.update: ts_ns must be >= last ts_ns {self._last_ts_ns}, was {ts_ns}"
            )
        if dt_ns == 0:
            return
        r = log_return(previous, mid_price)
        r_fx = to_fixed(r)
        sq_fx = to_fixed(r * r)
        self._fast.push_fixed(r_fx, sq_fx, dt_ns)
        self._mid.push_fixed(r_fx, sq_fx, dt_ns)
        self._slow.push_fixed(r_fx, sq_fx, dt_ns)
        self._samples += 1
        self._last_price = float(mid_price)
        self._last_ts_ns = ts_ns
        self._regime = None

    def set_implied_vol(self, atm_iv_annual: float | None, ts_ns: int) -> None:
        """Set the ATM implied vol (annualised fraction: 0.5 = 50 %/yr) as of ``ts_ns``; None = unknown.

        Raises:
            InvalidValue: ``atm_iv_annual`` not finite and > 0, or ``ts_ns`` before the previous IV's time.
        """
        if ts_ns < self._iv_ts_ns:
            raise InvalidValue(
                f"MultiWindowRegimeAnalyzer.set_implied_vol: ts_ns must be >= previous {self._iv_ts_ns}, was {ts_ns}"
            )
        if atm_iv_annual is not None and not (
            isinstance(atm_iv_annual, (int, float)) and math.isfinite(atm_iv_annual) and atm_iv_annual > 0
        ):
            raise InvalidValue(
                "MultiWindowRegimeAnalyzer.set_implied_vol: atm_iv_annual must be finite and > 0, "
                f"was {atm_iv_annual!r}"
            )
        self._iv_annual = None if atm_iv_annual is None else float(atm_iv_annual)
        self._iv_ts_ns = ts_ns
        self._regime = None

    # -- output ---------------------------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        """Returns accepted so far (price updates after the first, minus ignored duplicates)."""
        return self._samples

    def regime(self) -> Regime:
        """The current regime (O(1); computed once per state change)."""
        regime = self._regime
        if regime is None:
            regime = self._regime = self._classify()
        return regime

    def _classify(self) -> Regime:
        cfg = self.config
        sigma_fast = self._fast.sigma_per_sqrt_s()
        sigma_mid = self._mid.sigma_per_sqrt_s()
        sigma_slow = self._slow.sigma_per_sqrt_s()
        vol_ratio = sigma_fast / sigma_slow if sigma_slow > 0.0 else 1.0
        trend = self._mid.trend_strength()
        ready = self._fast.is_full

        if not ready:
            label = RegimeLabel.NORMAL
        elif trend >= cfg.trend_threshold:
            label = RegimeLabel.TRENDING
        elif vol_ratio >= cfg.volatile_vol_ratio:
            label = RegimeLabel.VOLATILE
        elif vol_ratio <= cfg.calm_vol_ratio:
            label = RegimeLabel.CALM
        else:
            label = RegimeLabel.NORMAL

        iv = self._iv_annual
        if iv is not None and self._last_ts_ns - self._iv_ts_ns > cfg.iv_max_age_ns:
            iv = None  # stale: treat as unknown rather than pretend (LESSONS 17)
        rv_annual = annualise(sigma_slow)
        iv_rv = iv / rv_annual if iv is not None and rv_annual > 0.0 else None

        multiplier = cfg.label_gamma_multiplier(label)
        if iv_rv is not None:
            multiplier *= min(max(iv_rv, cfg.iv_rv_factor_min), cfg.iv_rv_factor_max)
        multiplier = min(max(multiplier, cfg.gamma_multiplier_min), cfg.gamma_multiplier_max)

        return Regime(  # positional: keywords cost a microsecond here
            label, sigma_fast, sigma_mid, sigma_slow, vol_ratio, trend, multiplier, iv, iv_rv, self._samples, ready,
            self._last_ts_ns,
        )

