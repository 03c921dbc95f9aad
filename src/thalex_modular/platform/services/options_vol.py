"""OptionsVolatilityService: what an underlying's option chain says about its volatility (docs/quoting_model.md).

* **ATM implied vol per expiry**, from the chain's marks: the forward by put-call parity (``C - P = F - K`` for
  USD-settled, undiscounted options) at the strike where the call and put are closest, the implied vol of the
  out-of-the-money option at the two strikes around the forward (Black-76 inverted), and the at-the-money-forward
  vol interpolated linearly in log-moneyness ``ln(K / F)`` between them (the nearest strike's beyond the listed
  ones).
* **Constant maturity**: the ATM vols of the listed expiries interpolated linearly in total variance ``sigma^2 T``
  to ``constant_maturity_s`` (flat vol outside the listed expiries), so the figure means the same horizon every day.
* **Expected move**: per expiry, the at-the-money-forward straddle (Black-76 call + put at ``K = F`` with the ATM
  vol, USD) and one standard deviation ``F sigma sqrt(T)`` (USD); at the constant maturity, ``index sigma sqrt(T)``.
* **IV - RV on one horizon**: realized vol of the index over the last ``constant_maturity_s`` (sampled every
  ``rv_sample_interval_ns``), reported only once the samples cover ``min_rv_coverage`` of that horizon.

Pure: no I/O, no clock (time is the exchange time of the marks), so a Ray singleton actor can host it unchanged;
the edge feeds it instruments, option tickers and index prices and reads :meth:`snapshot`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from thalex_modular.platform.domain.clock import NANOS_PER_SECOND
from thalex_modular.platform.domain.entities import Instrument, Ticker
from thalex_modular.platform.domain.enums import InstrumentKind, OptionType
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market import black76
from thalex_modular.platform.domain.market.rolling_volatility import (
    SECONDS_PER_YEAR,
    RollingVolatility,
    annualise,
    log_return,
)

__all__ = ["ExpiryVol", "OptionsVolConfig", "OptionsVolatilityService", "VolSnapshot"]

_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class OptionsVolConfig:
    """Args:
    constant_maturity_s: the horizon of the constant-maturity IV and of the RV it is compared with, seconds.
    max_mark_age_ns: option marks older than this before the newest mark are not used (ns).
    min_expiry_s: expiries closer than this are left out (their marks are nearly intrinsic), seconds.
    rv_sample_interval_ns: the index is sampled this far apart for the RV (ns; 1 minute: the venue's candles).
    min_rv_coverage: the share of the horizon the RV samples must cover before an RV is reported (0 < x <= 1).
    """

    constant_maturity_s: float = 7 * _DAY_S
    max_mark_age_ns: int = 60 * NANOS_PER_SECOND
    min_expiry_s: float = 3_600.0
    rv_sample_interval_ns: int = 60 * NANOS_PER_SECOND
    min_rv_coverage: float = 0.9

    def __post_init__(self) -> None:
        for name in ("constant_maturity_s", "min_expiry_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidValue(f"OptionsVolConfig.{name} must be finite and > 0 (s), was {value!r}")
        for name in ("max_mark_age_ns", "rv_sample_interval_ns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidValue(f"OptionsVolConfig.{name} must be an int > 0 (ns), was {value!r}")
        if not 0.0 < self.min_rv_coverage <= 1.0:
            raise InvalidValue(f"OptionsVolConfig.min_rv_coverage must be in (0, 1], was {self.min_rv_coverage!r}")

    @property
    def rv_window_samples(self) -> int:
        """Index returns in the RV window: the horizon in sample intervals."""
        return max(2, math.ceil(self.constant_maturity_s * NANOS_PER_SECOND / self.rv_sample_interval_ns))


class ExpiryVol(NamedTuple):
    """One expiry of the chain. USD and annualised fractions."""

    expiry_ns: int
    years: float  # to expiry (ACT/365)
    forward_usd: float  # by put-call parity
    atm_iv_annual: float  # at the forward
    atm_straddle_usd: float  # Black-76 call + put at K = F with the ATM vol
    expected_move_usd: float  # F * sigma * sqrt(T): one standard deviation to expiry


class VolSnapshot(NamedTuple):
    """What the chain and the index say now (``ts_ns``: exchange time of the newest mark). None = not known yet."""

    ts_ns: int
    expiries: tuple[ExpiryVol, ...]
    constant_maturity_years: float
    cm_iv_annual: float | None
    cm_expected_move_usd: float | None  # index * cm IV * sqrt(T_cm)
    rv_annual: float | None  # realized vol of the index over the last T_cm
    rv_span_s: float  # the time the RV samples cover
    iv_minus_rv: float | None  # cm IV - RV, annualised vol points (0.05 = 5 %/yr)
    index_usd: float | None


class _Mark(NamedTuple):
    price_usd: float
    ts_ns: int


class OptionsVolatilityService:
    """Follows one underlying's option chain and index (see the module docstring for the method).

    Args:
        underlying: the index name, e.g. ``BTCUSD``.
        config: horizons, ages and coverage.
    """

    def __init__(self, underlying: str, config: OptionsVolConfig | None = None) -> None:
        self.underlying = underlying
        self.config = config or OptionsVolConfig()
        # expiry_ns -> strike USD -> (call name, put name)
        self._chain: dict[int, dict[float, list[str | None]]] = {}
        self._marks: dict[str, _Mark] = {}
        self._newest_ns = 0
        self._index_usd: float | None = None
        self._rv = RollingVolatility(self.config.rv_window_samples)
        self._rv_last: tuple[int, float] | None = None  # (ts_ns, price) of the last RV sample

    # -- inputs ---------------------------------------------------------------------------------------------------

    def set_instruments(self, instruments: Iterable[Instrument]) -> list[str]:
        """The listed instruments (any kinds, any underlyings); keeps this underlying's options and returns their
        names (the tickers to follow). Replaces the previous chain."""
        self._chain = {}
        names = []
        for inst in instruments:
            if inst.kind is not InstrumentKind.OPTION or inst.underlying != self.underlying:
                continue
            assert inst.expiry_ns is not None and inst.strike_price is not None  # an Instrument option has both
            pair = self._chain.setdefault(inst.expiry_ns, {}).setdefault(inst.strike_price, [None, None])
            pair[0 if inst.option_type is OptionType.CALL else 1] = inst.instrument_name
            names.append(inst.instrument_name)
        self._marks = {name: mark for name, mark in self._marks.items() if name in names}
        return names

    @property
    def option_names(self) -> list[str]:
        return [name for strikes in self._chain.values() for pair in strikes.values() for name in pair if name]

    def on_ticker(self, ticker: Ticker) -> None:
        """An option's ticker: its mark (USD) as of its ``ts_exchange_ns``; its ``index`` feeds the RV."""
        self._marks[ticker.instrument_name] = _Mark(ticker.mark_price, ticker.ts_exchange_ns)
        if ticker.ts_exchange_ns > self._newest_ns:
            self._newest_ns = ticker.ts_exchange_ns
        if ticker.index is not None:
            self.on_index(ticker.index, ticker.ts_exchange_ns)

    def on_index(self, price_usd: float, ts_ns: int) -> None:
        """An index price (USD) at ``ts_ns``; sampled every ``rv_sample_interval_ns`` for the RV (an older one than
        the last sample is not)."""
        if not (math.isfinite(price_usd) and price_usd > 0):
            raise InvalidValue(
                f"OptionsVolatilityService.on_index: price_usd must be finite and > 0, was {price_usd!r}"
            )
        self._index_usd = price_usd
        self._sample(price_usd, ts_ns)

    def load_index_history(self, closes: Iterable[tuple[int, float]]) -> None:
        """Start the RV over from the index's history: ``(ts_ns, close USD)`` in time order (the venue's 1m candles).
        A live sample newer than the history continues it."""
        live = self._rv_last
        self._rv = RollingVolatility(self.config.rv_window_samples)
        self._rv_last = None
        for ts_ns, price_usd in closes:
            if not (math.isfinite(price_usd) and price_usd > 0):
                raise InvalidValue(f"OptionsVolatilityService.load_index_history: a close must be finite and > 0, "
                                   f"was {price_usd!r} at {ts_ns}")
            self._sample(price_usd, ts_ns)
        if live is not None and (self._rv_last is None or live[0] > self._rv_last[0]):
            self._sample(live[1], live[0])

    def _sample(self, price_usd: float, ts_ns: int) -> None:
        last = self._rv_last
        if last is None:
            self._rv_last = (ts_ns, price_usd)
            return
        dt_ns = ts_ns - last[0]
        if dt_ns >= self.config.rv_sample_interval_ns:
            self._rv.push(log_return(last[1], price_usd), dt_ns)
            self._rv_last = (ts_ns, price_usd)

    # -- output -----------------------------------------------------------------------------------------------------

    def snapshot(self) -> VolSnapshot:
        """The chain's vols as of the newest mark (O(strikes) per expiry; meant for about once a second)."""
        now = self._newest_ns
        expiries = tuple(
            vol for expiry_ns, strikes in sorted(self._chain.items())
            if (vol := self._expiry_vol(expiry_ns, strikes, now)) is not None
        )
        cfg = self.config
        cm_years = cfg.constant_maturity_s / SECONDS_PER_YEAR
        cm_iv = constant_maturity_vol([(e.years, e.atm_iv_annual) for e in expiries], cm_years)
        rv = self._rv
        rv_span_s = rv.elapsed_s
        rv_annual = (
            annualise(rv.sigma_per_sqrt_s())
            if rv.count >= 2 and rv_span_s >= cfg.min_rv_coverage * cfg.constant_maturity_s else None
        )
        index = self._index_usd
        return VolSnapshot(
            now, expiries, cm_years, cm_iv,
            None if cm_iv is None or index is None else index * cm_iv * math.sqrt(cm_years),
            rv_annual, rv_span_s, None if cm_iv is None or rv_annual is None else cm_iv - rv_annual, index,
        )

    def _expiry_vol(self, expiry_ns: int, strikes: dict[float, list[str | None]], now_ns: int) -> ExpiryVol | None:
        years = (expiry_ns - now_ns) / NANOS_PER_SECOND / SECONDS_PER_YEAR
        if years * SECONDS_PER_YEAR < self.config.min_expiry_s:
            return None
        oldest = now_ns - self.config.max_mark_age_ns
        pairs: list[tuple[float, float, float]] = []  # (strike, call mark, put mark), both fresh
        for strike, (call_name, put_name) in sorted(strikes.items()):
            c = self._marks.get(call_name) if call_name else None
            p = self._marks.get(put_name) if put_name else None
            if c is not None and p is not None and c.ts_ns >= oldest and p.ts_ns >= oldest:
                pairs.append((strike, c.price_usd, p.price_usd))
        if not pairs:
            return None
        strike, call, put = min(pairs, key=lambda row: abs(row[1] - row[2]))
        forward = strike + call - put  # put-call parity, undiscounted (USD-settled)
        if not forward > 0:
            return None
        # only the strikes around the forward are inverted (each inversion is a root search: ~25 us)
        above = next((i for i, row in enumerate(pairs) if row[0] >= forward), len(pairs))
        smile: list[tuple[float, float]] = []  # (ln(K / F), implied vol of the out-of-the-money option)
        for k, c_mark, p_mark in pairs[max(0, above - 1):above + 1]:
            is_call = k >= forward
            try:
                iv = black76.implied_vol(c_mark if is_call else p_mark, forward, k, years, is_call)
            except ValueError:  # a mark outside the no-arbitrage bounds says nothing about vol
                continue
            smile.append((math.log(k / forward), iv))
        if not smile:
            return None
        atm = _interpolate_at_zero(smile)
        straddle = 2.0 * black76.price(forward, forward, years, atm, True)  # at K = F the call and the put are equal
        return ExpiryVol(expiry_ns, years, forward, atm, straddle, forward * atm * math.sqrt(years))


def _interpolate_at_zero(points: list[tuple[float, float]]) -> float:
    """The value at x = 0 of points sorted by x: linear between the two around 0, the nearest one beyond them."""
    if points[0][0] >= 0.0:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= 0.0 <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (0.0 - x0) / (x1 - x0)
    return points[-1][1]


def constant_maturity_vol(term: list[tuple[float, float]], years: float) -> float | None:
    """The vol at ``years`` from ``(years to expiry, vol)`` points sorted by expiry: linear in total variance
    ``vol^2 T`` between the two expiries around it, the nearest expiry's vol outside them; None without points."""
    if not term:
        return None
    if years <= term[0][0]:
        return term[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(term):
        if t0 <= years <= t1:
            w0, w1 = v0 * v0 * t0, v1 * v1 * t1
            return math.sqrt((w0 + (w1 - w0) * (years - t0) / (t1 - t0)) / years)
    return term[-1][1]
