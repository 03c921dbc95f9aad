"""Online estimate of the order-arrival decay kappa (per USD) of the Avellaneda-Stoikov model."""

from __future__ import annotations

import math

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market.rolling_volatility import ExactSum


class KappaEstimator:
    """Fits ``lambda(delta) = A * exp(-kappa * delta)``, the rate at which a quote ``delta`` USD from the mid is
    hit, from the distances of public trades to the mid.

    Under that model a market order reaches at least ``delta`` from the mid with probability
    ``exp(-kappa * delta)``, so trade distances are exponential with rate kappa, whose maximum-likelihood fit
    over the last ``window_trades`` trades is ``n / sum(delta)``. O(1) per trade (rolling exact sum).

    The estimate is clamped to ``[kappa_min_per_usd, kappa_max_per_usd]``; until ``min_trades`` trades are in
    the window, :meth:`kappa_per_usd` returns ``fallback_kappa_per_usd``.

    Known simplification: distances are measured to the last mid the caller saw, and the half-spread floor of
    the book (no trade happens inside it) is not removed, which biases kappa low in wide books.
    """

    __slots__ = (
        "_count", "_distances", "_head", "_kappa", "_sum", "fallback_kappa_per_usd", "kappa_max_per_usd",
        "kappa_min_per_usd", "min_trades", "window_trades",
    )

    def __init__(
        self,
        window_trades: int,
        min_trades: int,
        kappa_min_per_usd: float,
        kappa_max_per_usd: float,
        fallback_kappa_per_usd: float,
    ) -> None:
        if isinstance(window_trades, bool) or not isinstance(window_trades, int) or window_trades < 1:
            raise InvalidValue(f"KappaEstimator.window_trades must be an int >= 1, was {window_trades!r}")
        if isinstance(min_trades, bool) or not isinstance(min_trades, int) or not 1 <= min_trades <= window_trades:
            raise InvalidValue(
                f"KappaEstimator.min_trades must be an int in [1, window_trades={window_trades}], was {min_trades!r}"
            )
        for name, value in (
            ("kappa_min_per_usd", kappa_min_per_usd),
            ("kappa_max_per_usd", kappa_max_per_usd),
            ("fallback_kappa_per_usd", fallback_kappa_per_usd),
        ):
            if not (math.isfinite(value) and value > 0):
                raise InvalidValue(f"KappaEstimator.{name} must be finite and > 0, was {value!r}")
        if kappa_min_per_usd > kappa_max_per_usd:
            raise InvalidValue(
                f"KappaEstimator.kappa_min_per_usd must be <= kappa_max_per_usd {kappa_max_per_usd}, "
                f"was {kappa_min_per_usd}"
            )
        self.window_trades = window_trades
        self.min_trades = min_trades
        self.kappa_min_per_usd = kappa_min_per_usd
        self.kappa_max_per_usd = kappa_max_per_usd
        self.fallback_kappa_per_usd = fallback_kappa_per_usd
        self._distances: list[float] = [0.0] * window_trades
        self._head = 0
        self._count = 0
        self._sum = ExactSum()
        self._kappa: float | None = None  # the estimate, computed on demand after each observation

    def observe(self, distance_usd: float) -> None:
        """Record one trade ``distance_usd`` (>= 0, finite) from the mid.

        Raises:
            InvalidValue: a negative or non-finite distance.
        """
        if not (math.isfinite(distance_usd) and distance_usd >= 0.0):
            raise InvalidValue(f"KappaEstimator.observe: distance_usd must be finite and >= 0, was {distance_usd!r}")
        head = self._head
        if self._count == self.window_trades:
            self._sum.add(-self._distances[head])
        else:
            self._count += 1
        self._distances[head] = distance_usd
        self._sum.add(distance_usd)
        self._kappa = None
        head += 1
        self._head = 0 if head == self.window_trades else head

    @property
    def count(self) -> int:
        """Trades in the window."""
        return self._count

    def kappa_per_usd(self) -> float:
        """The bounded estimate (per USD), or the fallback while fewer than ``min_trades`` were seen."""
        kappa = self._kappa
        if kappa is None:
            kappa = self._kappa = self._estimate()
        return kappa

    def _estimate(self) -> float:
        if self._count < self.min_trades:
            return self.fallback_kappa_per_usd
        total = self._sum.value
        if total <= 0.0:
            return self.kappa_max_per_usd  # every trade at the mid: arrivals decay as fast as we allow
        kappa = self._count / total
        return min(max(kappa, self.kappa_min_per_usd), self.kappa_max_per_usd)
