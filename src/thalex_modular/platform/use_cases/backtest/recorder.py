"""What a backtest records while it replays: our fills, their markouts, and state samples on a time grid.

Fixed-shape rows appended to typed arrays (STYLE 16); statistics are computed after the run (:mod:`.metrics`).
The sample grid is coarse enough that a long replay keeps a bounded number of samples (``sample_interval_for``).
Units: prices USD, amounts in the underlying, times int ns, money USD.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

NANOS_PER_SECOND: Final = 1_000_000_000
#: Markout horizons (ns): the mid this long after a fill, against the fill's price.
MARKOUT_HORIZONS_NS: Final = (1 * NANOS_PER_SECOND, 10 * NANOS_PER_SECOND, 60 * NANOS_PER_SECOND)
#: At most about this many samples per run: the grid widens on long ranges (memory independent of length).
MAX_SAMPLES: Final = 100_000
#: Market Quality estimate: a quote this far from mid (bps) or farther counts nothing; linear in between.
MQP_MAX_DISTANCE_BPS: Final = 10.0

FILL_DTYPE: Final = np.dtype(
    [
        ("ts_ns", "i8"),  # our (local) time the fill reached us
        ("side", "i1"),  # +1 we bought, -1 we sold
        ("maker", "i1"),  # 1 maker, 0 taker
        ("price", "f8"),
        ("amount", "f8"),
        ("fee_usd", "f8"),  # positive = paid
        ("mid", "f8"),  # mid when the fill reached us
        ("mid_1s", "f8"),  # mid at each markout horizon (NaN: the replay ended first)
        ("mid_10s", "f8"),
        ("mid_60s", "f8"),
    ]
)
SAMPLE_DTYPE: Final = np.dtype(
    [
        ("ts_ns", "i8"),
        ("mid", "f8"),
        ("mark", "f8"),
        ("position", "f8"),
        ("equity_usd", "f8"),  # net of fees: cash + position x mark - fees
        ("fees_usd", "f8"),
        ("bid_price", "f8"),  # our best resting bid (NaN: none)
        ("bid_amount", "f8"),  # our resting bid amount, all levels
        ("ask_price", "f8"),
        ("ask_amount", "f8"),
        ("mqp_size", "f8"),  # two-sided quoted size discounted by distance from mid (underlying)
    ]
)


def sample_interval_for(start_ns: int, end_ns: int, floor_ns: int = NANOS_PER_SECOND) -> int:
    """The sample grid of a replay over [start_ns, end_ns): ``floor_ns`` (1 s), widened so that at most
    :data:`MAX_SAMPLES` samples are taken."""
    return max(floor_ns, -(-(end_ns - start_ns) // MAX_SAMPLES))


def mqp_side_size(orders: list[tuple[float, float]], mid: float) -> float:
    """Quoted size of one side discounted by distance from ``mid``: sum of amount x max(0, 1 - d / 10 bps)."""
    total = 0.0
    for price, amount in orders:
        distance_bps = abs(price - mid) / mid * 1e4
        total += amount * max(0.0, 1.0 - distance_bps / MQP_MAX_DISTANCE_BPS)
    return total


@dataclass(frozen=True, slots=True)
class RestingQuotes:
    """Our acknowledged resting orders at a sample: (price USD, remaining amount) per side."""

    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


class BacktestRecorder:
    """Fills, markouts and samples of one replay. Call :meth:`on_fill` for each of our fills, :meth:`due` /
    :meth:`sample` on the grid and :meth:`observe` after every event."""

    def __init__(self, sample_interval_ns: int, start_ns: int) -> None:
        self.sample_interval_ns = sample_interval_ns
        self.next_sample_ns = start_ns
        self._fills = typed_columns(FILL_DTYPE)
        self._samples = typed_columns(SAMPLE_DTYPE)
        self._pending: list[deque[tuple[int, int]]] = [deque() for _ in MARKOUT_HORIZONS_NS]
        names = FILL_DTYPE.names or ()
        self._markout_columns = [self._fills[names.index(f"mid_{h // NANOS_PER_SECOND}s")] for h in MARKOUT_HORIZONS_NS]
        self.position = 0.0
        self.cash_usd = 0.0
        self.fees_usd = 0.0
        self.spread_capture_usd = 0.0
        self.fill_count = 0

    def on_fill(self, ts_ns: int, side: int, maker: bool, price: float, amount: float, fee_usd: float,
                mid: float) -> None:
        """Book one of our fills (``side`` +1 bought / -1 sold) seen at ``ts_ns`` with the book ``mid`` then."""
        row = (ts_ns, side, 1 if maker else 0, price, amount, fee_usd, mid, math.nan, math.nan, math.nan)
        for column, value in zip(self._fills, row, strict=True):
            column.append(value)
        self.position += side * amount
        self.cash_usd -= side * price * amount
        self.fees_usd += fee_usd
        self.spread_capture_usd += side * (mid - price) * amount
        for pending, horizon in zip(self._pending, MARKOUT_HORIZONS_NS, strict=True):
            pending.append((ts_ns + horizon, self.fill_count))
        self.fill_count += 1

    def observe(self, ts_ns: int, mid: float) -> None:
        """The mid as of ``ts_ns``: settles the markouts that came due."""
        for pending, column in zip(self._pending, self._markout_columns, strict=True):
            while pending and pending[0][0] <= ts_ns:
                column[pending.popleft()[1]] = mid

    def due(self, ts_ns: int) -> bool:
        return ts_ns >= self.next_sample_ns

    def sample(self, ts_ns: int, mid: float, mark: float, quotes: RestingQuotes) -> None:
        """The grid points up to ``ts_ns`` (the state before the event at ``ts_ns`` is applied: nothing changed
        since the last event, so every grid point in between gets the same row, stamped with its grid time)."""
        bid = max((p for p, _ in quotes.bids), default=math.nan)
        ask = min((p for p, _ in quotes.asks), default=math.nan)
        mqp = min(mqp_side_size(quotes.bids, mid), mqp_side_size(quotes.asks, mid))
        state = (
            mid, mark, self.position, self.equity_usd(mark), self.fees_usd,
            bid, sum(a for _, a in quotes.bids), ask, sum(a for _, a in quotes.asks), mqp,
        )
        step = self.sample_interval_ns
        for _ in range((ts_ns - self.next_sample_ns) // step + 1):
            self._samples[0].append(self.next_sample_ns)
            for column, value in zip(self._samples[1:], state, strict=True):
                column.append(value)
            self.next_sample_ns += step

    def skip_to(self, ts_ns: int) -> None:
        """Move the grid past ``ts_ns`` without a sample (nothing to sample yet: no mid seen)."""
        step = self.sample_interval_ns
        self.next_sample_ns += ((ts_ns - self.next_sample_ns) // step + 1) * step

    def equity_usd(self, mark: float) -> float:
        """Cash + position at ``mark`` - fees (USD)."""
        return self.cash_usd + self.position * mark - self.fees_usd

    def fills(self) -> npt.NDArray[np.void]:
        return columns_table(FILL_DTYPE, self._fills)

    def fill_flows(self, start: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Fills from the ``start``-th on: the time each reached us (ns) and its signed amount (+ bought)."""
        ts = np.frombuffer(self._fills[0], dtype=np.int64)[start:]
        side = np.frombuffer(self._fills[1], dtype=np.int64)[start:]
        amount = np.frombuffer(self._fills[4], dtype=np.float64)[start:]
        return ts.copy(), side * amount

    @property
    def sample_count(self) -> int:
        return len(self._samples[0])

    def sample_times(self, start: int) -> npt.NDArray[np.int64]:
        """Grid times of the samples from the ``start``-th on."""
        return np.frombuffer(self._samples[0], dtype=np.int64)[start:].copy()

    def samples(self) -> npt.NDArray[np.void]:
        return columns_table(SAMPLE_DTYPE, self._samples)


def typed_columns(dtype: np.dtype[np.void]) -> list[array[Any]]:
    """One typed growable column per field: int64 for integer fields (ns stamps exceed a float's 53 bits)."""
    return [array("q" if dtype[name].kind == "i" else "d") for name in dtype.names or ()]


def columns_table(dtype: np.dtype[np.void], columns: list[array[Any]]) -> npt.NDArray[np.void]:
    """The rows appended to :func:`typed_columns` as one structured array."""
    out = np.zeros(len(columns[0]), dtype=dtype)
    for name, column in zip(dtype.names or (), columns, strict=True):
        if len(column):
            out[name] = np.frombuffer(column, dtype="i8" if column.typecode == "q" else "f8")
    return out
