"""The compiled replay loop: one chunk of ``EVENT_DTYPE`` columns through the same steps, in the same order, as
:class:`~..reference.ReferenceDriver` with its :class:`SimSession` (``docs/backtest.md``: per ticker advance the
clock, deliver the answers due, feed the book to the simulator, then plan and send; per trade the strategy, then the
simulator, and a requote after one of our fills), sampling on the recorder's grid and settling markouts.

``replay`` returns DONE, or NEED_ROOM with ``si[S_POS]`` the row to resume from and ``si[S_ERROR]`` a mask of the
buffers short of room (:data:`SHORT_*`), or ERR_QUOTE (the quote kernel's refusal in ``si[S_ERROR]``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel

from ..events import QUOTE
from .borrow import borrowed
from .core import analyzer_update, requote
from .engine import UNKNOWN, fill_by_trade, fill_crossed, set_top, start_event
from .inline import inline_kernel
from .kappa import ask_ticks_of, bid_ticks_of, lots_floor_of, sampler_on_print
from .layout import (
    B_DUE,
    DONE,
    ERR_QUOTE,
    F_AN_MULT,
    F_AN_SIGMA,
    F_BOOK_ASK,
    F_BOOK_BID,
    F_KAPPA,
    F_MARK,
    F_MID,
    F_MULT,
    F_REC_CASH,
    F_REC_FEES,
    F_REC_POS,
    F_REF,
    F_SIGMA,
    F_TICKER_ASK,
    F_TICKER_BID,
    F_TICKER_MARK,
    FF_MARKOUT,
    NEED_ROOM,
    OC_BUY,
    OC_RESTING,
    OC_STATUS,
    OF_AMOUNT,
    OF_FILLED,
    OF_PRICE,
    P_KAPPA_FIXED,
    P_RECORD,
    P_REPLAY_FEED,
    P_SAMPLE_STEP,
    PQ_ARRIVAL,
    Q_TICK,
    Q_VTICK,
    S_CLOCK,
    S_ERROR,
    S_EVENTS,
    S_FILLS,
    S_HAS_TICKER,
    S_KO_HEAD,
    S_KO_TAIL,
    S_KP_HEAD,
    S_KP_TAIL,
    S_LOTS_HEAD,
    S_LOTS_TAIL,
    S_MARKOUT_PTR,
    S_NEED_SAMPLES,
    S_NEXT_SAMPLE,
    S_OB_HEAD,
    S_OB_TAIL,
    S_POS,
    S_PQ,
    S_QUOTED,
    S_REQUESTS,
    S_RESUME_ADVANCE,
    S_SAMPLES,
    S_SKIPPED,
    S_SLOTS,
    S_TICKER_TS_LOCAL,
    S_TICKERS,
    S_TRADES,
    ST_OPEN,
    ST_PARTIAL,
)
from .tracker import deliver

#: buffers NEED_ROOM may name (a bit mask)
SHORT_SLOTS, SHORT_PQ, SHORT_OB, SHORT_FILLS, SHORT_KO, SHORT_KP, SHORT_LOTS, SHORT_REQUESTS, SHORT_SAMPLES = (
    1, 2, 4, 8, 16, 32, 64, 128, 256)
_HORIZONS_NS = (1_000_000_000, 10_000_000_000, 60_000_000_000)  # recorder.MARKOUT_HORIZONS_NS
_MQP_MAX_DISTANCE_BPS = 10.0


@inline_kernel
def _short(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], pq: NDArray[np.int64],
           ob: NDArray[np.int64], fi: NDArray[np.int64], ko: NDArray[np.int64], kp: NDArray[np.int64],
           lots: NDArray[np.float64], ri: NDArray[np.int64], smi: NDArray[np.int64], max_quotes: int,
           now: int) -> int:
    """The buffers without room for the worst one event can add (a mask of SHORT_*)."""
    head = si[S_OB_HEAD]
    tail = si[S_OB_TAIL]
    if head > 0:
        for k in range(tail - head):
            for c in range(ob.shape[1]):
                ob[k, c] = ob[head + k, c]
        si[S_OB_HEAD] = 0
        si[S_OB_TAIL] = tail - head
    slots = si[S_SLOTS]
    sends = 2 * (slots + max_quotes) + 2  # two plans at most per event
    answers = si[S_OB_TAIL] + si[S_PQ] + 2 * sends + slots + 4
    mask = 0
    if slots + 2 * max_quotes + 2 > oi.shape[0]:
        mask |= SHORT_SLOTS
    if si[S_PQ] + sends > pq.shape[0]:
        mask |= SHORT_PQ
    if answers > ob.shape[0]:
        mask |= SHORT_OB
    if si[S_FILLS] + answers > fi.shape[0]:
        mask |= SHORT_FILLS
    if si[S_KO_TAIL] - si[S_KO_HEAD] + answers > ko.shape[0]:
        mask |= SHORT_KO
    if si[S_KP_TAIL] - si[S_KP_HEAD] + 2 > kp.shape[0]:
        mask |= SHORT_KP
    if si[S_LOTS_TAIL] - si[S_LOTS_HEAD] + answers > lots.shape[0]:
        mask |= SHORT_LOTS
    if pi[P_RECORD] != 0 and si[S_REQUESTS] + sends > ri.shape[0]:
        mask |= SHORT_REQUESTS
    if now >= si[S_NEXT_SAMPLE]:
        needed = si[S_SAMPLES] + (now - si[S_NEXT_SAMPLE]) // pi[P_SAMPLE_STEP] + 1
        if needed > smi.shape[0]:
            si[S_NEED_SAMPLES] = needed
            mask |= SHORT_SAMPLES
    return mask


@kernel
def _side_quotes(si: NDArray[np.int64], oi: NDArray[np.int64], of: NDArray[np.float64], buy: int,
                 mid: float) -> tuple[float, float, float]:
    """(best price or NaN, total remaining, Market Quality size) of our acknowledged resting orders on one side, in the
    tracker's order (``recorder.mqp_side_size``)."""
    best = np.nan
    total = 0.0
    mqp = 0.0
    for s in range(si[S_SLOTS]):
        status = oi[s, OC_STATUS]
        if oi[s, OC_BUY] != buy or (status != ST_OPEN and status != ST_PARTIAL):
            continue
        price = of[s, OF_PRICE]
        left = of[s, OF_AMOUNT] - of[s, OF_FILLED]
        amount = left if left > 0.0 else 0.0
        if best != best or (price > best if buy else price < best):
            best = price
        total += amount
        distance_bps = abs(price - mid) / mid * 1e4
        share = 1.0 - distance_bps / _MQP_MAX_DISTANCE_BPS
        mqp += amount * (share if share > 0.0 else 0.0)
    return best, total, mqp


