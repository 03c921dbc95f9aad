"""1m OHLCV bars of a batch of trades, computed client-side with numpy (PostgreSQL writes: see ``postgres._rollup``).

Same definition as the SQL rollup (:func:`.schema.rollup_sql`): per (instrument, minute start
``ts_ns - ts_ns % 60e9``), open/close are the first/last price by (ts_ns, seq), high/low the max/min price
(PostgreSQL semantics for NaN: it sorts above every number, so ``max`` returns it and ``min`` skips it),
volume the sum of amounts, trades the count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.storage import NANOS_PER_MINUTE, TradeRecord


class BatchColumns(NamedTuple):
    """The columns of a trade batch the rollup needs, plus the instrument names they are coded against."""

    names: list[str]
    code: npt.NDArray[np.int64]  # index into ``names``
    ts_ns: npt.NDArray[np.int64]
    seq: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    amount: npt.NDArray[np.float64]


class Bars(NamedTuple):
    """Bars as parallel columns (``instrument_name`` a list, the rest numpy), ordered by (instrument, minute)."""

    instrument_name: list[str]
    ts_ns: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    trades: npt.NDArray[np.int64]

    def select(self, mask: npt.NDArray[np.bool_]) -> list[list[Any]]:
        """The bars where ``mask`` holds, as one Python list per column (SQL array parameters)."""
        names = [name for name, keep in zip(self.instrument_name, mask.tolist(), strict=True) if keep]
        return [names, *(column[mask].tolist() for column in self[1:])]


def minute_start(ts_ns: Any) -> Any:
    """``ts_ns - ts_ns % 60e9`` with SQL's remainder (truncated toward zero), for an int or an int64 array."""
    return ts_ns - np.fmod(ts_ns, NANOS_PER_MINUTE)


def batch_columns(trades: Sequence[TradeRecord]) -> BatchColumns:
    n = len(trades)
    names = [t.instrument_name for t in trades]
    index = {name: i for i, name in enumerate(dict.fromkeys(names))}
    single = len(index) == 1  # the usual batch: skip the per-row lookup
    return BatchColumns(
        names=list(index),
        code=np.zeros(n, np.int64) if single else np.fromiter(map(index.__getitem__, names), np.int64, n),
        ts_ns=np.fromiter((t.ts_ns for t in trades), np.int64, n),
        seq=np.fromiter((t.seq for t in trades), np.int64, n),
        price=np.fromiter((t.price for t in trades), np.float64, n),
        amount=np.fromiter((t.amount for t in trades), np.float64, n),
    )


def batch_bars(cols: BatchColumns) -> Bars:
    """The bars of a non-empty batch alone. Every record counts: with duplicate keys in the batch, only the
    (instrument, minute) pairs are meaningful."""
    order = np.lexsort((cols.seq, cols.ts_ns, cols.code))
    code, price, amount = cols.code[order], cols.price[order], cols.amount[order]
    minute = minute_start(cols.ts_ns[order])
    starts = np.flatnonzero(np.r_[True, (code[1:] != code[:-1]) | (minute[1:] != minute[:-1])])
    ends = np.r_[starts[1:], len(order)]
    return Bars(
        instrument_name=[cols.names[c] for c in code[starts].tolist()],
        ts_ns=minute[starts],
        open=price[starts],
        high=np.maximum.reduceat(price, starts),
        low=np.fmin.reduceat(price, starts),
        close=price[ends - 1],
        volume=np.add.reduceat(amount, starts),
        trades=ends - starts,
    )
