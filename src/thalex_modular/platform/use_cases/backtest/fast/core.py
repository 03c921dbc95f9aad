"""The quoting core's decisions as kernels: :meth:`QuotingCore.requote` (the strategy's quote kernel with the online
kappa, then the reconcile + risk kernel :func:`plan_requests` over our orders' rows), the session sending the plan
(the tracker registers each request, the simulator receives it, the request log and the offered amount), and the
regime analyzer's update after the sends (:func:`regime_step`). The kernels are the ones live calls.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel
from thalex_modular.platform.domain.market.vol_kernel import I_FIRST_TS_NS, regime_step
from thalex_modular.platform.domain.risk_kernel import (
    C_COLLAR_HIGH,
    C_COLLAR_LOW,
    C_EXTRA_ASKS,
    C_EXTRA_BIDS,
    C_MARK,
    C_OTHER_NOTIONAL,
    C_POSITION,
    C_REFERENCE,
    IC_BUDGET,
    IC_MARK_TS,
    IC_MARK_TS_KNOWN,
    IC_NOW,
    UNLIMITED_BUDGET,
)
from thalex_modular.platform.use_cases.reconcile_diff import _keeps
from thalex_modular.platform.use_cases.reconcile_kernel import KIND_AMEND, KIND_CANCEL, plan_requests
from thalex_modular.strategies.as_kernel import quote_kernel
from thalex_modular.strategies.glft_kernel import glft_quote_kernel

from .engine import submit
from .inline import inline_kernel
from .kappa import estimator_kappa, flush_due, sampler_flush
from .layout import (
    ERR_QUOTE,
    F_AN_LAST_PRICE,
    F_AN_MULT,
    F_AN_SIGMA,
    F_BOOK_ASK,
    F_BOOK_BID,
    F_KAPPA,
    F_MULT,
    F_OFFERED,
    F_REF,
    F_SIGMA,
    F_TICKER_ASK,
    F_TICKER_BID,
    F_TICKER_MARK,
    FL_AMEND,
    FL_CANCEL,
    FL_INSERT,
    OC_BUY,
    OC_CID,
    OC_FLIGHT,
    OC_HAS_AMEND,
    OC_RESTING,
    OC_STATUS,
    OF_AMEND,
    OF_AMOUNT,
    OF_COLS,
    OF_FILLED,
    OF_FILLS,
    OF_OFFERED,
    OF_PRICE,
    OI_COLS,
    P_AMOUNT_DIV,
    P_AN_INTERVAL,
    P_BAND_FROM_MARK,
    P_KAPPA_FIXED,
    P_MODEL,
    P_PRICE_DIV,
    P_RECORD,
    Q_FIXED_KAPPA,
    Q_TICK,
    Q_VTICK,
    RQ_AMEND,
    RQ_CANCEL,
    RQ_INSERT,
    S_AN_HAS_LAST,
    S_AN_LAST_TS,
    S_BOOK_NS,
    S_CLOCK,
    S_DENIALS,
    S_ERROR,
    S_HAS_TICKER,
    S_KP_HEAD,
    S_KP_TAIL,
    S_MEMO_NO,
    S_MEMO_NQ,
    S_MEMO_VALID,
    S_NEXT_CID,
    S_QUOTED,
    S_REQ_COUNTS,
    S_REQUESTS,
    S_SLOTS,
    S_TICKER_TS_LOCAL,
    ST_NONE,
    ST_PENDING,
)
from .quote_memo import memo_quote, remember_quote
from .tracker import position_of

KappaState = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64],
                   NDArray[np.float64]]
"""(kp, kd, ko, dist, partials): the kappa sampler's and estimator's arrays."""
PlanState = tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64],
                  NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
                  NDArray[np.float64], NDArray[np.int64]]
"""(lim, ilim, grid, ctx, ictx, ints, floats, row_slot, out, denied, denied_book, work): the plan's inputs, outputs
and tables."""


@kernel
def log_return(previous: float, price: float) -> float:
    """``rolling_volatility.log_return``."""
    ratio = (price - previous) / previous
    if -1.0 < ratio < math.inf:
        return math.log1p(ratio)
    return math.log(price) - math.log(previous)


@inline_kernel
def analyzer_update(si: NDArray[np.int64], sf: NDArray[np.float64], pi: NDArray[np.int64],
                    af: NDArray[np.float64], ai: NDArray[np.int64], price: float, ts_ns: int) -> None:
    """``MultiWindowRegimeAnalyzer.update`` (a sample at least the sample interval after the last one)."""
    if si[S_AN_HAS_LAST] == 0:
        si[S_AN_HAS_LAST] = 1
        ai[I_FIRST_TS_NS] = ts_ns
        sigma, mult = regime_step(0.0, 0, ts_ns, af, ai)
    else:
        dt_ns = ts_ns - si[S_AN_LAST_TS]
        if dt_ns < pi[P_AN_INTERVAL]:
            return
        sigma, mult = regime_step(log_return(sf[F_AN_LAST_PRICE], price), dt_ns, ts_ns, af, ai)
    sf[F_AN_SIGMA] = sigma
    sf[F_AN_MULT] = mult
    sf[F_AN_LAST_PRICE] = price
    si[S_AN_LAST_TS] = ts_ns


@kernel
def _log(si: NDArray[np.int64], pi: NDArray[np.int64], ri: NDArray[np.int64], rf: NDArray[np.float64], kind: int,
         side: int, cid: int, price: float, amount: float) -> None:
    si[S_REQ_COUNTS + kind] += 1
    if pi[P_RECORD] == 0:
        return
    k = si[S_REQUESTS]
    ri[k, 0] = si[S_CLOCK]
    ri[k, 1] = kind
    ri[k, 2] = side
    ri[k, 3] = cid
    rf[k, 0] = price
    rf[k, 1] = amount
    si[S_REQUESTS] = k + 1


@kernel
def _offer(sf: NDArray[np.float64], of: NDArray[np.float64], s: int, amount: float) -> None:
    before = of[s, OF_OFFERED]
    if amount > before:
        sf[F_OFFERED] += amount - before
        of[s, OF_OFFERED] = amount


@kernel
def _rows(si: NDArray[np.int64], pf: NDArray[np.float64], oi: NDArray[np.int64], of: NDArray[np.float64],
          ints: NDArray[np.int64], floats: NDArray[np.float64], row_slot: NDArray[np.int64]) -> int:
    """``OrderRows``: our pending, open and partially filled orders in the tracker's order."""
    ticks_per_usd = 1.0 / pf[Q_TICK]
    lots_per_unit = 1.0 / pf[Q_VTICK]
    n = 0
    for s in range(si[S_SLOTS]):
        if oi[s, OC_STATUS] == ST_NONE:
            continue
        filled = of[s, OF_FILLED]
        remaining = of[s, OF_AMOUNT] - filled
        if remaining < 0.0:
            remaining = 0.0
        ints[n, 0] = oi[s, OC_BUY]
        ints[n, 1] = round(of[s, OF_PRICE] * ticks_per_usd)
        ints[n, 2] = round(remaining * lots_per_unit)
        ints[n, 3] = round(filled * lots_per_unit)
        ints[n, 4] = 0 if oi[s, OC_FLIGHT] == 0 else 1
        ints[n, 5] = oi[s, OC_CID]
        if oi[s, OC_HAS_AMEND] != 0:  # Order.exposure_amount
            exposure = of[s, OF_AMOUNT] - filled
            if of[s, OF_AMEND] > of[s, OF_AMOUNT]:
                exposure = of[s, OF_AMEND] - filled
            remaining = exposure if exposure > 0.0 else 0.0
        floats[n, 0] = remaining
        floats[n, 1] = filled
        row_slot[n] = s
        n += 1
    return n


