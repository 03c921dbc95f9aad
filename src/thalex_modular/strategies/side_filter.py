"""SideFilter: a strategy wrapper that drops the quotes of blocked sides (the toxic-flow defence)."""

from __future__ import annotations

from collections.abc import Sequence

from thalex_modular.platform.domain.entities import Fill, Instrument, Quote, Trade
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.quote_array import Q_IS_BUY, QuoteArray
from thalex_modular.strategies.protocol import ArrayStrategy, QuoteContext, Strategy


class SideFilter:
    """Strategy wrapper that drops quotes on blocked sides (toxic-flow defence); a Strategy itself.
    :func:`side_filter` picks :class:`ArraySideFilter` for a strategy that writes quote arrays."""

    __slots__ = ("blocked", "inner")

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.blocked: frozenset[Side] = frozenset()

    def compute_quotes(self, ctx: QuoteContext) -> Sequence[Quote]:
        quotes = self.inner.compute_quotes(ctx)
        blocked = self.blocked
        if not blocked:
            return quotes
        return [q for q in quotes if q.side not in blocked]

    def on_trade(self, trade: Trade) -> None:
        self.inner.on_trade(trade)

    def on_own_fill(self, fill: Fill) -> None:
        self.inner.on_own_fill(fill)


class ArraySideFilter(SideFilter):
    """:class:`SideFilter` of an :class:`ArrayStrategy`, itself one: blocked sides' rows are dropped in place."""

    __slots__ = ("_array_inner",)

    def __init__(self, inner: ArrayStrategy) -> None:
        super().__init__(inner)
        self._array_inner = inner

    @property
    def max_quotes(self) -> int:
        return self._array_inner.max_quotes

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
        n = self._array_inner.quote_into(
            out, instrument, best_bid_price, best_ask_price, fair_price, position, sigma_per_s, risk_multiplier,
            now_ns,
        )
        blocked = self.blocked
        if not blocked:
            return n
        keep_bids = Side.BUY not in blocked
        keep_asks = Side.SELL not in blocked
        kept = 0
        for row in range(n):
            if keep_bids if out[row, Q_IS_BUY] else keep_asks:
                if kept != row:
                    out[kept] = out[row]
                kept += 1
        return kept


def side_filter(inner: Strategy) -> SideFilter:
    """A SideFilter around ``inner``; an :class:`ArraySideFilter` when ``inner`` writes quote arrays."""
    if isinstance(inner, ArrayStrategy):
        return ArraySideFilter(inner)
    return SideFilter(inner)
