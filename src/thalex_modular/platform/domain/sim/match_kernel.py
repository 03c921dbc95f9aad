"""The simulator's matching decisions as one compiled kernel (with its pure-Python twin): how a public trade or a
crossing opposite level is shared among our resting orders of one side. ``queue.allocate_trade`` /
``allocate_cross`` (SimMatchEngine: shadow, the reference backtest driver) and a compiled replay loop call the same
code, so the fill rules are written once. Rules: ``queue.py``'s docstring and docs/simulator.md (3, 6, 7).

Arrays, one entry per order (integer ticks and lots): ``price_ticks``, ``remaining_lots``, ``queue_ahead_lots``
(-1 = unknown, i.e. infinite), ``priority`` (smaller joined earlier). Outputs: ``out_index`` / ``out_lots`` (the
fills in price-time priority), their count returned; ``queue_ahead_lots`` advanced in place.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from ..jit import kernel

UNKNOWN_LOTS: Final = -1
"""A size the feed did not give: never read as 0 (LESSONS 19)."""


@kernel
def price_time_order(
    buy: bool, level_ticks: int, price_ticks: NDArray[np.int64], remaining_lots: NDArray[np.int64],
    priority: NDArray[np.int64], n: int, order: NDArray[np.int64],
) -> int:
    """Indices of the orders ``level_ticks`` reaches (at or through their limit) with lots left, into ``order``:
    most aggressive price first, then earliest joined (a stable insertion sort: n is a few orders). Returns the
    count."""
    m = 0
    for i in range(n):
        through = price_ticks[i] - level_ticks if buy else level_ticks - price_ticks[i]
        if through < 0 or remaining_lots[i] <= 0:
            continue
        j = m
        while j > 0:
            k = order[j - 1]
            through_k = price_ticks[k] - level_ticks if buy else level_ticks - price_ticks[k]
            if through_k > through or (through_k == through and priority[k] <= priority[i]):
                break
            order[j] = k
            j -= 1
        order[j] = i
        m += 1
    return m


@kernel
def allocate_trade_kernel(
    buy: bool, trade_ticks: int, trade_lots: int, slippage_ticks: int, price_ticks: NDArray[np.int64],
    remaining_lots: NDArray[np.int64], queue_ahead_lots: NDArray[np.int64], priority: NDArray[np.int64], n: int,
    out_index: NDArray[np.int64], out_lots: NDArray[np.int64],
) -> int:
    """Share one public trade (``trade_lots`` at ``trade_ticks``) among our ``buy`` (or sell) orders it can fill.
    A trade through a limit by at least ``slippage_ticks`` fills directly; nearer, it first eats the queue ahead
    (never an unknown one). Returns the number of fills; their lots sum to at most ``trade_lots``."""
    return allocate_trade_into(buy, trade_ticks, trade_lots, slippage_ticks, price_ticks, remaining_lots,
                               queue_ahead_lots, priority, n, out_index, out_lots, np.empty(n, dtype=np.int64))


@kernel
def allocate_trade_into(
    buy: bool, trade_ticks: int, trade_lots: int, slippage_ticks: int, price_ticks: NDArray[np.int64],
    remaining_lots: NDArray[np.int64], queue_ahead_lots: NDArray[np.int64], priority: NDArray[np.int64], n: int,
    out_index: NDArray[np.int64], out_lots: NDArray[np.int64], order: NDArray[np.int64],
) -> int:
    """:func:`allocate_trade_kernel` with its price-time order table given (``order``: at least ``n`` cells), so
    it allocates nothing."""
    m = price_time_order(buy, trade_ticks, price_ticks, remaining_lots, priority, n, order)
    left = trade_lots
    fills = 0
    for r in range(m):
        if left <= 0:
            break
        i = order[r]
        through = price_ticks[i] - trade_ticks if buy else trade_ticks - price_ticks[i]
        if through < slippage_ticks:
            if queue_ahead_lots[i] == UNKNOWN_LOTS:
                continue  # level size unknown: the queue ahead is never consumed (conservative)
            eaten = min(left, queue_ahead_lots[i])
            queue_ahead_lots[i] -= eaten
            left -= eaten
            if queue_ahead_lots[i] > 0:
                continue
        lots = min(left, remaining_lots[i])
        if lots > 0:
            out_index[fills] = i
            out_lots[fills] = lots
            fills += 1
            left -= lots
    return fills


@kernel
def allocate_cross_kernel(
    buy: bool, opposite_ticks: int, crossed_lots: int, price_ticks: NDArray[np.int64],
    remaining_lots: NDArray[np.int64], priority: NDArray[np.int64], n: int, out_index: NDArray[np.int64],
    out_lots: NDArray[np.int64],
) -> int:
    """Share the opposite best level (``crossed_lots`` not yet used, -1 unknown: every crossed order fills in
    full) that came to or through our ``buy`` (or sell) orders. Returns the number of fills."""
    return allocate_cross_into(buy, opposite_ticks, crossed_lots, price_ticks, remaining_lots, priority, n,
                               out_index, out_lots, np.empty(n, dtype=np.int64))


@kernel
def allocate_cross_into(
    buy: bool, opposite_ticks: int, crossed_lots: int, price_ticks: NDArray[np.int64],
    remaining_lots: NDArray[np.int64], priority: NDArray[np.int64], n: int, out_index: NDArray[np.int64],
    out_lots: NDArray[np.int64], order: NDArray[np.int64],
) -> int:
    """:func:`allocate_cross_kernel` with its price-time order table given (``order``: at least ``n`` cells)."""
    m = price_time_order(buy, opposite_ticks, price_ticks, remaining_lots, priority, n, order)
    left = crossed_lots
    fills = 0
    for r in range(m):
        i = order[r]
        lots = remaining_lots[i] if left == UNKNOWN_LOTS else min(left, remaining_lots[i])
        if lots <= 0:
            break
        out_index[fills] = i
        out_lots[fills] = lots
        fills += 1
        if left != UNKNOWN_LOTS:
            left -= lots
    return fills
