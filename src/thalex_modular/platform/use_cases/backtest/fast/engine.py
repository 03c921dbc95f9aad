"""The simulated exchange of :class:`~thalex_modular.platform.domain.sim_match_engine.SimMatchEngine` as kernels over
the fast driver's arrays: requests in flight with their latency legs, post-only placement, queue positions, fills by a
crossing book or a public trade (the same :mod:`~thalex_modular.platform.domain.sim.match_kernel` decisions), and
answers delivered a response leg later. Every rule is the engine's (docs/simulator.md); only the representation
differs (rows instead of objects). The driver's orders are post-only limit GTC: no taker fills, no market orders.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel
from thalex_modular.platform.domain.sim.match_kernel import allocate_cross_kernel, allocate_trade_kernel

from .inline import inline_kernel
from .layout import (
    B_AT,
    B_CID,
    B_DUE,
    B_FILL_LOTS,
    B_FILL_TICKS,
    B_FILLED,
    B_LOTS,
    B_REASON,
    B_REJECT,
    B_STATUS,
    B_TICKS,
    OC_BUY,
    OC_CID,
    OC_FILLED,
    OC_LOTS,
    OC_PRIO,
    OC_QUEUE,
    OC_RESTING,
    OC_TICKS,
    P_CANCEL_LAT,
    P_ENTRY_LAT,
    P_FEED,
    P_MIN_LOTS,
    P_RESPONSE_LAT,
    P_SLIPPAGE,
    PQ_ARRIVAL,
    PQ_CID,
    PQ_COLS,
    PQ_KIND,
    PQ_LOTS,
    PQ_SEQ,
    PQ_TICKS,
    R_AMEND,
    R_CANCEL,
    R_FILL,
    R_INSERT,
    RQ_AMEND,
    RQ_CANCEL,
    RQ_INSERT,
    S_ASK_L,
    S_ASK_T,
    S_BID_L,
    S_BID_T,
    S_CROSS_HAS,
    S_CROSS_TAKEN,
    S_CROSS_TICKS,
    S_ENG_NOW,
    S_HAS_ASK,
    S_HAS_BID,
    S_HAS_TOP,
    S_OB_TAIL,
    S_PQ,
    S_PRIORITY,
    S_SEQ,
    S_SLOTS,
    ST_CANCELLED,
    ST_CANCELLED_PARTIAL,
    ST_FILLED,
    ST_OPEN,
    ST_PARTIAL,
)

UNKNOWN = -1  # match_kernel.UNKNOWN_LOTS


@kernel
def find_slot(si: NDArray[np.int64], oi: NDArray[np.int64], cid: int) -> int:
    """The slot of ``cid``, or -1."""
    for s in range(si[S_SLOTS]):
        if oi[s, OC_CID] == cid:
            return s
    return -1


@kernel
def submit(si: NDArray[np.int64], pi: NDArray[np.int64], pq: NDArray[np.int64], kind: int, cid: int, ticks: int,
           lots: int, now_ns: int) -> None:
    """:meth:`SimMatchEngine.submit`: the request reaches the exchange after its leg, met one feed delay later."""
    latency = pi[P_CANCEL_LAT] if kind == RQ_CANCEL else pi[P_ENTRY_LAT]
    si[S_SEQ] += 1
    k = si[S_PQ]
    pq[k, PQ_ARRIVAL] = now_ns + latency + pi[P_FEED]
    pq[k, PQ_SEQ] = si[S_SEQ]
    pq[k, PQ_KIND] = kind
    pq[k, PQ_CID] = cid
    pq[k, PQ_TICKS] = ticks
    pq[k, PQ_LOTS] = lots
    si[S_PQ] = k + 1


@kernel
def _answer(si: NDArray[np.int64], pi: NDArray[np.int64], ob: NDArray[np.int64], at: int, reject: int, cid: int,
            status: int, reason: int, ticks: int, lots: int, filled: int, fill_lots: int, fill_ticks: int) -> None:
    """Queue an answer made at engine time ``at``: it reaches us a response leg after the exchange made it, never
    before the engine knew it."""
    si[S_SEQ] += 1
    late = pi[P_RESPONSE_LAT] - pi[P_FEED]
    k = si[S_OB_TAIL]
    ob[k, B_DUE] = at + (late if late > 0 else 0)
    ob[k, B_AT] = at
    ob[k, B_REJECT] = reject
    ob[k, B_CID] = cid
    ob[k, B_STATUS] = status
    ob[k, B_REASON] = reason
    ob[k, B_TICKS] = ticks
    ob[k, B_LOTS] = lots
    ob[k, B_FILLED] = filled
    ob[k, B_FILL_LOTS] = fill_lots
    ob[k, B_FILL_TICKS] = fill_ticks
    si[S_OB_TAIL] = k + 1


@kernel
def _update(si: NDArray[np.int64], pi: NDArray[np.int64], ob: NDArray[np.int64], oi: NDArray[np.int64], s: int,
            status: int, reason: int, at: int, fill_lots: int) -> None:
    """The order's state as an update (with one maker fill of ``fill_lots`` at its price when > 0)."""
    _answer(si, pi, ob, at, 0, oi[s, OC_CID], status, reason, oi[s, OC_TICKS], oi[s, OC_LOTS], oi[s, OC_FILLED],
            fill_lots, oi[s, OC_TICKS])


