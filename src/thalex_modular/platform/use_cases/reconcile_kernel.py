"""Quote by diff + risk as one compiled kernel over integer arrays (the reconciler's decision, no objects).

:class:`~.order_reconciler.OrderReconciler` documents the rules; this module is their only implementation.
Inputs, all held by the caller and reused between calls:

* ``desired`` int64 rows ``[is_buy, price_ticks, amount_lots, level]`` (:mod:`~..domain.quote_array`), ``nq`` rows.
* ``orders`` int64 rows ``[is_buy, price_ticks, remaining_lots, filled_lots, in_flight, client_order_id]`` and
  ``amounts`` float64 rows ``[remaining (>= 0), filled]`` (underlying) of our resting orders on the instrument
  (pending, open, partially filled), ``no`` rows, in the tracker's order (the open book is summed in that order).
* ``lim``/``ilim`` the risk limits and ``ctx``/``ictx`` the risk context (:mod:`~..domain.risk_kernel`; ``ictx``
  carries the request budget), ``grid`` int64 ``[amend_tolerance_ticks, price_divisor, amount_divisor,
  amend_tolerance_bps * 1000, amount_tolerance_permille]``.
* ``work`` int64, :func:`plan_work_rows` rows of ``WORK_COLUMNS``: the plan's own tables (row slices of it), so a
  plan allocates nothing; its content does not outlive the call.

Outputs: ``out`` int64 rows ``[kind, row, price_ticks, lots]`` in send order (cancels, amends, inserts); ``row`` is
an order row for a cancel or amend, a desired row for an insert; ``lots`` is an amend's new *total* (filled +
remaining) or an insert's amount. ``denied`` int64 rows ``[kind, row, code, order_count, price_ticks, lots]`` and
``denied_book`` float64 rows ``[bid_amount, ask_amount]``: each refusal with the open book it was checked
against. Returns ``n_out + n_denied * 2**32 + n_deferred * 2**48`` (see :func:`split_counts`), ``n_deferred`` the
amends and inserts held back because the budget did not allow them.

Keeping an order (no request): its price is at most as aggressive as the desired one and at most the tolerance
behind it (``max(amend_tolerance_ticks, amend_tolerance_bps of the price)``; a bid above the desired price or an
ask below it is always moved, so the inventory skew is never undercut), and its remaining amount is at most the
desired one and at least ``1 - amount_tolerance_permille / 1000`` of it (a partially filled order keeps its queue
place instead of being amended back up).

Budget: when the amends and inserts that passed risk outnumber ``ictx[IC_BUDGET]`` (the tokens the rate limiter
has now; cancels have their own budget), the least useful are deferred: deeper levels first, and within a level an
amend that only moves an order before one that fills a missing quote, before one that shrinks an order; among
amends, the smaller moves first. Dropping after the risk decisions is safe: every request kept was checked against
a book that counted the dropped ones as sent.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel
from thalex_modular.platform.domain.risk_kernel import (
    C_EXTRA_ASKS,
    C_EXTRA_BIDS,
    IC_BUDGET,
    L_LOT,
    L_TICK,
    OK,
    amend_risk_code,
    new_context,
    risk_code,
    risk_limits,
    write_context,
)

from .reconcile_diff import (
    _Q_IS_BUY,
    _Q_LOTS,
    _Q_TICKS,
    G_AMOUNT_DIVISOR,
    G_AMOUNT_TOLERANCE_PERMILLE,
    G_PRICE_DIVISOR,
    G_TOLERANCE,
    G_TOLERANCE_BPS_MILLI,
    GRID_COLUMNS,
    O_FILLED_LOTS,
    O_IS_BUY,
    O_TICKS,
    ORDER_COLUMNS,
    _clear,
    _diff_side,
    _side_work_rows,
    _sort_rows,
)

__all__ = [
    "GRID_COLUMNS",
    "G_AMOUNT_DIVISOR",
    "G_AMOUNT_TOLERANCE_PERMILLE",
    "G_PRICE_DIVISOR",
    "G_TOLERANCE",
    "G_TOLERANCE_BPS_MILLI",
    "KIND_AMEND",
    "KIND_CANCEL",
    "KIND_INSERT",
    "ORDER_COLUMNS",
    "WORK_COLUMNS",
    "plan_requests",
    "plan_work_rows",
    "split_counts",
]

KIND_CANCEL = 0
KIND_AMEND = 1
KIND_INSERT = 2

A_REMAINING, A_FILLED = 0, 1
_DENIED_SHIFT = 32
_DEFERRED_SHIFT = 48


def split_counts(counts: int) -> tuple[int, int, int]:
    """``(n_out, n_denied, n_deferred)`` of a :func:`plan_requests` result."""
    return counts & 0xFFFFFFFF, (counts >> _DENIED_SHIFT) & 0xFFFF, counts >> _DEFERRED_SHIFT


@kernel
def _on_grid(steps: int, step: float, divisor: int) -> float:
    """Ticks -> USD or lots -> underlying as :meth:`Instrument.price`/:meth:`Instrument.amount`: one exact
    division by 1/step when the step allows, else ``steps * step``."""
    if divisor > 0:
        return steps / divisor
    return steps * step


@kernel
def _deny(
    denied: NDArray[np.int64],
    denied_book: NDArray[np.float64],
    n: int,
    kind: int,
    row: int,
    code: int,
    count: int,
    ticks: int,
    lots: int,
    bids: float,
    asks: float,
) -> int:
    """Record refusal ``n`` with the open book it was checked against; returns ``n + 1``."""
    denied[n, 0] = kind
    denied[n, 1] = row
    denied[n, 2] = code
    denied[n, 3] = count
    denied[n, 4] = ticks
    denied[n, 5] = lots
    denied_book[n, 0] = bids
    denied_book[n, 1] = asks
    return n + 1


@kernel
def _emit(
    out: NDArray[np.int64], n_out: int, kind: int, rows: NDArray[np.int64], n: int, keep: NDArray[np.int64]
) -> int:
    """Append ``[kind, row, ticks, lots]`` for each ``[row, ticks, lots, ...]`` of ``rows[:n]`` marked in ``keep``;
    returns the new count."""
    for k in range(n):
        if keep[k] == 0:
            continue
        out[n_out, 0] = kind
        out[n_out, 1] = rows[k, 0]
        out[n_out, 2] = rows[k, 1]
        out[n_out, 3] = rows[k, 2]
        n_out += 1
    return n_out


#: columns of :func:`plan_requests`'s ``work`` table (its tables use the first columns of their rows)
WORK_COLUMNS: Final = 6
#: the types the order path passes to :func:`plan_requests` (its :func:`~thalex_modular.platform.domain.jit.entry`)
PLAN_REQUESTS_SIGNATURE: Final = (
    "int64(int64[:, ::1], int64, int64[:, ::1], float64[:, ::1], int64, float64[::1], int64[::1], int64[::1],"
    " float64[::1], int64[::1], int64[:, ::1], int64[:, ::1], float64[:, ::1], int64[:, ::1])"
)


@kernel
def plan_work_rows(nq: int, no: int) -> int:
    """Rows of the ``work`` table (``WORK_COLUMNS`` wide) :func:`plan_requests` needs for ``nq`` desired and ``no``
    order rows (more is fine; it grows with both, so a table for upper bounds of them serves every plan within)."""
    return 4 * no + 3 * nq + (no + nq) + _side_work_rows(nq, no)


@kernel
def _within_budget(
    amend_rows: NDArray[np.int64],
    n_amends: int,
    insert_rows: NDArray[np.int64],
    n_inserts: int,
    budget: int,
    keep_amend: NDArray[np.int64],
    keep_insert: NDArray[np.int64],
    cand: NDArray[np.int64],
) -> int:
    """Mark (1) the ``budget`` most useful amends and inserts (module docstring); returns how many are deferred.
    ``cand``: at least ``n_amends + n_inserts`` rows of 5 to sort them in."""
    n = n_amends + n_inserts
    if n <= budget:
        for k in range(n_amends):
            keep_amend[k] = 1
        for k in range(n_inserts):
            keep_insert[k] = 1
        return 0
    _clear(keep_amend, n_amends)
    _clear(keep_insert, n_inserts)
    # [level, rank, -moved ticks, kind (0 amend, 1 insert), index]
    for k in range(n_amends):
        cand[k, 0] = amend_rows[k, 3]
        cand[k, 1] = 0 if amend_rows[k, 5] != 0 else 2
        cand[k, 2] = -amend_rows[k, 4]
        cand[k, 3] = 0
        cand[k, 4] = k
    for k in range(n_inserts):
        cand[n_amends + k, 0] = insert_rows[k, 3]
        cand[n_amends + k, 1] = 1
        cand[n_amends + k, 2] = 0
        cand[n_amends + k, 3] = 1
        cand[n_amends + k, 4] = k
    _sort_rows(cand, n, 3)
    keep = budget if budget > 0 else 0
    for k in range(keep):
        if cand[k, 3] == 0:
            keep_amend[cand[k, 4]] = 1
        else:
            keep_insert[cand[k, 4]] = 1
    return n - keep


@kernel
def plan_requests(
    desired: NDArray[np.int64],
    nq: int,
    orders: NDArray[np.int64],
    amounts: NDArray[np.float64],
    no: int,
    lim: NDArray[np.float64],
    ilim: NDArray[np.int64],
    grid: NDArray[np.int64],
    ctx: NDArray[np.float64],
    ictx: NDArray[np.int64],
    out: NDArray[np.int64],
    denied: NDArray[np.int64],
    denied_book: NDArray[np.float64],
    work: NDArray[np.int64],
) -> int:
    """Plan the requests that move ``orders`` toward ``desired`` (see the module docstring for the layouts).
    ``work``: at least :func:`plan_work_rows` rows of ``WORK_COLUMNS``, the plan's tables (row slices: no
    allocation, no reshape)."""
    if work.shape[0] < plan_work_rows(nq, no) or work.shape[1] < WORK_COLUMNS:
        raise ValueError("plan_requests: work is smaller than plan_work_rows(nq, no) x WORK_COLUMNS")
    tick = lim[L_TICK]
    lot = lim[L_LOT]
    price_divisor = grid[G_PRICE_DIVISOR]
    amount_divisor = grid[G_AMOUNT_DIVISOR]
    bids = ctx[C_EXTRA_BIDS]
    asks = ctx[C_EXTRA_ASKS]
    for r in range(no):
        if orders[r, O_IS_BUY] != 0:
            bids += amounts[r, A_REMAINING]
        else:
            asks += amounts[r, A_REMAINING]
    count = no

    # the tables, laid out in ``work``: cancels (at most every order: the unpaired ones and the refused amends)
    cancels = work[0:no, 0]
    at = no
    amends = work[at:at + no]
    at += no
    inserts = work[at:at + nq]
    at += nq
    amend_rows = work[at:at + no]  # [order row, ticks, total lots, level, moved, shrinks]
    at += no
    insert_rows = work[at:at + nq]  # [desired row, ticks, lots, level]
    at += nq
    keep_amend = work[at:at + no, 0]
    at += no
    keep_insert = work[at:at + nq, 0]
    at += nq
    budget_rows = work[at:at + no + nq]
    at += no + nq
    side_work = work[at:]
    n_cancels, n_amends, n_inserts = _diff_side(
        1, desired, nq, orders, no, grid, cancels, 0, amends, 0, inserts, 0, side_work
    )
    n_cancels, n_amends, n_inserts = _diff_side(
        0, desired, nq, orders, no, grid, cancels, n_cancels, amends, n_amends, inserts, n_inserts, side_work
    )
    if n_cancels == 0 and n_amends == 0 and n_inserts == 0:
        return 0
    n_denied = 0

    # amends: exposure-shrinking ones first, so later checks see the smaller (conservative) book
    _sort_rows(amends, n_amends, 3)
    n_amend_rows = 0
    for k in range(n_amends):
        q = amends[k, 3]
        o = amends[k, 4]
        is_buy = orders[o, O_IS_BUY] != 0
        ticks = desired[q, _Q_TICKS]
        total_lots = orders[o, O_FILLED_LOTS] + desired[q, _Q_LOTS]
        price = _on_grid(ticks, tick, price_divisor)
        total = _on_grid(total_lots, lot, amount_divisor)
        filled = amounts[o, A_FILLED]
        remaining = amounts[o, A_REMAINING]
        code = amend_risk_code(
            lim, ilim, ctx, ictx, is_buy, price, total, filled, remaining, bids, asks, count,
        )
        if code != OK:
            n_denied = _deny(denied, denied_book, n_denied, KIND_AMEND, o, code, count, ticks, total_lots, bids, asks)
            cancels[n_cancels] = o  # a refused amend cancels its order: nothing rests at an unwanted price
            n_cancels += 1
            continue
        if amends[k, 0] > 0:
            growth = (total - filled) - remaining
            if growth > 0.0:
                if is_buy:
                    bids += growth
                else:
                    asks += growth
        amend_rows[n_amend_rows, 0] = o
        amend_rows[n_amend_rows, 1] = ticks
        amend_rows[n_amend_rows, 2] = total_lots
        amend_rows[n_amend_rows, 3] = amends[k, 1]
        amend_rows[n_amend_rows, 4] = abs(ticks - orders[o, O_TICKS])
        amend_rows[n_amend_rows, 5] = 1 if amends[k, 0] < 0 else 0
        n_amend_rows += 1

    # inserts by level, best price first within a level (stable: bids before asks on equal keys)
    if n_inserts > 1:
        _sort_rows(inserts, n_inserts, 2)
    n_insert_rows = 0
    for k in range(n_inserts):
        q = inserts[k, 2]
        is_buy = desired[q, _Q_IS_BUY] != 0
        ticks = desired[q, _Q_TICKS]
        lots = desired[q, _Q_LOTS]
        price = _on_grid(ticks, tick, price_divisor)
        amount = _on_grid(lots, lot, amount_divisor)
        code = risk_code(lim, ilim, ctx, ictx, is_buy, price, amount, amount, 0.0, 1, bids, asks, count)
        if code != OK:
            n_denied = _deny(denied, denied_book, n_denied, KIND_INSERT, q, code, count, ticks, lots, bids, asks)
            continue
        if is_buy:
            bids += amount
        else:
            asks += amount
        count += 1
        insert_rows[n_insert_rows, 0] = q
        insert_rows[n_insert_rows, 1] = ticks
        insert_rows[n_insert_rows, 2] = lots
        insert_rows[n_insert_rows, 3] = inserts[k, 0]
        n_insert_rows += 1

    n_deferred = _within_budget(
        amend_rows, n_amend_rows, insert_rows, n_insert_rows, ictx[IC_BUDGET], keep_amend, keep_insert, budget_rows
    )
    for k in range(n_cancels):
        out[k, 0] = KIND_CANCEL
        out[k, 1] = cancels[k]
        out[k, 2] = 0
        out[k, 3] = 0
    n_out = _emit(out, n_cancels, KIND_AMEND, amend_rows, n_amend_rows, keep_amend)
    n_out = _emit(out, n_out, KIND_INSERT, insert_rows, n_insert_rows, keep_insert)
    return n_out + (n_denied << _DENIED_SHIFT) + (n_deferred << _DEFERRED_SHIFT)


def new_grid(amend_tolerance_ticks: int, amend_tolerance_bps: float = 0.0, amount_tolerance: float = 0.0
             ) -> NDArray[np.int64]:
    """The ``grid`` array of :func:`plan_requests` (price and amount divisors are set per instrument).

    Args:
        amend_tolerance_ticks: an order up to this many ticks behind its quote is kept.
        amend_tolerance_bps: ... or up to this many basis points of the quote's price, whichever is more.
        amount_tolerance: share (0..1) by which an order's remaining amount may fall short of the quote's and still
            be kept (0: the amounts must be equal).
    """
    return np.array(
        [amend_tolerance_ticks, 0, 0, round(amend_tolerance_bps * 1000), round(amount_tolerance * 1000)],
        dtype=np.int64,
    )


def warm_up() -> None:
    """Compile (or load from the on-disk cache) :func:`plan_requests` with the argument types the reconciler
    passes, so the first ticker does not pay for it."""
    desired = np.array([[1, 99, 1, 0], [0, 101, 1, 0]], dtype=np.int64)
    orders = np.array([[1, 98, 1, 0, 0, 1]], dtype=np.int64)
    amounts = np.array([[1.0, 0.0]], dtype=np.float64)
    lim, ilim = risk_limits(1.0, 1.0, 1.0, 10.0, 1e9, 100.0, 10.0, 10, None)
    ctx, ictx = new_context()
    write_context(ctx, ictx, 0.0, 100.0, 100.0, math.nan, math.nan, 0.0, 0, 0, False)
    grid = new_grid(0)
    grid[G_PRICE_DIVISOR] = grid[G_AMOUNT_DIVISOR] = 1
    plan_requests(
        desired, 2, orders, amounts, 1, lim, ilim, grid, ctx, ictx, np.zeros((4, 4), dtype=np.int64),
        np.zeros((4, 6), dtype=np.int64), np.zeros((4, 2), dtype=np.float64),
        np.zeros((plan_work_rows(2, 1), WORK_COLUMNS), dtype=np.int64),
    )