@kernel
def _same_rows(rows: NDArray[np.int64], n: int, memo: NDArray[np.int64], memo_n: int) -> bool:
    if n != memo_n:
        return False
    for r in range(n):
        for c in range(rows.shape[1]):
            if rows[r, c] != memo[r, c]:
                return False
    return True


@kernel
def _insert_sorted(keys: NDArray[np.int64], n: int, key0: int, key1: int, row: int) -> None:
    """Insert (key0, key1, row) into ``keys[:n]`` (3 rows: key0, key1, row) after the equal keys (stable)."""
    j = n
    while j > 0 and (keys[0, j - 1] > key0 or (keys[0, j - 1] == key0 and keys[1, j - 1] > key1)):
        keys[0, j] = keys[0, j - 1]
        keys[1, j] = keys[1, j - 1]
        keys[2, j] = keys[2, j - 1]
        j -= 1
    keys[0, j] = key0
    keys[1, j] = key1
    keys[2, j] = row


@kernel
def _settled(desired: NDArray[np.int64], nq: int, ints: NDArray[np.int64], no: int, grid: NDArray[np.int64],
             quotes: NDArray[np.int64], free: NDArray[np.int64]) -> bool:
    """Both sides settled (:func:`_side_settled`), bids first: one call instead of two."""
    return _side_settled(1, desired, nq, ints, no, grid, quotes, free) and \
        _side_settled(0, desired, nq, ints, no, grid, quotes, free)


