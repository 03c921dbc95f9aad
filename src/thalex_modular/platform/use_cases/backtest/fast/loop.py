"""The compiled replay loop: one chunk of ``EVENT_DTYPE`` columns through the same steps, in the same order, as
:class:`~..reference.ReferenceDriver` with its :class:`SimSession` (``docs/backtest.md``: per ticker advance the
clock, deliver the answers due, feed the book to the simulator, then plan and send; per trade the strategy, then the
simulator, and a requote after one of our fills), sampling on the recorder's grid and settling markouts.

``replay`` returns DONE, or NEED_ROOM with ``si[S_POS]`` the row to resume from and ``si[S_ERROR]`` a mask of the
buffers short of room (:data:`.room.SHORT_*`), or ERR_QUOTE (the quote kernel's refusal in ``si[S_ERROR]``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel

from ..events import QUOTE
from .borrow import borrowed, uncounted_kernel
from .core import analyzer_update, requote
from .engine import UNKNOWN, measure_feed, start_event
from .fills import fill_by_trade, fill_crossed, set_top
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
    F_REF,
    F_SIGMA,
    F_TICKER_ASK,
    F_TICKER_BID,
    F_TICKER_MARK,
    IN_FLIGHT,
    NEED_ROOM,
    OC_RESTING,
    OC_STATUS,
    P_KAPPA_FIXED,
    PQ_ARRIVAL,
    Q_TICK,
    Q_VTICK,
    S_CLOCK,
    S_ERROR,
    S_EVENTS,
    S_HAS_TICKER,
    S_NEXT_SAMPLE,
    S_OB_HEAD,
    S_OB_TAIL,
    S_POS,
    S_PQ,
    S_QUOTED,
    S_RESUME_ADVANCE,
    S_SKIPPED,
    S_SLOTS,
    S_TICKER_TS_LOCAL,
    S_TICKERS,
    S_TRADES,
)
from .recording import observe, sample
from .room import short_of_room
from .tracker import deliver


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
def _drop_closed(si: NDArray[np.int64], oi: NDArray[np.int64], of: NDArray[np.float64]) -> None:
    """Free the slots of orders neither the tracker nor the simulator holds (order of the others kept)."""
    n = si[S_SLOTS]
    k = 0
    for s in range(n):
        if oi[s, OC_STATUS] == 0 and oi[s, OC_RESTING] == 0:
            continue
        if k != s:
            for c in range(oi.shape[1]):
                oi[k, c] = oi[s, c]
            for c in range(of.shape[1]):
                of[k, c] = of[s, c]
        k += 1
    si[S_SLOTS] = k


@uncounted_kernel
def _replay_rows(
    start: int, ts: NDArray[np.int64], seen: NDArray[np.int64], kind: NDArray[np.int8], taker: NDArray[np.int8],
    bp: NDArray[np.float64], ba: NDArray[np.float64], ap: NDArray[np.float64], aa: NDArray[np.float64],
    mk: NDArray[np.float64], px: NDArray[np.float64], amt: NDArray[np.float64], si: NDArray[np.int64],
    sf: NDArray[np.float64], pi: NDArray[np.int64], pf: NDArray[np.float64], oi: NDArray[np.int64],
    of: NDArray[np.float64], pq: NDArray[np.int64], ob: NDArray[np.int64], kp: NDArray[np.int64],
    kd: NDArray[np.float64],
    ko: NDArray[np.int64], dist: NDArray[np.float64], partials: NDArray[np.float64], lots: NDArray[np.float64],
    af: NDArray[np.float64], ai: NDArray[np.int64], qfp: NDArray[np.float64], qip: NDArray[np.int64],
    desired: NDArray[np.int64], lim: NDArray[np.float64], ilim: NDArray[np.int64], grid: NDArray[np.int64],
    ctx: NDArray[np.float64], ictx: NDArray[np.int64], ints: NDArray[np.int64], floats: NDArray[np.float64],
    row_slot: NDArray[np.int64], out: NDArray[np.int64], denied: NDArray[np.int64],
    denied_book: NDArray[np.float64], fi: NDArray[np.int64], ff: NDArray[np.float64], ri: NDArray[np.int64],
    rf: NDArray[np.float64], smi: NDArray[np.int64], smf: NDArray[np.float64], scratch: NDArray[np.int64],
    memo_q: NDArray[np.int64], memo_o: NDArray[np.int64], work: NDArray[np.int64],
) -> int:
    """The loop of :func:`replay` (its steps inlined: no ``borrowed`` in this function, which numba's inlining
    pass refuses). Compiled without reference counting (``uncounted_kernel``): it allocates nothing."""
    tick = pf[Q_TICK]
    kappa_state = (kp, kd, ko, dist, partials)
    plan_state = (lim, ilim, grid, ctx, ictx, ints, floats, row_slot, out, denied, denied_book, work)
    vtick = pf[Q_VTICK]
    max_quotes = desired.shape[0]
    for r in range(start, ts.shape[0]):
        now = seen[r]
        in_flight = kind[r] == IN_FLIGHT  # no event: deliver what is still in flight (SimSession.deliver_in_flight)
        room_now = -1 if in_flight else now  # it takes no samples
        mask = short_of_room(si, pi, oi, pq, ob, fi, ko, kp, lots, ri, smi, max_quotes, room_now)
        if mask != 0:
            si[S_POS] = r
            si[S_ERROR] = mask
            return NEED_ROOM
        resuming = si[S_RESUME_ADVANCE] != 0
        si[S_RESUME_ADVANCE] = 0
        if not in_flight:
            if now >= si[S_NEXT_SAMPLE]:
                sample(si, sf, pi, oi, of, smi, smf, now)
            observe(si, fi, ff, now, sf[F_MID])
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
        elif not in_flight and not (price > 0.0 and amount > 0.0):
            si[S_SKIPPED] += 1
            continue
        # SimSession._advance: the clock steps through every time the exchange acts or answers before the event;
        # an answer is handled when it reaches us, a fill of ours requotes then
        code = 0
        due = _next_due(si, pq, ob)
        while due >= 0 and due <= now:
            mask = short_of_room(si, pi, oi, pq, ob, fi, ko, kp, lots, ri, smi, max_quotes, room_now)
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
        if in_flight:
            _drop_closed(si, oi, of)
            if code != 0:
                si[S_POS] = r + 1
                return ERR_QUOTE
            continue
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
            measure_feed(si, now - ts[r])
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
    start: int, ts: NDArray[np.int64], seen: NDArray[np.int64], kind: NDArray[np.int8], taker: NDArray[np.int8],
    bp: NDArray[np.float64], ba: NDArray[np.float64], ap: NDArray[np.float64], aa: NDArray[np.float64],
    mk: NDArray[np.float64], px: NDArray[np.float64], amt: NDArray[np.float64], si: NDArray[np.int64],
    sf: NDArray[np.float64], pi: NDArray[np.int64], pf: NDArray[np.float64], oi: NDArray[np.int64],
    of: NDArray[np.float64], pq: NDArray[np.int64], ob: NDArray[np.int64], kp: NDArray[np.int64],
    kd: NDArray[np.float64],
    ko: NDArray[np.int64], dist: NDArray[np.float64], partials: NDArray[np.float64], lots: NDArray[np.float64],
    af: NDArray[np.float64], ai: NDArray[np.int64], qfp: NDArray[np.float64], qip: NDArray[np.int64],
    desired: NDArray[np.int64], lim: NDArray[np.float64], ilim: NDArray[np.int64], grid: NDArray[np.int64],
    ctx: NDArray[np.float64], ictx: NDArray[np.int64], ints: NDArray[np.int64], floats: NDArray[np.float64],
    row_slot: NDArray[np.int64], out: NDArray[np.int64], denied: NDArray[np.int64],
    denied_book: NDArray[np.float64], fi: NDArray[np.int64], ff: NDArray[np.float64], ri: NDArray[np.int64],
    rf: NDArray[np.float64], smi: NDArray[np.int64], smf: NDArray[np.float64], scratch: NDArray[np.int64],
    memo_q: NDArray[np.int64], memo_o: NDArray[np.int64], work: NDArray[np.int64],
) -> int:
    """Replay rows ``start:`` of one chunk (``seen``: when each event is seen, ``events.seen_times``; ``taker``: each
    trade's aggressor, +1 / -1, resolved by the caller)."""
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
    work = borrowed(work)
    ts = borrowed(ts)
    seen = borrowed(seen)
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
        start, ts, seen, kind, taker, bp, ba, ap, aa, mk, px, amt, si, sf, pi, pf, oi, of, pq, ob, kp, kd, ko, dist,
        partials, lots, af, ai, qfp, qip, desired, lim, ilim, grid, ctx, ictx, ints, floats, row_slot, out,
        denied, denied_book, fi, ff, ri, rf, smi, smf, scratch, memo_q, memo_o, work,
    )


__all__ = ["replay"]
