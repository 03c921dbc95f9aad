"""Backtest history as one columnar event stream (STYLE 8: a numpy structured dtype with an int kind column).

Tick mode merges stored quotes (book tops) and trades; bar mode turns 1m OHLCV bars into the few events the bar
rule allows (``docs/backtest.md``). Both drivers read the same arrays, chunk by chunk: a chunk is one range read,
so memory is bounded by the chunk, not by the length of the replay.

Units: prices USD, amounts in the underlying, times int ns on the exchange clock (``ts_ns``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import NANOS_PER_MINUTE

#: Event kinds (the ``kind`` column).
QUOTE: Final = 0
TRADE: Final = 1

#: One market event. Quote rows use bid/ask/mark (NaN where unknown; a NaN side is an empty book side) and carry the
#: perpetual's funding rate (per 24 h, fraction of the index, positive: longs pay) and the index (USD) when the data
#: has them (NaN otherwise); trade rows use price/amount/side (taker side +1 buy, -1 sell, 0 unknown).
EVENT_DTYPE: Final = np.dtype(
    [
        ("ts_ns", "i8"),
        ("kind", "i1"),
        ("side", "i1"),
        ("bid_price", "f8"),
        ("bid_amount", "f8"),
        ("ask_price", "f8"),
        ("ask_amount", "f8"),
        ("mark_price", "f8"),
        ("price", "f8"),
        ("amount", "f8"),
        ("funding_rate_24h", "f8"),
        ("index_price", "f8"),
    ]
)
_QUOTE_COLUMNS: Final = (
    "bid_price", "bid_amount", "ask_price", "ask_amount", "mark_price", "funding_rate_24h", "index_price"
)

#: Where inside a bar (ns after its start) its two synthetic prints sit; its close is seen at the bar's end.
BAR_PRINT_OFFSET_NS: Final = NANOS_PER_MINUTE // 2


def tick_events(quotes: npt.NDArray[np.void], trades: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    """Merge ``QUOTE_DTYPE`` and ``TRADE_DTYPE`` rows (each ordered by ts_ns) into one ``EVENT_DTYPE`` stream
    ordered by ts_ns; at one ts_ns quotes come before trades (a stable merge), the order the recorder saw them
    in a ticker-then-trades frame."""
    out = np.empty(len(quotes) + len(trades), dtype=EVENT_DTYPE)
    q = out[: len(quotes)]
    q["ts_ns"] = quotes["ts_ns"]
    q["kind"] = QUOTE
    q["side"] = 0
    for column in _QUOTE_COLUMNS:
        q[column] = quotes[column]
    q["price"] = np.nan
    q["amount"] = np.nan
    t = out[len(quotes):]
    t["ts_ns"] = trades["ts_ns"]
    t["kind"] = TRADE
    t["side"] = trades["side"]
    for column in _QUOTE_COLUMNS:
        t[column] = np.nan
    t["price"] = trades["price"]
    t["amount"] = trades["amount"]
    order = np.argsort(out["ts_ns"], kind="stable")
    return out[order]


def bar_events(bars: npt.NDArray[np.void], volume_share: float) -> npt.NDArray[np.void]:
    """Events of ``OHLCV_DTYPE`` bars under the bar rule.

    Per bar starting at ``t``: at ``t + 30 s`` a sell print at the low and a buy print at the high, each of
    ``volume_share`` of the bar's volume; at ``t + 60 s - 1 ns`` a quote at the close with no book (mark = close),
    on which the strategy decides the quotes that rest through the next bar. A resting order then fills only
    when the bar traded strictly through its price (the simulator's ``slippage_ticks`` >= 1), at its price, for at
    most ``volume_share`` of the bar's volume per side. No book means no cross fills: the prints are the only fills.
    Bars carry no funding (``ohlcv_1m`` is built from trades): the funding columns are NaN.

    Raises:
        InvalidValue: ``volume_share`` not in (0, 1].
    """
    if not 0.0 < volume_share <= 1.0:
        raise InvalidValue(f"bar_events: volume_share must be in (0, 1], was {volume_share!r}")
    traded = bars[bars["volume"] > 0]
    out = np.empty(2 * len(traded) + len(bars), dtype=EVENT_DTYPE)
    for column in (*_QUOTE_COLUMNS, "price", "amount"):
        out[column] = np.nan
    n = len(traded)
    prints = out[: 2 * n]
    prints["kind"] = TRADE
    prints["ts_ns"][0::2] = traded["ts_ns"] + BAR_PRINT_OFFSET_NS
    prints["ts_ns"][1::2] = traded["ts_ns"] + BAR_PRINT_OFFSET_NS
    prints["side"][0::2] = -1
    prints["price"][0::2] = traded["low"]
    prints["side"][1::2] = 1
    prints["price"][1::2] = traded["high"]
    prints["amount"][0::2] = traded["volume"] * volume_share
    prints["amount"][1::2] = traded["volume"] * volume_share
    closes = out[2 * n:]
    closes["kind"] = QUOTE
    closes["side"] = 0
    closes["ts_ns"] = bars["ts_ns"] + NANOS_PER_MINUTE - 1
    closes["mark_price"] = bars["close"]
    order = np.argsort(out["ts_ns"], kind="stable")
    return out[order]