@kernel
def _live_status(oi: NDArray[np.int64], s: int) -> int:
    if oi[s, OC_LOTS] - oi[s, OC_FILLED] <= 0:
        return ST_FILLED
    return ST_PARTIAL if oi[s, OC_FILLED] > 0 else ST_OPEN


@kernel
def _closed_status(oi: NDArray[np.int64], s: int) -> int:
    return ST_CANCELLED_PARTIAL if oi[s, OC_FILLED] > 0 else ST_CANCELLED


@kernel
def _join_queue(si: NDArray[np.int64], buy: bool, ticks: int) -> int:
    """``queue.join_queue``: lots ahead of an order joining ``ticks`` now; -1 unknown."""
    if si[S_HAS_TOP] == 0:
        return UNKNOWN
    has = si[S_HAS_BID] if buy else si[S_HAS_ASK]
    if has == 0:
        return 0
    best = si[S_BID_T] if buy else si[S_ASK_T]
    if (ticks > best) if buy else (ticks < best):
        return 0
    if ticks == best:
        return int(si[S_BID_L] if buy else si[S_ASK_L])
    return UNKNOWN


@kernel
def _place(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], ob: NDArray[np.int64], s: int,
           reason: int, at: int) -> None:
    """``SimMatchEngine._place`` of a post-only limit GTC order: moved one tick off a crossing opposite best (or
    cancelled when that leaves no valid price), then rests with its queue."""
    buy = oi[s, OC_BUY] != 0
    if si[S_HAS_TOP] != 0 and (si[S_HAS_ASK] if buy else si[S_HAS_BID]) != 0:
        opp = si[S_ASK_T] if buy else si[S_BID_T]
        if (oi[s, OC_TICKS] >= opp) if buy else (oi[s, OC_TICKS] <= opp):
            adjusted = opp - 1 if buy else opp + 1
            if adjusted <= 0:
                oi[s, OC_RESTING] = 0
                _update(si, pi, ob, oi, s, _closed_status(oi, s), reason, at, 0)
                return
            oi[s, OC_TICKS] = adjusted
    si[S_PRIORITY] += 1
    oi[s, OC_PRIO] = si[S_PRIORITY]
    oi[s, OC_QUEUE] = _join_queue(si, buy, oi[s, OC_TICKS])
    oi[s, OC_RESTING] = 1
    _update(si, pi, ob, oi, s, _live_status(oi, s), reason, at, 0)


@kernel
def _reject(si: NDArray[np.int64], pi: NDArray[np.int64], ob: NDArray[np.int64], cid: int, at: int) -> None:
    _answer(si, pi, ob, at, 1, cid, 0, 0, 0, 0, 0, 0, 0)


@kernel
def _resting_slot(si: NDArray[np.int64], oi: NDArray[np.int64], cid: int) -> int:
    s = find_slot(si, oi, cid)
    return s if s >= 0 and oi[s, OC_RESTING] != 0 else -1


@kernel
def _pop_arrival(si: NDArray[np.int64], pq: NDArray[np.int64], until: int, row: NDArray[np.int64]) -> bool:
    """Take the earliest (arrival, seq) request that arrived by ``until`` into ``row``."""
    n = si[S_PQ]
    best = -1
    for k in range(n):
        if pq[k, PQ_ARRIVAL] <= until and (best < 0 or pq[k, PQ_ARRIVAL] < pq[best, PQ_ARRIVAL] or (
                pq[k, PQ_ARRIVAL] == pq[best, PQ_ARRIVAL] and pq[k, PQ_SEQ] < pq[best, PQ_SEQ])):
            best = k
    if best < 0:
        return False
    for c in range(pq.shape[1]):
        row[c] = pq[best, c]
        pq[best, c] = pq[n - 1, c]
    si[S_PQ] = n - 1
    return True