@kernel
def _sample(si: NDArray[np.int64], sf: NDArray[np.float64], pi: NDArray[np.int64], oi: NDArray[np.int64],
            of: NDArray[np.float64], smi: NDArray[np.int64], smf: NDArray[np.float64], now: int) -> None:
    """``ReferenceDriver._sample`` / ``BacktestRecorder.sample``: the grid points up to ``now``, with the state
    before the event at ``now``."""
    step = pi[P_SAMPLE_STEP]
    points = (now - si[S_NEXT_SAMPLE]) // step + 1
    mid = sf[F_MID]
    if mid != mid:
        si[S_NEXT_SAMPLE] += points * step
        return
    mark = sf[F_MARK]
    bid, bid_amount, bid_mqp = _side_quotes(si, oi, of, 1, mid)
    ask, ask_amount, ask_mqp = _side_quotes(si, oi, of, 0, mid)
    equity = sf[F_REC_CASH] + sf[F_REC_POS] * mark - sf[F_REC_FEES]
    mqp = bid_mqp if bid_mqp <= ask_mqp else ask_mqp
    for _ in range(points):
        k = si[S_SAMPLES]
        smi[k] = si[S_NEXT_SAMPLE]
        smf[k, 0] = mid
        smf[k, 1] = mark
        smf[k, 2] = sf[F_REC_POS]
        smf[k, 3] = equity
        smf[k, 4] = sf[F_REC_FEES]
        smf[k, 5] = bid
        smf[k, 6] = bid_amount
        smf[k, 7] = ask
        smf[k, 8] = ask_amount
        smf[k, 9] = mqp
        si[S_SAMPLES] = k + 1
        si[S_NEXT_SAMPLE] += step


@inline_kernel
def _due(si: NDArray[np.int64], ob: NDArray[np.int64], now: int) -> bool:
    """An answer reaches us by ``now`` (``deliver`` has something to do)."""
    return bool(si[S_OB_HEAD] < si[S_OB_TAIL] and ob[si[S_OB_HEAD], B_DUE] <= now)


