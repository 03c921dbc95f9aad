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
from thalex_modular.platform.domain.sim_match_engine import FEED_EWMA_SHIFT, FEED_SAMPLE_MAX_NS

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
    PQ_ARRIVAL,
    PQ_CID,
    PQ_KIND,
    PQ_LOTS,
    PQ_SEQ,
    PQ_TICKS,
    R_AMEND,
    R_CANCEL,
    R_INSERT,
    RQ_AMEND,
    RQ_CANCEL,
    RQ_INSERT,
    S_ASK_L,
    S_ASK_T,
    S_BID_L,
    S_BID_T,
    S_ENG_NOW,
    S_FEED_MEASURED,
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
def feed_leg(si: NDArray[np.int64], pi: NDArray[np.int64]) -> int:
    """:attr:`SimMatchEngine.feed_latency_ns`: the configured feed delay, or the measured one when larger."""
    measured = si[S_FEED_MEASURED]
    return int(pi[P_FEED] if measured < pi[P_FEED] else measured)  # -1 (no sample yet) is below any configured


@kernel
def measure_feed(si: NDArray[np.int64], delay_ns: int) -> None:
    """:meth:`SimMatchEngine._measure_feed`: a public trade's receive minus exchange time moves the estimate 1/16
    of the way (the first sample sets it); samples outside [0, 1 s] are clock errors."""
    if 0 <= delay_ns <= FEED_SAMPLE_MAX_NS:
        measured = si[S_FEED_MEASURED]
        si[S_FEED_MEASURED] = delay_ns if measured < 0 else measured + ((delay_ns - measured) >> FEED_EWMA_SHIFT)


@kernel
def submit(si: NDArray[np.int64], pi: NDArray[np.int64], pq: NDArray[np.int64], kind: int, cid: int, ticks: int,
           lots: int, now_ns: int) -> None:
    """:meth:`SimMatchEngine.submit`: the request reaches the exchange after its leg, met one feed delay later."""
    latency = pi[P_CANCEL_LAT] if kind == RQ_CANCEL else pi[P_ENTRY_LAT]
    si[S_SEQ] += 1
    k = si[S_PQ]
    pq[k, PQ_ARRIVAL] = now_ns + latency + feed_leg(si, pi)
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
    late = pi[P_RESPONSE_LAT] - feed_leg(si, pi)
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


@inline_kernel
def _earliest_arrival(si: NDArray[np.int64], pq: NDArray[np.int64], until: int) -> int:
    """The row of the earliest (arrival, seq) request that arrived by ``until``, or -1."""
    best = -1
    for k in range(si[S_PQ]):
        if pq[k, PQ_ARRIVAL] <= until and (best < 0 or pq[k, PQ_ARRIVAL] < pq[best, PQ_ARRIVAL] or (
                pq[k, PQ_ARRIVAL] == pq[best, PQ_ARRIVAL] and pq[k, PQ_SEQ] < pq[best, PQ_SEQ])):
            best = k
    return best


@kernel
def process_arrivals(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], ob: NDArray[np.int64],
                     pq: NDArray[np.int64], until: int) -> None:
    """``SimMatchEngine._process_arrivals``: handle every request that reached the exchange by ``until``."""
    while True:
        best = _earliest_arrival(si, pq, until)
        if best < 0:
            return
        arrival = pq[best, PQ_ARRIVAL]
        kind = pq[best, PQ_KIND]
        cid = pq[best, PQ_CID]
        ticks = pq[best, PQ_TICKS]
        lots = pq[best, PQ_LOTS]
        last = si[S_PQ] - 1  # the request leaves the table: the last row takes its place
        for c in range(pq.shape[1]):
            pq[best, c] = pq[last, c]
        si[S_PQ] = last
        at = arrival if arrival > si[S_ENG_NOW] else si[S_ENG_NOW]
        si[S_ENG_NOW] = at
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
    if si[S_PQ] > 0 and _earliest_arrival(si, pq, now_ns) >= 0:
        process_arrivals(si, pi, oi, ob, pq, now_ns)
    si[S_ENG_NOW] = now_ns


__all__ = ["R_AMEND", "R_CANCEL", "UNKNOWN", "find_slot", "process_arrivals", "start_event", "submit"]
