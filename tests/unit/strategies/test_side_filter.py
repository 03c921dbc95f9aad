"""SideFilter: blocked sides' quotes are dropped, on the Quote path and on the array path alike."""

from __future__ import annotations

import pytest

from stubs import perpetual, ticker
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.quote_array import new_quote_array, quotes_from_array
from thalex_modular.strategies.avellaneda_stoikov import AvellanedaStoikovConfig, AvellanedaStoikovStrategy
from thalex_modular.strategies.protocol import ArrayStrategy, QuoteContext
from thalex_modular.strategies.side_filter import ArraySideFilter, SideFilter, side_filter

BTC = perpetual()
NOW = 1_700_000_000 * 10**9


def _strategy() -> AvellanedaStoikovStrategy:
    return AvellanedaStoikovStrategy(
        AvellanedaStoikovConfig(
            gamma=0.1, max_position_underlying=1.0, level_amounts=(0.01, 0.02, 0.03), kappa_per_usd=0.5
        )
    )


@pytest.mark.parametrize("blocked", [set(), {Side.BUY}, {Side.SELL}, {Side.BUY, Side.SELL}])
def test_array_path_drops_the_same_quotes_as_the_quote_path(blocked: set[Side]) -> None:
    # Arrange
    tk = ticker()
    reference = SideFilter(_strategy())
    array_filter = side_filter(_strategy())
    assert isinstance(array_filter, ArraySideFilter) and isinstance(array_filter, ArrayStrategy)
    reference.blocked = array_filter.blocked = frozenset(blocked)
    out = new_quote_array(array_filter.max_quotes)
    # Act
    expected = list(reference.compute_quotes(QuoteContext(BTC, tk, 100_000.0, 0.2, 2e-5, 1.0, NOW)))
    n = array_filter.quote_into(out, BTC, tk.best_bid_price, tk.best_ask_price, 100_000.0, 0.2, 2e-5, 1.0, NOW)
    # Assert
    assert list(quotes_from_array(out, n)) == expected
    assert len(expected) == 6 - 3 * len(blocked)
    assert all(q.side not in blocked for q in expected)


def test_a_strategy_without_arrays_gets_the_plain_filter() -> None:
    class QuotesOnly:
        def compute_quotes(self, ctx: QuoteContext) -> list[object]:
            return []

        def on_trade(self, trade: object) -> None:
            return None

        def on_own_fill(self, fill: object) -> None:
            return None

    wrapped = side_filter(QuotesOnly())  # type: ignore[arg-type]
    assert type(wrapped) is SideFilter and not isinstance(wrapped, ArrayStrategy)
