"""Fills of our resting orders in the simulated exchange (:class:`~thalex_modular.platform.domain.sim_match_engine.
SimMatchEngine`'s ``_set_top``, ``_fill_crossed`` and ``on_trade`` matching) as kernels over the fast driver's arrays:
the same :mod:`~thalex_modular.platform.domain.sim.match_kernel` decisions, the answers queued by :mod:`.engine`."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel
from thalex_modular.platform.domain.sim.match_kernel import allocate_cross_into, allocate_trade_into

from .engine import UNKNOWN, _join_queue, _live_status, _update
from .inline import inline_kernel
from .layout import (
    OC_BUY,
    OC_FILLED,
    OC_LOTS,
    OC_PRIO,
    OC_QUEUE,
    OC_RESTING,
    OC_TICKS,
    P_SLIPPAGE,
    R_FILL,
    S_ASK_L,
    S_ASK_T,
    S_BID_L,
    S_BID_T,
    S_CROSS_HAS,
    S_CROSS_TAKEN,
    S_CROSS_TICKS,
    S_HAS_ASK,
    S_HAS_BID,
    S_HAS_TOP,
    S_SLOTS,
)


@inline_kernel
def set_top(si: NDArray[np.int64], oi: NDArray[np.int64], has_bid: bool, bid_ticks: int, bid_lots: int,
            has_ask: bool, ask_ticks: int, ask_lots: int) -> None:
    """``_set_top``: the new book (lots -1 unknown); the queue ahead of a resting order never exceeds what is shown
    at its price (``cap_queue``)."""
    si[S_HAS_TOP] = 1
    si[S_HAS_BID] = 1 if has_bid else 0
    si[S_BID_T] = bid_ticks
    si[S_BID_L] = bid_lots
    si[S_HAS_ASK] = 1 if has_ask else 0
    si[S_ASK_T] = ask_ticks
    si[S_ASK_L] = ask_lots
    for s in range(si[S_SLOTS]):
        if oi[s, OC_RESTING] == 0:
            continue
        buy = oi[s, OC_BUY] != 0
        shown = _join_queue(si, buy, oi[s, OC_TICKS])  # displayed_at: the same rule
        if shown == UNKNOWN:
            continue
        if oi[s, OC_QUEUE] == UNKNOWN or shown < oi[s, OC_QUEUE]:
            oi[s, OC_QUEUE] = shown


@kernel
def _side_rows(si: NDArray[np.int64], oi: NDArray[np.int64], buy: int, slots: NDArray[np.int64],
               price: NDArray[np.int64], remaining: NDArray[np.int64], ahead: NDArray[np.int64],
               priority: NDArray[np.int64]) -> int:
    """The matching kernel's columns of our resting orders on one side."""
    n = 0
    for s in range(si[S_SLOTS]):
        if oi[s, OC_RESTING] != 0 and oi[s, OC_BUY] == buy:
            slots[n] = s
            price[n] = oi[s, OC_TICKS]
            left = oi[s, OC_LOTS] - oi[s, OC_FILLED]
            remaining[n] = left if left > 0 else 0
            ahead[n] = oi[s, OC_QUEUE]
            priority[n] = oi[s, OC_PRIO]
            n += 1
    return n


@kernel
def _maker_fill(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], ob: NDArray[np.int64], s: int,
                lots: int, at: int) -> None:
    oi[s, OC_FILLED] += lots
    if oi[s, OC_LOTS] - oi[s, OC_FILLED] <= 0:
        oi[s, OC_RESTING] = 0
    _update(si, pi, ob, oi, s, _live_status(oi, s), R_FILL, at, lots)


@kernel
def _reaches(si: NDArray[np.int64], oi: NDArray[np.int64], buy: int, ticks: int) -> bool:
    """A resting order of ours on one side with lots left that a level or print at ``ticks`` reaches (``_reached``:
    most events reach none, and skip the matching kernel)."""
    for s in range(si[S_SLOTS]):
        if oi[s, OC_RESTING] == 0 or oi[s, OC_BUY] != buy or oi[s, OC_LOTS] <= oi[s, OC_FILLED]:
            continue
        if (oi[s, OC_TICKS] >= ticks) if buy != 0 else (oi[s, OC_TICKS] <= ticks):
            return True
    return False


