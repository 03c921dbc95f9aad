"""Desired quotes as one int64 array: the form the compiled tick path reads (no Quote objects per tick).

Row ``i`` of an array of shape ``(capacity, QUOTE_COLUMNS)`` is one :class:`~.entities.Quote`:
``[is_buy (1 bid, 0 ask), price_ticks, amount_lots, level]``. A count says how many leading rows are valid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .entities import Quote
from .enums import Side

__all__ = [
    "QUOTE_COLUMNS",
    "Q_IS_BUY",
    "Q_LEVEL",
    "Q_LOTS",
    "Q_TICKS",
    "QuoteArray",
    "new_quote_array",
    "quotes_from_array",
    "quotes_into_array",
]

Q_IS_BUY = 0
Q_TICKS = 1
Q_LOTS = 2
Q_LEVEL = 3
QUOTE_COLUMNS = 4

QuoteArray = NDArray[np.int64]


def new_quote_array(capacity: int) -> QuoteArray:
    """A zeroed quote array with room for ``capacity`` quotes."""
    return np.zeros((capacity, QUOTE_COLUMNS), dtype=np.int64)


def quotes_into_array(quotes: Sequence[Quote], out: QuoteArray) -> int:
    """Write ``quotes`` into the leading rows of ``out``; returns their count.

    Raises:
        ValueError: ``out`` has fewer rows than ``quotes``.
    """
    if len(quotes) > out.shape[0]:
        raise ValueError(f"quote array holds {out.shape[0]} quotes, {len(quotes)} given")
    for i, quote in enumerate(quotes):
        out[i] = (1 if quote.side is Side.BUY else 0, quote.price_ticks, quote.amount_lots, quote.level)
    return len(quotes)


def quotes_from_array(rows: QuoteArray, count: int) -> tuple[Quote, ...]:
    """The first ``count`` rows of ``rows`` as Quote values."""
    return tuple(
        Quote(Side.BUY if is_buy else Side.SELL, ticks, lots, level)
        for is_buy, ticks, lots, level in rows[:count].tolist()
    )
