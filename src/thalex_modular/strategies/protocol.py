"""The one Strategy protocol every quoting model implements, the context it quotes from, and the array form of
it the compiled tick path uses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from thalex_modular.platform.domain.entities import Fill, Instrument, Quote, Ticker, Trade
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market.regime import Regime
from thalex_modular.platform.domain.quote_array import QuoteArray


@dataclass(slots=True)
class QuoteContext:
    """Everything a strategy needs for one quoting decision. Built once per decision and treated as
    immutable (not frozen: a frozen dataclass costs ~1 µs more to build on the tick path).

    Attributes:
        instrument: what we quote; owns tick/lot rounding.
        ticker: best bid/ask (either may be None) and mark price, USD.
        fair_price: the price to centre quotes on, USD (the owner's :class:`PriceReference` of the ticker).
        position: signed position in the underlying (negative = short).
        sigma_per_s: realized vol per sqrt(second) in *relative* (log-return) units; strategies convert it to
            USD once (e.g. :func:`~.avellaneda_stoikov.usd_sigma_per_sqrt_s`).
        risk_multiplier: the :class:`Regime`'s risk multiplier (dimensionless, > 0): > 1 quotes wider and skews
            harder than the model alone, < 1 narrower (never below the fee floor).
        now_ns: decision time, int ns (from the Clock, never the wall clock).

    Raises:
        InvalidValue: a non-finite position, a negative or non-finite sigma, a non-positive multiplier.
    """

    instrument: Instrument
    ticker: Ticker
    fair_price: float
    position: float
    sigma_per_s: float
    risk_multiplier: float
    now_ns: int

    def __post_init__(self) -> None:
        if not 0.0 < self.fair_price < math.inf:
            raise InvalidValue(f"QuoteContext.fair_price must be finite and > 0, was {self.fair_price!r}")
        if not math.isfinite(self.position):
            raise InvalidValue(f"QuoteContext.position must be finite, was {self.position!r}")
        if not (math.isfinite(self.sigma_per_s) and self.sigma_per_s >= 0.0):
            raise InvalidValue(f"QuoteContext.sigma_per_s must be finite and >= 0, was {self.sigma_per_s!r}")
        if not (math.isfinite(self.risk_multiplier) and self.risk_multiplier > 0.0):
            raise InvalidValue(
                f"QuoteContext.risk_multiplier must be finite and > 0, was {self.risk_multiplier!r}"
            )

    @classmethod
    def from_regime(
        cls, instrument: Instrument, ticker: Ticker, fair_price: float, position: float, regime: Regime, now_ns: int
    ) -> QuoteContext:
        """Build a context whose vol and risk multiplier come from ``regime``
        (:attr:`Regime.quoting_sigma_per_sqrt_s`, :attr:`Regime.risk_multiplier`)."""
        return cls(
            instrument, ticker, fair_price, position, regime.quoting_sigma_per_sqrt_s, regime.risk_multiplier, now_ns
        )


class Strategy(Protocol):
    """A quoting model. Implementations are pure: no I/O, no clock reads, cheap ``compute_quotes``."""

    def compute_quotes(self, ctx: QuoteContext) -> Sequence[Quote]:
        """The full set of orders we want resting now (both sides, all levels), already rounded by the
        instrument. Empty when nothing should be quoted."""
        ...

    def on_trade(self, trade: Trade) -> None:
        """A public trade of the quoted instrument (for online parameter estimation, e.g. kappa)."""
        ...

    def on_own_fill(self, fill: Fill) -> None:
        """One of our own fills (live, its print is also on the public tape: not a market arrival)."""
        ...


@runtime_checkable
class ArrayStrategy(Strategy, Protocol):
    """A Strategy that also writes its quotes straight into an int64 quote array (the compiled tick path: no
    QuoteContext, no Quote objects per ticker). Layout: :mod:`~thalex_modular.platform.domain.quote_array`."""

    @property
    def max_quotes(self) -> int:
        """Rows :meth:`quote_into` may write (both sides, all levels)."""
        ...

    def quote_into(
        self,
        out: QuoteArray,
        instrument: Instrument,
        best_bid_price: float | None,
        best_ask_price: float | None,
        fair_price: float,
        position: float,
        sigma_per_s: float,
        risk_multiplier: float,
        now_ns: int,
    ) -> int:
        """Write into ``out[:n]`` exactly the quotes, in the same order, that :meth:`compute_quotes` returns for a
        :class:`QuoteContext` of the same arguments (prices USD, ``position`` in the underlying, ``sigma_per_s``
        relative per sqrt(second), ``now_ns`` int ns; a None best price = that side of the book is empty);
        return n. ``out`` (>= :attr:`max_quotes` rows) belongs to the strategy between calls: the caller reads
        it and never writes it.

        Raises:
            InvalidValue: the inputs :class:`QuoteContext` refuses, with its messages.
        """
        ...