@inline_kernel
def _next_due(si: NDArray[np.int64], pq: NDArray[np.int64], ob: NDArray[np.int64]) -> int:
    """``SimMatchEngine.next_event_ns``: the earliest request arrival or answer due (ns), -1 when none."""
    due = ob[si[S_OB_HEAD], B_DUE] if si[S_OB_HEAD] < si[S_OB_TAIL] else -1
    for k in range(si[S_PQ]):
        if due < 0 or pq[k, PQ_ARRIVAL] < due:
            due = pq[k, PQ_ARRIVAL]
    return int(due)


@inline_kernel
def _observe(si: NDArray[np.int64], fi: NDArray[np.int64], ff: NDArray[np.float64], now: int, mid: float) -> None:
    """``BacktestRecorder.observe``: the markouts that came due get the mid as of ``now``."""
    for h in range(3):
        horizon = _HORIZONS_NS[h]
        k = si[S_MARKOUT_PTR + h]
        while k < si[S_FILLS] and fi[k, 0] + horizon <= now:
            ff[k, FF_MARKOUT + h] = mid
            k += 1
        si[S_MARKOUT_PTR + h] = k


@inline_kernel
def _drop_closed(si: NDArray[np.int64], oi: NDArray[np.int64], of: NDArray[np.float64]) -> None:
    """Free the slots of orders neither the tracker nor the simulator holds (order of the others kept)."""
    n = si[S_SLOTS]
    k = 0
    for s in range(n):
        if oi[s, OC_STATUS] == 0 and oi[s, OC_RESTING] == 0:
            continue
        if k != s:
            oi[k, :] = oi[s, :]
            of[k, :] = of[s, :]
        k += 1
    si[S_SLOTS] = k


