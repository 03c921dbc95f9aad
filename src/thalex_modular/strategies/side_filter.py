"""SideFilter: a strategy wrapper that drops the quotes of blocked sides (the toxic-flow defence)."""

from __future__ import annotations

from collections.abc import Sequence

from thalex_modular.platform.domain.entities import Quote, Trade
from thalex_modular.platform.domain.enums import Side
from thalex_modular.strategies.protocol import QuoteContext, Strategy


class SideFilter:
    """Strategy wrapper that drops quotes on blocked sides (toxic-flow defence); a Strategy itself."""

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


