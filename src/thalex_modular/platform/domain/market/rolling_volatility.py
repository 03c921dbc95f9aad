"""Realized volatility over a window of samples, measured on time (LESSONS 6), O(1) per update.

A window holds the last ``window_samples`` log returns ``r_i`` and the time ``dt_i`` each one spans. Its
volatility is ``sigma = sqrt(sum(r_i**2) / sum(dt_i))`` in relative (log-return) units per sqrt(second), so
irregular tick spacing is handled: a burst of ticks adds little time and little variance, a quiet minute
adds a lot of both.

Sums are *rolling*: each push adds the new term and subtracts the one leaving the window, never rescanning.
They are kept exact: each return and squared return is stored as an integer count of 2**-200 (far below any
return a price grid can produce) and the window sums are Python integers, so adding and later subtracting a
huge return leaves no residue and a calm window after a crash reads exactly as calm (no catastrophic
cancellation), at the cost of one int conversion per term. Durations are summed as integer nanoseconds.
"""

from __future__ import annotations

import math
from typing import Final

from ..clock import NANOS_PER_SECOND
from ..errors import InvalidValue

SECONDS_PER_YEAR: Final[float] = 365.0 * 24.0 * 3600.0
"""Calendar seconds in a (365-day) year: crypto trades around the clock, every day."""

_SQRT_SECONDS_PER_YEAR: Final[float] = math.sqrt(SECONDS_PER_YEAR)

_FIXED_POINT_BITS: Final[int] = 200
"""Window sums hold values as integer multiples of 2**-200: exact to add and remove, ~1e-60 quantum."""


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


def to_fixed(value: float) -> int:
    """A float as an integer count of 2**-200 (window sums add and remove these exactly)."""
    return int(math.ldexp(value, _FIXED_POINT_BITS))


def log_return(previous_price: float, price: float) -> float:
    """Log return ``ln(price / previous_price)``, computed as ``log1p((price - previous) / previous)``.

    For close prices the difference is exact (Sterbenz), so small returns keep full relative precision,
    which ``log(price / previous)`` loses. Prices must be positive (callers validate).
    """
    return math.log1p((price - previous_price) / previous_price)


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

    Feed it with :meth:`push`; it does not validate prices or timestamps (the owner, e.g.
    :class:`~.regime_analyzer.MultiWindowRegimeAnalyzer`, does, once for all windows).
    """

    __slots__ = (
        "_count", "_dt_ns", "_head", "_returns_fx", "_sq_fx", "_sum_dt_ns", "_sum_r2_fx", "_sum_r_fx", "window",
    )

    def __init__(self, window_samples: int) -> None:
        if isinstance(window_samples, bool) or not isinstance(window_samples, int) or window_samples < 2:
            raise InvalidValue(f"RollingVolatility.window_samples must be an int >= 2, was {window_samples!r}")
        self.window = window_samples
        self._returns_fx: list[int] = [0] * window_samples
        self._sq_fx: list[int] = [0] * window_samples
        self._dt_ns: list[int] = [0] * window_samples
        self._head = 0  # next slot to write; the oldest sample once the window is full
        self._count = 0
        self._sum_r_fx = 0
        self._sum_r2_fx = 0
        self._sum_dt_ns = 0

    def push(self, log_ret: float, dt_ns: int) -> None:
        """Add one return spanning ``dt_ns`` (> 0) nanoseconds; the oldest leaves once the window is full."""
        self.push_fixed(to_fixed(log_ret), to_fixed(log_ret * log_ret), dt_ns)

    def push_fixed(self, r_fx: int, sq_fx: int, dt_ns: int) -> None:
        """:meth:`push` with the return and its square already in fixed point (:func:`to_fixed`), so several
        windows fed the same return convert it once."""
        head = self._head
        if self._count == self.window:
            self._sum_r_fx += r_fx - self._returns_fx[head]
            self._sum_r2_fx += sq_fx - self._sq_fx[head]
            self._sum_dt_ns += dt_ns - self._dt_ns[head]
        else:
            self._count += 1
            self._sum_r_fx += r_fx
            self._sum_r2_fx += sq_fx
            self._sum_dt_ns += dt_ns
        self._returns_fx[head] = r_fx
        self._sq_fx[head] = sq_fx
        self._dt_ns[head] = dt_ns
        head += 1
        self._head = 0 if head == self.window else head

    @property
    def count(self) -> int:
        """Returns currently in the window (0 .. window)."""
        return self._count

    @property
    def is_full(self) -> bool:
        return self._count == self.window

    @property
    def elapsed_s(self) -> float:
        """Time the window spans, in seconds."""
        return self._sum_dt_ns / NANOS_PER_SECOND

    @property
    def sum_squared_returns(self) -> float:
        """Sum of squared log returns in the window (dimensionless)."""
        return math.ldexp(float(self._sum_r2_fx), -_FIXED_POINT_BITS)

    @property
    def sum_returns(self) -> float:
        """Sum of log returns in the window: the log price change over its span (dimensionless)."""
        return math.ldexp(float(self._sum_r_fx), -_FIXED_POINT_BITS)

    def sigma_per_sqrt_s(self) -> float:
        """Realized vol ``sqrt(sum r² / sum dt)`` in relative units per sqrt(second); 0.0 while empty."""
        if self._sum_dt_ns == 0:
            return 0.0
        return math.sqrt(self.sum_squared_returns / (self._sum_dt_ns / NANOS_PER_SECOND))

    def drift_per_s(self) -> float:
        """Mean log return per second over the window; 0.0 while empty."""
        if self._sum_dt_ns == 0:
            return 0.0
        return self.sum_returns / (self._sum_dt_ns / NANOS_PER_SECOND)

    def trend_strength(self) -> float:
        """``|drift| * T / (sigma * sqrt(T)) = |sum r| / sqrt(sum r²)``, dimensionless.

        The log move over the window in units of the move's own realized standard deviation: about
        ``|N(0, 1)|`` for a driftless walk, ``sqrt(n)`` for ``n`` equal steps in one direction. 0.0 while flat.
        """
        if self._sum_r2_fx <= 0:
            return 0.0
        return abs(self.sum_returns) / math.sqrt(self.sum_squared_returns)
