"""The one Strategy protocol every quoting model implements, and the context it quotes from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from thalex_modular.platform.domain.entities import Instrument, Quote, Ticker, Trade
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market.regime import Regime


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
        gamma_multiplier: risk-aversion multiplier from the :class:`Regime` (dimensionless, > 0).
        now_ns: decision time, int ns (from the Clock, never the wall clock).

    Raises:
        InvalidValue: a non-finite position, a negative or non-finite sigma, a non-positive multiplier.
    """

    instrument: Instrument
    ticker: Ticker
    fair_price: float
    position: float
    sigma_per_s: float
    gamma_multiplier: float
    now_ns: int

    def __post_init__(self) -> None:
        if not 0.0 < self.fair_price < math.inf:
            raise InvalidValue(f"QuoteContext.fair_price must be finite and > 0, was {self.fair_price!r}")
        if not math.isfinite(self.position):
            raise InvalidValue(f"QuoteContext.position must be finite, was {self.position!r}")
        if not (math.isfinite(self.sigma_per_s) and self.sigma_per_s >= 0.0):
            raise InvalidValue(f"QuoteContext.sigma_per_s must be finite and >= 0, was {self.sigma_per_s!r}")
        if not (math.isfinite(self.gamma_multiplier) and self.gamma_multiplier > 0.0):
            raise InvalidValue(
                f"QuoteContext.gamma_multiplier must be finite and > 0, was {self.gamma_multiplier!r}"
            )

    @classmethod
    def from_regime(
        cls, instrument: Instrument, ticker: Ticker, fair_price: float, position: float, regime: Regime, now_ns: int
    ) -> QuoteContext:
        """Build a context whose vol and gamma multiplier come from ``regime``
        (:attr:`Regime.quoting_sigma_per_sqrt_s`, :attr:`Regime.gamma_multiplier`)."""
        return cls(
            instrument, ticker, fair_price, position, regime.quoting_sigma_per_sqrt_s, regime.gamma_multiplier, now_ns
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