@inline_kernel
def fill_crossed(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], ob: NDArray[np.int64],
                 scratch: NDArray[np.int64], at: int) -> None:
    """``_fill_crossed``: resting orders the new opposite best reached fill at their limits, from the part of that
    level not used before, in price-time priority (``allocate_cross_kernel``). ``scratch``: 8 rows of at least
    the slots in use."""
    slots = scratch[0]
    price = scratch[1]
    remaining = scratch[2]
    ahead = scratch[3]
    priority = scratch[4]
    out_index = scratch[5]
    out_lots = scratch[6]
    order = scratch[7]
    for side in range(2):  # our bids, then our asks
        buy = side == 0
        has_opp = si[S_HAS_ASK] if buy else si[S_HAS_BID]
        if has_opp == 0:
            si[S_CROSS_HAS + side] = 0
            continue
        opp_ticks = si[S_ASK_T] if buy else si[S_BID_T]
        opp_lots = si[S_ASK_L] if buy else si[S_BID_L]
        if si[S_CROSS_HAS + side] == 0 or si[S_CROSS_TICKS + side] != opp_ticks:
            si[S_CROSS_TAKEN + side] = 0
        si[S_CROSS_HAS + side] = 1
        si[S_CROSS_TICKS + side] = opp_ticks
        if not _reaches(si, oi, 1 if buy else 0, opp_ticks):
            continue
        taken = si[S_CROSS_TAKEN + side]
        left = UNKNOWN if opp_lots == UNKNOWN else max(0, opp_lots - taken)
        n = _side_rows(si, oi, 1 if buy else 0, slots, price, remaining, ahead, priority)
        count = allocate_cross_into(buy, opp_ticks, left, price, remaining, priority, n, out_index, out_lots,
                                    order)
        for k in range(count):
            lots = out_lots[k]
            si[S_CROSS_TAKEN + side] += lots
            if buy:
                if si[S_ASK_L] != UNKNOWN:
                    si[S_ASK_L] = max(0, si[S_ASK_L] - lots)
            elif si[S_BID_L] != UNKNOWN:
                si[S_BID_L] = max(0, si[S_BID_L] - lots)
        for k in range(count):
            _maker_fill(si, pi, oi, ob, slots[out_index[k]], out_lots[k], at)


@inline_kernel
def fill_by_trade(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], ob: NDArray[np.int64],
                  scratch: NDArray[np.int64], hit_buy: bool, trade_ticks: int, trade_lots: int, at: int) -> None:
    """``SimMatchEngine.on_trade``'s matching: the print is shared among our orders on the side it hit
    (``allocate_trade_kernel``: queue ahead first, price-time priority); queue positions advance."""
    buy = 1 if hit_buy else 0
    if not _reaches(si, oi, buy, trade_ticks):
        return
    slots = scratch[0]
    price = scratch[1]
    remaining = scratch[2]
    ahead = scratch[3]
    priority = scratch[4]
    out_index = scratch[5]
    out_lots = scratch[6]
    n = _side_rows(si, oi, buy, slots, price, remaining, ahead, priority)
    count = allocate_trade_into(hit_buy, trade_ticks, trade_lots, pi[P_SLIPPAGE], price, remaining, ahead,
                                priority, n, out_index, out_lots, scratch[7])
    for k in range(n):
        s = slots[k]
        if oi[s, OC_QUEUE] != UNKNOWN:
            oi[s, OC_QUEUE] = ahead[k]
    for k in range(count):
        _maker_fill(si, pi, oi, ob, slots[out_index[k]], out_lots[k], at)



__all__ = ["fill_by_trade", "fill_crossed", "set_top"]