@kernel
def _replay_rows(
    start: int, ts: NDArray[np.int64], kind: NDArray[np.int8], taker: NDArray[np.int8], bp: NDArray[np.float64],
    ba: NDArray[np.float64], ap: NDArray[np.float64], aa: NDArray[np.float64], mk: NDArray[np.float64],
    px: NDArray[np.float64], amt: NDArray[np.float64], si: NDArray[np.int64], sf: NDArray[np.float64],
    pi: NDArray[np.int64], pf: NDArray[np.float64], oi: NDArray[np.int64], of: NDArray[np.float64],
    pq: NDArray[np.int64], ob: NDArray[np.int64], kp: NDArray[np.int64], kd: NDArray[np.float64],
    ko: NDArray[np.int64], dist: NDArray[np.float64], partials: NDArray[np.float64], lots: NDArray[np.float64],
    af: NDArray[np.float64], ai: NDArray[np.int64], qfp: NDArray[np.float64], qip: NDArray[np.int64],
    desired: NDArray[np.int64], lim: NDArray[np.float64], ilim: NDArray[np.int64], grid: NDArray[np.int64],
    ctx: NDArray[np.float64], ictx: NDArray[np.int64], ints: NDArray[np.int64], floats: NDArray[np.float64],
    row_slot: NDArray[np.int64], out: NDArray[np.int64], denied: NDArray[np.int64],
    denied_book: NDArray[np.float64], fi: NDArray[np.int64], ff: NDArray[np.float64], ri: NDArray[np.int64],
    rf: NDArray[np.float64], smi: NDArray[np.int64], smf: NDArray[np.float64], scratch: NDArray[np.int64],
    memo_q: NDArray[np.int64], memo_o: NDArray[np.int64],
) -> int:
    """The loop of :func:`replay` (its steps inlined: no ``borrowed`` in this function, which numba's inlining
    pass refuses)."""
    feed = pi[P_REPLAY_FEED]
    tick = pf[Q_TICK]
    kappa_state = (kp, kd, ko, dist, partials)
    plan_state = (lim, ilim, grid, ctx, ictx, ints, floats, row_slot, out, denied, denied_book)
    vtick = pf[Q_VTICK]
    max_quotes = desired.shape[0]
    for r in range(start, ts.shape[0]):
        now = ts[r] + feed
        mask = _short(si, pi, oi, pq, ob, fi, ko, kp, lots, ri, smi, max_quotes, now)
        if mask != 0:
            si[S_POS] = r
            si[S_ERROR] = mask
            return NEED_ROOM
        if now >= si[S_NEXT_SAMPLE]:
            _sample(si, sf, pi, oi, of, smi, smf, now)
        _observe(si, fi, ff, now, sf[F_MID])
        resuming = si[S_RESUME_ADVANCE] != 0
        si[S_RESUME_ADVANCE] = 0
        if not resuming:
            si[S_EVENTS] += 1
        is_quote = kind[r] == QUOTE
        b = bp[r]
        a = ap[r]
        has_b = b > 0.0
        has_a = a > 0.0
        mark = mk[r]
        price = px[r]
        amount = amt[r]
        if is_quote:
            if not mark > 0.0:
                if has_b and has_a:
                    mark = 0.5 * (b + a)
                elif has_b:
                    mark = b
                elif has_a:
                    mark = a
                else:
                    si[S_SKIPPED] += 1
                    continue
            sf[F_MID] = 0.5 * (b + a) if has_b and has_a else mark
            sf[F_MARK] = mark
        elif not (price > 0.0 and amount > 0.0):
            si[S_SKIPPED] += 1
            continue
        # SimSession._advance: the clock steps through every time the exchange acts or answers before the event;
        # an answer is handled when it reaches us, a fill of ours requotes then
        code = 0
        due = _next_due(si, pq, ob)
        while due >= 0 and due <= now:
            mask = _short(si, pi, oi, pq, ob, fi, ko, kp, lots, ri, smi, max_quotes, now)
            if mask != 0:  # room for one more plan first; the event resumes here
                si[S_POS] = r
                si[S_ERROR] = mask
                si[S_RESUME_ADVANCE] = 1
                return NEED_ROOM
            if due > si[S_CLOCK]:
                si[S_CLOCK] = due
            clock = si[S_CLOCK]
            start_event(si, pi, oi, ob, pq, clock)
            if _due(si, ob, clock) and deliver(si, sf, pi, pf, oi, of, ob, lots, kp, kd, ko, dist, partials, fi,
                                               ff, clock):
                code = requote(si, sf, pi, pf, oi, of, pq, kappa_state, qfp, qip, desired, plan_state, ri, rf,
                               memo_q, memo_o, scratch)
                if code != 0:
                    break
            due = _next_due(si, pq, ob)
        if now > si[S_CLOCK]:
            si[S_CLOCK] = now
        clock = si[S_CLOCK]
        if is_quote:  # the simulator sees the book first, then QuotingCore.on_ticker observes and plans
            si[S_TICKERS] += 1
        else:  # the strategy sees the print (kappa), then the simulator
            si[S_TRADES] += 1
            side = taker[r]
            if si[S_QUOTED] != 0 and pi[P_KAPPA_FIXED] == 0 and sampler_on_print(
                    si, pi, pf, kp, kd, ko, dist, partials, now, price, amount, side, sf[F_BOOK_BID], sf[F_BOOK_ASK],
                    tick):
                sf[F_KAPPA] = np.nan  # ask the estimator again at the next quote
        start_event(si, pi, oi, ob, pq, clock)
        if is_quote:
            set_top(si, oi, has_b, bid_ticks_of(b, tick) if has_b else 0,
                    lots_floor_of(ba[r], vtick) if has_b and ba[r] >= 0.0 else UNKNOWN,
                    has_a, ask_ticks_of(a, tick) if has_a else 0,
                    lots_floor_of(aa[r], vtick) if has_a and aa[r] >= 0.0 else UNKNOWN)
            fill_crossed(si, pi, oi, ob, scratch, clock)
        else:
            hit_buy = side < 0  # a sell aggressor hits our bids
            trade_ticks = ask_ticks_of(price, tick) if hit_buy else bid_ticks_of(price, tick)
            fill_by_trade(si, pi, oi, ob, scratch, hit_buy, trade_ticks, lots_floor_of(amount, vtick), clock)
        filled = _due(si, ob, clock) and deliver(si, sf, pi, pf, oi, of, ob, lots, kp, kd, ko, dist, partials, fi,
                                                 ff, clock)
        if is_quote:
            sf[F_SIGMA] = sf[F_AN_SIGMA]
            sf[F_MULT] = sf[F_AN_MULT]
            sf[F_REF] = mark
            sf[F_TICKER_BID] = b if has_b else np.nan
            sf[F_TICKER_ASK] = a if has_a else np.nan
            sf[F_TICKER_MARK] = mark
            si[S_TICKER_TS_LOCAL] = now
            si[S_HAS_TICKER] = 1
        if code == 0 and (is_quote or filled):
            code = requote(si, sf, pi, pf, oi, of, pq, kappa_state, qfp, qip, desired, plan_state, ri, rf, memo_q,
                           memo_o, scratch)
        if is_quote:  # QuotingCore.after_sends: the regime analyzer takes the ticker's price
            analyzer_update(si, sf, pi, af, ai, mark, ts[r])
        _drop_closed(si, oi, of)
        if code != 0:
            si[S_POS] = r + 1
            return ERR_QUOTE
    si[S_POS] = ts.shape[0]
    return DONE


