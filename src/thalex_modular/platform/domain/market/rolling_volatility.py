"""Realized volatility over a window of samples, measured on time (LESSONS 6), O(1) per update.

A window holds the last ``window_samples`` log returns ``r_i`` and the time ``dt_i`` each one spans. Its
volatility is ``sigma = sqrt(sum(r_i**2) / sum(dt_i))`` in relative (log-return) units per sqrt(second), so
irregular tick spacing is handled: a burst of ticks adds little time and little variance, a quiet minute
adds a lot of both.

Sums are *rolling*: each push adds the new term and subtracts the one leaving the window, never rescanning.
They are kept exact, as integer counts of 2**-200 (far below any return a price grid can produce), so adding
and later subtracting a huge return leaves no residue and a calm window after a crash reads exactly as calm (no
catastrophic cancellation). The sums and their arithmetic live in the compiled kernels of :mod:`.vol_kernel`
(which documents the representation and its bounds). Durations are summed as integer nanoseconds.
"""

from __future__ import annotations

import math
import operator
from typing import Final

from ..clock import NANOS_PER_SECOND
from ..errors import InvalidValue
from . import vol_kernel as vk
from .vol_kernel import MAX_ABS_LOG_RETURN, SECONDS_PER_YEAR

__all__ = [
    "SECONDS_PER_YEAR",
    "ExactSum",
    "RollingVolatility",
    "annualise",
    "log_return",
    "per_sqrt_second",
]

_SQRT_SECONDS_PER_YEAR: Final[float] = vk.SQRT_SECONDS_PER_YEAR
_INT64_MAX: Final[int] = 2**63 - 1


def annualise(sigma_per_sqrt_s: float) -> float:
    """Volatility per sqrt(second) → annualised volatility (the one conversion, LESSONS 5).

    Variance grows linearly with time, so a per-sqrt(second) vol scales by sqrt(seconds per year):
    ``sigma_annual = sigma_per_sqrt_s * sqrt(365 * 24 * 3600)``. Both are relative (log-return) vols;
    0.5 annual means 50 %/year, the unit of an option's implied vol.
    """
    return sigma_per_sqrt_s * _SQRT_SECONDS_PER_YEAR


def per_sqrt_second(sigma_annual: float) -> float:
    """Annualised volatility → per sqrt(second); the inverse of :func:`annualise`."""
    return sigma_annual / _SQRT_SECONDS_PER_YEAR


def log_return(previous_price: float, price: float) -> float:
    """Log return ``ln(price / previous_price)``, computed as ``log1p((price - previous) / previous)``.

    For close prices the difference is exact (Sterbenz), so small returns keep full relative precision,
    which ``log(price / previous)`` loses. When the ratio leaves log1p's domain (a move by a factor beyond
    ~1e308, or a fall so deep that ``price / previous - 1`` rounds to -1), the return is
    ``log(price) - log(previous)`` instead, so every pair of positive finite prices has a finite return
    (|r| < 1455). Prices must be positive (callers validate).
    """
    ratio = (price - previous_price) / previous_price
    if -1.0 < ratio < math.inf:
        return math.log1p(ratio)
    return math.log(price) - math.log(previous_price)


class ExactSum:
    """A running sum of floats that is exact: ``value`` is the correctly rounded sum of every ``add``.

    Keeps the sum as non-overlapping partials (Shewchuk 1997, the :func:`math.fsum` recipe). There are at most
    about 40 partials for finite doubles (2098 exponent bits / 53), so ``add`` is O(1); in practice 1–3.
    Subtracting is adding the negation, which cancels exactly.
    """

    __slots__ = ("_partials",)

    def __init__(self) -> None:
        self._partials: list[float] = []

    def add(self, x: float) -> None:
        """Add ``x`` (finite) to the sum."""
        partials = self._partials
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]

    @property
    def value(self) -> float:
        """The exact sum rounded once to the nearest float."""
        return math.fsum(self._partials)