@kernel
def _side_settled(is_buy: int, desired: NDArray[np.int64], nq: int, ints: NDArray[np.int64], no: int,
                  grid: NDArray[np.int64], quotes: NDArray[np.int64], free: NDArray[np.int64]) -> bool:
    """``_diff_side``'s fast path, without its allocations: no order of the side has a request in flight and each
    rests where ``_keeps`` keeps it for the quote of its rank (both best price first, ties by level and by
    client_order_id). True means that side adds no request."""
    better_first = -1 if is_buy else 1
    n_quotes = 0
    for r in range(nq):
        if desired[r, 0] == is_buy:
            _insert_sorted(quotes, n_quotes, better_first * desired[r, 1], desired[r, 3], r)
            n_quotes += 1
    n_free = 0
    for r in range(no):
        if ints[r, 0] != is_buy:
            continue
        if ints[r, 4] != 0:
            return False  # a request in flight: the full diff
        if ints[r, 2] > 0:
            _insert_sorted(free, n_free, better_first * ints[r, 1], ints[r, 5], r)
            n_free += 1
    if n_quotes != n_free:
        return False
    for k in range(n_quotes):
        q = quotes[2, k]
        o = free[2, k]
        if _keeps(is_buy, desired[q, 1], desired[q, 2], ints[o, 1], ints[o, 2], grid) < 0:
            return False
    return True


