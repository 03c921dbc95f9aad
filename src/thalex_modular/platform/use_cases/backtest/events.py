"""Backtest history as one columnar event stream (STYLE 8: a numpy structured dtype with an int kind column).

Tick mode merges stored quotes (book tops) and trades; bar mode turns 1m OHLCV bars into the few events the bar
rule allows (``docs/backtest.md``). Both drivers read the same arrays, chunk by chunk: a chunk is one range read,
so memory is bounded by the chunk, not by the length of the replay.

Units: prices USD, amounts in the underlying, times int ns: ``ts_ns`` on the exchange clock, ``local_ns`` on ours.

Events are replayed at the time we saw them: the recorded receive time where the data has a plausible one (recordings
and Tardis imports do), else the exchange time plus the replay's feed delay (:func:`seen_times`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.sim_match_engine import FEED_SAMPLE_MAX_NS
from thalex_modular.platform.domain.storage import NANOS_PER_MINUTE

#: Event kinds (the ``kind`` column).
QUOTE: Final = 0
TRADE: Final = 1
#: A receive time more than this after the exchange time (or before it) is a clock error, not latency (the
#: simulator's own feed measurement's bound).
MAX_FEED_DELAY_NS: Final = FEED_SAMPLE_MAX_NS

#: One market event. Quote rows use bid/ask/mark (NaN where unknown; a NaN side is an empty book side) and carry the
#: perpetual's funding rate (per 24 h, fraction of the index, positive: longs pay) and the index (USD) when the data
#: has them (NaN otherwise); trade rows use price/amount/side (taker side +1 buy, -1 sell, 0 unknown). ``local_ns``:
#: when we received the event (our clock), 0 where the data gives no plausible receive time.
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
        ("local_ns", "i8"),
    ]
)
_QUOTE_COLUMNS: Final = (
    "bid_price", "bid_amount", "ask_price", "ask_amount", "mark_price", "funding_rate_24h", "index_price"
)

#: Where inside a bar (ns after its start) its two synthetic prints sit; its close is seen at the bar's end.
BAR_PRINT_OFFSET_NS: Final = NANOS_PER_MINUTE // 2


def tick_events(quotes: npt.NDArray[np.void], trades: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    """Merge ``QUOTE_DTYPE`` and ``TRADE_DTYPE`` rows (each ordered by ts_ns) into one ``EVENT_DTYPE`` stream in the
    order we received them. The ticker channel and the trades channel reach us with different delays, so receive
    order is not exchange order; each channel keeps its own order (a row without a plausible receive time is placed by
    its exchange time, but never before an earlier row of its channel). At one time quotes come before trades (a
    stable merge), the order the recorder saw them in a ticker-then-trades frame."""
    out = np.empty(len(quotes) + len(trades), dtype=EVENT_DTYPE)
    q = out[: len(quotes)]
    q["ts_ns"] = quotes["ts_ns"]
    q["kind"] = QUOTE
    q["side"] = 0
    for column in _QUOTE_COLUMNS:
        q[column] = quotes[column]
    q["price"] = np.nan
    q["amount"] = np.nan
    q["local_ns"] = _plausible_receive_ns(quotes["ts_ns"], quotes["local_ns"])
    t = out[len(quotes):]
    t["ts_ns"] = trades["ts_ns"]
    t["kind"] = TRADE
    t["side"] = trades["side"]
    for column in _QUOTE_COLUMNS:
        t[column] = np.nan
    t["price"] = trades["price"]
    t["amount"] = trades["amount"]
    t["local_ns"] = _plausible_receive_ns(trades["ts_ns"], trades["local_ns"])
    received = np.concatenate([_channel_order(q), _channel_order(t)])
    return out[np.argsort(received, kind="stable")]


def _plausible_receive_ns(ts_ns: npt.NDArray[np.int64], local_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    delay = local_ns - ts_ns
    return np.where((delay >= 0) & (delay <= MAX_FEED_DELAY_NS), local_ns, 0)


def _channel_order(rows: npt.NDArray[np.void]) -> npt.NDArray[np.int64]:
    """Where one channel's rows (in exchange order) sit in the merge: receive time, else exchange time, never
    before the row before."""
    key = np.where(rows["local_ns"] > 0, rows["local_ns"], rows["ts_ns"])
    return np.maximum.accumulate(key) if len(key) else key


def seen_times(chunk: npt.NDArray[np.void], feed_ns: int, after_ns: int) -> npt.NDArray[np.int64]:
    """When the replay's clock sees each event of ``chunk``: its receive time, else its exchange time + ``feed_ns``;
    never before the event before it, nor before ``after_ns`` (the last one of the previous chunk). A clock does not
    go back: an event received out of order across a chunk's edge is seen with the one before it."""
    local = chunk["local_ns"]
    seen = np.where(local > 0, local, chunk["ts_ns"] + feed_ns)
    np.maximum.accumulate(seen, out=seen)
    np.maximum(seen, after_ns, out=seen)
    return seen


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
    out["local_ns"] = 0  # bars are built from trades' exchange times: seen a feed delay later
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
