"""The quote-by-diff half of :func:`~.reconcile_kernel.plan_requests`: which resting order is kept for which desired
quote, which is amended to it, cancelled, or which quote is inserted (the module docstring of
:mod:`~.reconcile_kernel` has the rules and the row layouts). Kernels over the plan's ``work`` table: no allocation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel

# order row columns
O_IS_BUY, O_TICKS, O_LOTS, O_FILLED_LOTS, O_IN_FLIGHT, O_CID = range(6)
ORDER_COLUMNS = 6
# desired row columns (quote_array)
_Q_IS_BUY, _Q_TICKS, _Q_LOTS, _Q_LEVEL = 0, 1, 2, 3
G_TOLERANCE, G_PRICE_DIVISOR, G_AMOUNT_DIVISOR, G_TOLERANCE_BPS_MILLI, G_AMOUNT_TOLERANCE_PERMILLE = range(5)
GRID_COLUMNS = 5


@kernel
def _keeps(
    is_buy: int, want_ticks: int, want_lots: int, have_ticks: int, have_lots: int, grid: NDArray[np.int64]
) -> int:
    """How many ticks an order at ``have_ticks`` with ``have_lots`` remaining sits behind the desired quote, when it
    may be kept for it (see the module docstring); -1 when it may not."""
    behind = want_ticks - have_ticks if is_buy else have_ticks - want_ticks
    if behind < 0:
        return -1
    tolerance = want_ticks * grid[G_TOLERANCE_BPS_MILLI] // 10_000_000
    if tolerance < grid[G_TOLERANCE]:
        tolerance = grid[G_TOLERANCE]
    if behind > tolerance or have_lots > want_lots:
        return -1
    if have_lots * 1000 < want_lots * (1000 - grid[G_AMOUNT_TOLERANCE_PERMILLE]):
        return -1
    return behind


@kernel
def _sort_rows(rows: NDArray[np.int64], n: int, key_columns: int) -> None:
    """Stable insertion sort of ``rows[:n]`` by their first ``key_columns`` columns (n is a handful), in place:
    a row moves down by swaps with the strictly greater rows before it."""
    width = rows.shape[1]
    for i in range(1, n):
        j = i
        while j > 0:
            greater = False
            for c in range(key_columns):
                if rows[j - 1, c] != rows[j, c]:
                    greater = rows[j - 1, c] > rows[j, c]
                    break
            if not greater:
                break
            for c in range(width):
                swap = rows[j - 1, c]
                rows[j - 1, c] = rows[j, c]
                rows[j, c] = swap
            j -= 1


@kernel
def _clear(flags: NDArray[np.int64], n: int) -> None:
    for k in range(n):
        flags[k] = 0


@kernel
def _greedy(cand: NDArray[np.int64], m: int, q_used: NDArray[np.int64], o_used: NDArray[np.int64]) -> None:
    """Take (distance, quote, order) candidates nearest first (ties by quote, then order); marks (1) the pairs."""
    _sort_rows(cand, m, 3)
    for k in range(m):
        qi = cand[k, 1]
        oi = cand[k, 2]
        if q_used[qi] != 0 or o_used[oi] != 0:
            continue
        q_used[qi] = 1
        o_used[oi] = 1


@kernel
def _drop_used(rows: NDArray[np.int64], n: int, used: NDArray[np.int64]) -> int:
    """Keep the rows of ``rows[:n]`` not marked ``used`` (non-zero), in order, at the front; returns how many."""
    kept = 0
    for r in range(n):
        if used[r] == 0:
            for c in range(rows.shape[1]):
                rows[kept, c] = rows[r, c]
            kept += 1
    return kept


@kernel
def _diff_side(
    is_buy: int,
    desired: NDArray[np.int64],
    nq: int,
    orders: NDArray[np.int64],
    no: int,
    grid: NDArray[np.int64],
    cancels: NDArray[np.int64],
    n_cancels: int,
    amends: NDArray[np.int64],
    n_amends: int,
    inserts: NDArray[np.int64],
    n_inserts: int,
    work: NDArray[np.int64],
) -> tuple[int, int, int]:
    """Match one side; appends order rows to ``cancels``, ``[growth_lots, level, sequence, desired row, order
    row]`` to ``amends``, ``[level, signed ticks, desired row]`` to ``inserts``; returns the three new counts.
    ``work``: at least :func:`_side_work_rows` rows, its tables (their content does not outlive the call)."""
    better_first = -1 if is_buy else 1
    # the side's quotes best price first (then level), stable: [signed ticks, level, desired row]
    quotes = work[0:nq]
    # resting orders without a request in flight, best first (ties by client_order_id): [signed ticks, cid, row]
    at = nq
    free = work[at:at + no]
    at += no
    flight = work[at:at + no, 0]
    at += no
    q_used = work[at:at + nq, 0]
    at += nq
    o_used = work[at:at + no, 0]
    at += no
    cand = work[at:at + nq * no]
    n_quotes = 0
    for r in range(nq):
        if desired[r, _Q_IS_BUY] == is_buy:
            quotes[n_quotes, 0] = better_first * desired[r, _Q_TICKS]
            quotes[n_quotes, 1] = desired[r, _Q_LEVEL]
            quotes[n_quotes, 2] = r
            n_quotes += 1
    n_free = 0
    n_flight = 0
    for r in range(no):
        if orders[r, O_IS_BUY] != is_buy:
            continue
        if orders[r, O_IN_FLIGHT] != 0:
            flight[n_flight] = orders[r, O_TICKS]
            n_flight += 1
        elif orders[r, O_LOTS] > 0:
            free[n_free, 0] = better_first * orders[r, O_TICKS]
            free[n_free, 1] = orders[r, O_CID]
            free[n_free, 2] = r
            n_free += 1
    if n_quotes == 0 and n_free == 0:
        return n_cancels, n_amends, n_inserts
    _sort_rows(quotes, n_quotes, 2)
    _sort_rows(free, n_free, 2)

    # fast path, the usual tick: nothing in flight, every order kept for its rank's quote
    if n_flight == 0 and n_quotes == n_free:
        settled = True
        for k in range(n_quotes):
            q = quotes[k, 2]
            o = free[k, 2]
            if _keeps(is_buy, desired[q, _Q_TICKS], desired[q, _Q_LOTS], orders[o, O_TICKS], orders[o, O_LOTS],
                      grid) < 0:
                settled = False
                break
        if settled:
            return n_cancels, n_amends, n_inserts

    # 1. in-flight orders claim their nearest quote; no request for them
    _clear(q_used, n_quotes)
    if n_flight > 0 and n_quotes > 0:
        m = 0
        for qi in range(n_quotes):
            ticks = desired[quotes[qi, 2], _Q_TICKS]
            for fi in range(n_flight):
                cand[m, 0] = abs(ticks - flight[fi])
                cand[m, 1] = qi
                cand[m, 2] = fi
                m += 1
        _clear(o_used, n_flight)
        _greedy(cand, m, q_used, o_used)
        n_quotes = _drop_used(quotes, n_quotes, q_used)
        _clear(q_used, n_quotes)

    # 2. keep orders within tolerance (behind the quote, never ahead) and with an amount in the band, nearest first
    _clear(o_used, n_free)
    m = 0
    for qi in range(n_quotes):
        q = quotes[qi, 2]
        for oi in range(n_free):
            o = free[oi, 2]
            distance = _keeps(is_buy, desired[q, _Q_TICKS], desired[q, _Q_LOTS], orders[o, O_TICKS],
                              orders[o, O_LOTS], grid)
            if distance >= 0:
                cand[m, 0] = distance
                cand[m, 1] = qi
                cand[m, 2] = oi
                m += 1
    if m > 0:
        _greedy(cand, m, q_used, o_used)
        n_quotes = _drop_used(quotes, n_quotes, q_used)
        n_free = _drop_used(free, n_free, o_used)

    # 3. pair the rest best price first: amends; extra orders cancelled, missing quotes inserted
    n = min(n_quotes, n_free)
    sequence = n_amends
    for i in range(n):
        q = quotes[i, 2]
        o = free[i, 2]
        amends[n_amends, 0] = desired[q, _Q_LOTS] - orders[o, O_LOTS]
        amends[n_amends, 1] = desired[q, _Q_LEVEL]
        amends[n_amends, 2] = sequence + i
        amends[n_amends, 3] = q
        amends[n_amends, 4] = o
        n_amends += 1
    for i in range(n, n_free):
        cancels[n_cancels] = free[i, 2]
        n_cancels += 1
    for i in range(n, n_quotes):
        q = quotes[i, 2]
        inserts[n_inserts, 0] = desired[q, _Q_LEVEL]
        inserts[n_inserts, 1] = quotes[i, 0]
        inserts[n_inserts, 2] = q
        n_inserts += 1
    return n_cancels, n_amends, n_inserts


@kernel
def _side_work_rows(nq: int, no: int) -> int:
    """Rows of :func:`_diff_side`'s tables: quotes, free orders, in flight, marks of each, candidate pairs."""
    return nq + no + no + nq + no + nq * no