@kernel
def process_arrivals(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], ob: NDArray[np.int64],
                     pq: NDArray[np.int64], until: int) -> None:
    """``SimMatchEngine._process_arrivals``: handle every request that reached the exchange by ``until``."""
    if si[S_PQ] == 0:
        return
    row = np.empty(PQ_COLS, dtype=np.int64)
    while _pop_arrival(si, pq, until, row):
        at = row[PQ_ARRIVAL] if row[PQ_ARRIVAL] > si[S_ENG_NOW] else si[S_ENG_NOW]
        si[S_ENG_NOW] = at
        kind = row[PQ_KIND]
        cid = row[PQ_CID]
        ticks = row[PQ_TICKS]
        lots = row[PQ_LOTS]
        if kind == RQ_INSERT:
            s = find_slot(si, oi, cid)
            if s < 0 or ticks <= 0 or lots < pi[P_MIN_LOTS] or lots <= 0:
                _reject(si, pi, ob, cid, at)
                continue
            oi[s, OC_TICKS] = ticks
            oi[s, OC_LOTS] = lots
            oi[s, OC_FILLED] = 0
            _place(si, pi, oi, ob, s, R_INSERT, at)
        elif kind == RQ_AMEND:
            s = _resting_slot(si, oi, cid)
            if s < 0 or ticks <= 0 or lots < pi[P_MIN_LOTS] or lots <= 0:
                _reject(si, pi, ob, cid, at)
                continue
            if lots <= oi[s, OC_FILLED]:  # Thalex: amended to at most the filled amount cancels the order
                oi[s, OC_LOTS] = oi[s, OC_FILLED]
                oi[s, OC_RESTING] = 0
                _update(si, pi, ob, oi, s, _closed_status(oi, s), R_AMEND, at, 0)
                continue
            keeps_priority = ticks == oi[s, OC_TICKS] and lots <= oi[s, OC_LOTS]
            oi[s, OC_LOTS] = lots
            if keeps_priority:
                _update(si, pi, ob, oi, s, _live_status(oi, s), R_AMEND, at, 0)
                continue
            oi[s, OC_RESTING] = 0
            oi[s, OC_TICKS] = ticks
            _place(si, pi, oi, ob, s, R_AMEND, at)
        else:
            s = _resting_slot(si, oi, cid)
            if s < 0:
                _reject(si, pi, ob, cid, at)
                continue
            oi[s, OC_RESTING] = 0
            _update(si, pi, ob, oi, s, _closed_status(oi, s), R_CANCEL, at, 0)


@inline_kernel
def start_event(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], ob: NDArray[np.int64],
                pq: NDArray[np.int64], now_ns: int) -> None:
    """Bring the exchange to ``now_ns`` (``_start_event`` / ``advance``)."""
    if si[S_PQ] > 0:
        process_arrivals(si, pi, oi, ob, pq, now_ns)
    si[S_ENG_NOW] = now_ns


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
    level not used before, in price-time priority (``allocate_cross_kernel``). ``scratch``: 7 rows of at least
    the slots in use."""
    slots = scratch[0]
    price = scratch[1]
    remaining = scratch[2]
    ahead = scratch[3]
    priority = scratch[4]
    out_index = scratch[5]
    out_lots = scratch[6]
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
        count = allocate_cross_kernel(buy, opp_ticks, left, price, remaining, priority, n, out_index, out_lots)
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
    count = allocate_trade_kernel(hit_buy, trade_ticks, trade_lots, pi[P_SLIPPAGE], price, remaining, ahead,
                                  priority, n, out_index, out_lots)
    for k in range(n):
        s = slots[k]
        if oi[s, OC_QUEUE] != UNKNOWN:
            oi[s, OC_QUEUE] = ahead[k]
    for k in range(count):
        _maker_fill(si, pi, oi, ob, slots[out_index[k]], out_lots[k], at)


__all__ = ["R_AMEND", "R_CANCEL", "UNKNOWN", "fill_by_trade", "fill_crossed", "find_slot", "process_arrivals",
           "set_top", "start_event", "submit"]