@kernel
def replay(
    start: int, ts: NDArray[np.int64], kind: NDArray[np.int8], taker: NDArray[np.int8], bp: NDArray[np.float64],
    ba: NDArray[np.float64], ap: NDArray[np.float64], aa: NDArray[np.float64], mk: NDArray[np.float64],
    px: NDArray[np.float64], amt: NDArray[np.float64], si: NDArray[np.int64], sf: NDArray[np.float64],
    pi: NDArray[np.int64], pf: NDArray[np.float64], oi: NDArray[np.int64], of: NDArray[np.float64],
    pq: NDArray[np.int64], ob: NDArray[np.int64], kp: NDArray[np.int64], kd: NDArray[np.float64],
    ko: NDArray[np.int64], dist: NDArray[np.float64], partials: NDArray[np.float64], lots: NDArray[np.float64],
    af: NDArray[np.float64], ai: NDArray[np.int64], qfp: NDArray[np.float64], qip: NDArray[np.int64],
    desired: NDArray[np.int64], lim: NDArray[np.float64], ilim: NDArray[np.int64], grid: NDArray[np.int64],
    ctx: NDArray[np.float64], ictx: NDArray[np.int64], ints: NDArray[np.int64], floats: NDArray[np.float64],
    row_slot: NDArray[np.int64], out: NDArray[np.int64], denied: NDArray[np.int64],
    denied_book: NDArray[np.float64], fi: NDArray[np.int64], ff: NDArray[np.float64], ri: NDArray[np.int64],
    rf: NDArray[np.float64], smi: NDArray[np.int64], smf: NDArray[np.float64], scratch: NDArray[np.int64],
    memo_q: NDArray[np.int64], memo_o: NDArray[np.int64],
) -> int:
    """Replay rows ``start:`` of one chunk (``taker``: each trade's aggressor, +1 / -1, resolved by the caller)."""
    # the loop's arrays without reference counting (borrow.py): the caller holds them for the whole call
    si = borrowed(si)
    sf = borrowed(sf)
    pi = borrowed(pi)
    pf = borrowed(pf)
    oi = borrowed(oi)
    of = borrowed(of)
    pq = borrowed(pq)
    ob = borrowed(ob)
    kp = borrowed(kp)
    kd = borrowed(kd)
    ko = borrowed(ko)
    dist = borrowed(dist)
    partials = borrowed(partials)
    lots = borrowed(lots)
    af = borrowed(af)
    ai = borrowed(ai)
    qfp = borrowed(qfp)
    qip = borrowed(qip)
    desired = borrowed(desired)
    lim = borrowed(lim)
    ilim = borrowed(ilim)
    grid = borrowed(grid)
    ctx = borrowed(ctx)
    ictx = borrowed(ictx)
    ints = borrowed(ints)
    floats = borrowed(floats)
    row_slot = borrowed(row_slot)
    out = borrowed(out)
    denied = borrowed(denied)
    denied_book = borrowed(denied_book)
    fi = borrowed(fi)
    ff = borrowed(ff)
    ri = borrowed(ri)
    rf = borrowed(rf)
    smi = borrowed(smi)
    smf = borrowed(smf)
    scratch = borrowed(scratch)
    memo_q = borrowed(memo_q)
    memo_o = borrowed(memo_o)
    ts = borrowed(ts)
    kind = borrowed(kind)
    taker = borrowed(taker)
    bp = borrowed(bp)
    ba = borrowed(ba)
    ap = borrowed(ap)
    aa = borrowed(aa)
    mk = borrowed(mk)
    px = borrowed(px)
    amt = borrowed(amt)
    return _replay_rows(
        start, ts, kind, taker, bp, ba, ap, aa, mk, px, amt, si, sf, pi, pf, oi, of, pq, ob, kp, kd, ko, dist,
        partials, lots, af, ai, qfp, qip, desired, lim, ilim, grid, ctx, ictx, ints, floats, row_slot, out,
        denied, denied_book, fi, ff, ri, rf, smi, smf, scratch, memo_q, memo_o,
    )


__all__ = ["replay"]