@inline_kernel
def requote(si: NDArray[np.int64], sf: NDArray[np.float64], pi: NDArray[np.int64], pf: NDArray[np.float64],
            oi: NDArray[np.int64], of: NDArray[np.float64], pq: NDArray[np.int64], kappa_state: KappaState,
            qfp: NDArray[np.float64], qip: NDArray[np.int64], desired: NDArray[np.int64], plan_state: PlanState,
            ri: NDArray[np.int64], rf: NDArray[np.float64], memo_q: NDArray[np.int64], memo_o: NDArray[np.int64],
            scratch: NDArray[np.int64]) -> int:
    """``QuotingCore.requote`` against the latest ticker, then ``SimSession._execute``; returns 0 or ERR_QUOTE.

    Whether a plan sends anything is decided by the desired rows and the order rows alone (``_diff_side``; risk
    is checked only for what would be sent): a plan on the same rows as the last one that sent nothing sends
    nothing either, and is not run again (``memo_q`` / ``memo_o``). The arrays of the kappa and of the plan come as
    two tuples: a call of more than 30 arguments is compiled as a ``*args`` call, which numba does not inline."""
    kp, kd, ko, dist, partials = kappa_state
    lim, ilim, grid, ctx, ictx, ints, floats, row_slot, out, denied, denied_book, work = plan_state
    if si[S_HAS_TICKER] == 0:
        return 0
    now = si[S_CLOCK]
    position = position_of(sf)
    # AvellanedaStoikovStrategy.quote_into
    if pi[P_KAPPA_FIXED] != 0:
        kappa = pf[Q_FIXED_KAPPA]
    else:
        if si[S_KP_TAIL] > si[S_KP_HEAD] and flush_due(si, pi, kp, ko, now) and \
                sampler_flush(si, pi, kp, kd, ko, dist, partials, now):
            sf[F_KAPPA] = np.nan
        kappa = sf[F_KAPPA]
        if kappa != kappa:
            kappa = estimator_kappa(si, pi, pf, partials)
            sf[F_KAPPA] = kappa
    bid = sf[F_TICKER_BID]
    ask = sf[F_TICKER_ASK]
    reference = sf[F_REF]
    sigma = sf[F_SIGMA]
    multiplier = sf[F_MULT]
    nq = memo_quote(si, sf, qip, bid, ask, reference, position, sigma, multiplier, kappa)
    if nq < 0:
        if pi[P_MODEL] == 0:
            nq = quote_kernel(desired, qfp, qip, bid, ask, reference, position, sigma, multiplier, now, kappa)
        else:
            nq = glft_quote_kernel(desired, qfp, qip, bid, ask, reference, position, sigma, multiplier, now, kappa)
        remember_quote(si, sf, nq, bid, ask, reference, position, sigma, multiplier, kappa)
    if nq < 0:
        si[S_ERROR] = nq
        return ERR_QUOTE
    si[S_QUOTED] = 1
    sf[F_BOOK_BID] = bid
    sf[F_BOOK_ASK] = ask
    si[S_BOOK_NS] = now
    # OrderReconciler.plan_at
    no = _rows(si, pf, oi, of, ints, floats, row_slot)
    if si[S_MEMO_VALID] != 0 and _same_rows(desired, nq, memo_q, si[S_MEMO_NQ]) and \
            _same_rows(ints, no, memo_o, si[S_MEMO_NO]):
        return 0
    if _settled(desired, nq, ints, no, grid, scratch[0:3], scratch[3:6]):
        return 0  # plan_requests would send nothing: both sides take its fast path
    mark = sf[F_TICKER_MARK]
    ctx[C_POSITION] = position
    ctx[C_REFERENCE] = mark if pi[P_BAND_FROM_MARK] != 0 else np.nan
    ctx[C_MARK] = mark
    ctx[C_COLLAR_LOW] = np.nan
    ctx[C_COLLAR_HIGH] = np.nan
    ctx[C_OTHER_NOTIONAL] = 0.0
    ctx[C_EXTRA_BIDS] = 0.0
    ctx[C_EXTRA_ASKS] = 0.0
    ictx[IC_NOW] = now
    ictx[IC_MARK_TS] = si[S_TICKER_TS_LOCAL]
    ictx[IC_MARK_TS_KNOWN] = 1
    ictx[IC_BUDGET] = UNLIMITED_BUDGET
    counts = plan_requests(desired, nq, ints, floats, no, lim, ilim, grid, ctx, ictx, out, denied, denied_book,
                           work)
    if counts == 0:
        for r in range(nq):
            for c in range(4):
                memo_q[r, c] = desired[r, c]
        for r in range(no):
            for c in range(6):
                memo_o[r, c] = ints[r, c]
        si[S_MEMO_NQ] = nq
        si[S_MEMO_NO] = no
        si[S_MEMO_VALID] = 1
        return 0
    si[S_MEMO_VALID] = 0
    n_out = counts & 0xFFFFFFFF
    si[S_DENIALS] += (counts >> 32) & 0xFFFF
    price_div = pi[P_PRICE_DIV]
    amount_div = pi[P_AMOUNT_DIV]
    for k in range(n_out):
        kind = out[k, 0]
        row = out[k, 1]
        ticks = out[k, 2]
        lots = out[k, 3]
        price = ticks / price_div
        amount = lots / amount_div
        if kind == KIND_AMEND:
            s = row_slot[row]
            oi[s, OC_FLIGHT] = FL_AMEND
            oi[s, OC_HAS_AMEND] = 1
            of[s, OF_AMEND] = amount
            submit(si, pi, pq, RQ_AMEND, oi[s, OC_CID], ticks, lots, now)
            _log(si, pi, ri, rf, RQ_AMEND, 0, oi[s, OC_CID], price, amount)
            _offer(sf, of, s, amount)
        elif kind == KIND_CANCEL:
            s = row_slot[row]
            oi[s, OC_FLIGHT] = FL_CANCEL
            submit(si, pi, pq, RQ_CANCEL, oi[s, OC_CID], 0, 0, now)
            _log(si, pi, ri, rf, RQ_CANCEL, 0, oi[s, OC_CID], np.nan, np.nan)
            of[s, OF_OFFERED] = 0.0
        else:
            cid = si[S_NEXT_CID]
            si[S_NEXT_CID] = cid + 1
            s = si[S_SLOTS]
            si[S_SLOTS] = s + 1
            buy = desired[row, 0]
            for c in range(OI_COLS):
                oi[s, c] = 0
            for c in range(OF_COLS):
                of[s, c] = 0.0
            oi[s, OC_CID] = cid
            oi[s, OC_BUY] = 1 if buy != 0 else 0
            oi[s, OC_STATUS] = ST_PENDING
            oi[s, OC_FLIGHT] = FL_INSERT
            oi[s, OC_RESTING] = 0
            of[s, OF_PRICE] = price
            of[s, OF_AMOUNT] = amount
            of[s, OF_FILLED] = 0.0
            of[s, OF_FILLS] = 0.0
            submit(si, pi, pq, RQ_INSERT, cid, ticks, lots, now)
            _log(si, pi, ri, rf, RQ_INSERT, 1 if buy != 0 else -1, cid, price, amount)
            _offer(sf, of, s, amount)
    return 0