class RollingVolatility:
    """Realized volatility and drift over the last ``window_samples`` returns, on time.

    Args:
        window_samples: how many returns the window holds (>= 2).

    Feed it with :meth:`push`. (:class:`~.regime_analyzer.MultiWindowRegimeAnalyzer` drives the same kernels
    for its three windows at once, on its own state.)
    """

    __slots__ = ("_f", "_i", "_max_dt_ns", "_out", "_sum_dt", "window")

    def __init__(self, window_samples: int) -> None:
        if isinstance(window_samples, bool) or not isinstance(window_samples, int) or window_samples < 2:
            raise InvalidValue(f"RollingVolatility.window_samples must be an int >= 2, was {window_samples!r}")
        self.window = window_samples
        self._f, self._i = vk.new_state((0,), window_samples)  # duration 0: the last window_samples returns
        self._sum_dt = vk.sum_dt_offset(1, 0)
        self._out = vk.window_out_offset(0)
        self._max_dt_ns = _INT64_MAX // window_samples  # so the window's int64 sum of durations cannot overflow

    def push(self, log_ret: float, dt_ns: int) -> None:
        """Add one return spanning ``dt_ns`` (int ns, > 0) nanoseconds; the oldest leaves once the window is full.

        Raises:
            InvalidValue: ``log_ret`` not finite or beyond ±:data:`~.vol_kernel.MAX_ABS_LOG_RETURN` (no two
                positive prices are that far apart), or ``dt_ns`` not an int in ``[1, 2**63 / window]``.
        """
        if not (isinstance(log_ret, (int, float)) and abs(log_ret) <= MAX_ABS_LOG_RETURN):  # NaN fails too
            raise InvalidValue(
                f"RollingVolatility.push: log_ret must be finite and within ±{MAX_ABS_LOG_RETURN}, was {log_ret!r}"
            )
        try:
            dt = operator.index(dt_ns)
        except TypeError:
            raise InvalidValue(f"RollingVolatility.push: dt_ns must be int nanoseconds, was {dt_ns!r}") from None
        if not 0 < dt <= self._max_dt_ns:
            raise InvalidValue(f"RollingVolatility.push: dt_ns must be in [1, {self._max_dt_ns}], was {dt}")
        vk.push_return(float(log_ret), dt, 0, self._f, self._i)

    @property
    def count(self) -> int:
        """Returns currently in the window (0 .. window)."""
        return min(int(self._i[vk.I_TOTAL]), self.window)

    @property
    def is_full(self) -> bool:
        return int(self._i[vk.I_TOTAL]) >= self.window

    @property
    def elapsed_s(self) -> float:
        """Time the window spans, in seconds."""
        return int(self._i[self._sum_dt]) / NANOS_PER_SECOND

    @property
    def sum_squared_returns(self) -> float:
        """Sum of squared log returns in the window (dimensionless)."""
        return float(self._f[self._out + 1])

    @property
    def sum_returns(self) -> float:
        """Sum of log returns in the window: the log price change over its span (dimensionless)."""
        return float(self._f[self._out])

    def sigma_per_sqrt_s(self) -> float:
        """Realized vol ``sqrt(sum r² / sum dt)`` in relative units per sqrt(second); 0.0 while empty."""
        return float(self._f[self._out + 2])

    def drift_per_s(self) -> float:
        """Mean log return per second over the window; 0.0 while empty."""
        sum_dt_ns = int(self._i[self._sum_dt])
        if sum_dt_ns == 0:
            return 0.0
        return self.sum_returns / (sum_dt_ns / NANOS_PER_SECOND)

    def trend_strength(self) -> float:
        """``|drift| * T / (sigma * sqrt(T)) = |sum r| / sqrt(sum r²)``, dimensionless.

        The log move over the window in units of the move's own realized standard deviation: about
        ``|N(0, 1)|`` for a driftless walk, ``sqrt(n)`` for ``n`` equal steps in one direction. 0.0 while flat.
        """
        sum_r2 = self.sum_squared_returns
        if sum_r2 <= 0.0:
            return 0.0
        return abs(self.sum_returns) / math.sqrt(sum_r2)
