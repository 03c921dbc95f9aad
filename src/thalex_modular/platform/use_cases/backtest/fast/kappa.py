"""The online kappa of the strategy as kernels over the fast driver's arrays: the same rules and float operations as
:class:`~thalex_modular.strategies.kappa_sampler.KappaSampler` (prints vs our own fills, the book's mid and half
spread, the wait) and :class:`~thalex_modular.strategies.kappa_estimator.KappaEstimator` (a window of distances
summed exactly: :class:`~thalex_modular.platform.domain.market.rolling_volatility.ExactSum`, then ``math.fsum``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel

from .inline import inline_kernel
from .layout import (
    K_AGGRESSOR,
    K_LOTS,
    K_TICKS,
    K_TS,
    P_BOOK_AGE_NS,
    P_EST_MIN,
    P_EST_WINDOW,
    P_WAIT_NS,
    PARTIALS,
    Q_K_FALLBACK,
    Q_K_MAX,
    Q_K_MIN,
    Q_VTICK,
    S_BOOK_NS,
    S_EST_COUNT,
    S_EST_HEAD,
    S_EST_NPART,
    S_K_NOW,
    S_KO_HEAD,
    S_KO_TAIL,
    S_KP_HEAD,
    S_KP_TAIL,
)

_GRID_EPSILON = 1e-9  # entities._GRID_EPSILON / _GRID_RELATIVE: Instrument's rounding
_GRID_RELATIVE = 1e-12


@kernel
def bid_ticks_of(price: float, tick: float) -> int:
    """:meth:`Instrument.bid_ticks`."""
    ticks = price / tick
    return math.floor(ticks + _GRID_EPSILON + _GRID_RELATIVE * abs(ticks))


@kernel
def ask_ticks_of(price: float, tick: float) -> int:
    """:meth:`Instrument.ask_ticks`."""
    ticks = price / tick
    return math.ceil(ticks - _GRID_EPSILON - _GRID_RELATIVE * abs(ticks))


@kernel
def lots_floor_of(amount: float, vtick: float) -> int:
    """:meth:`Instrument.lots_floor`."""
    lots = amount / vtick
    return math.floor(lots + _GRID_EPSILON + _GRID_RELATIVE * abs(lots))


@kernel
def exact_add(partials: NDArray[np.float64], n: int, x: float) -> int:
    """:meth:`ExactSum.add` on ``partials[:n]``; returns the new count."""
    i = 0
    for j in range(n):
        y = partials[j]
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            partials[i] = lo
            i += 1
        x = hi
    partials[i] = x
    return i + 1


@kernel
def fsum_of(partials: NDArray[np.float64], n: int, p: NDArray[np.float64]) -> float:
    """``math.fsum(partials[:n])``: CPython's algorithm (re-add into ``p``, at least ``n + 1`` cells, then sum from
    the top with the half-even fix)."""
    m = 0
    for k in range(n):
        m = exact_add(p, m, partials[k])
    hi = 0.0
    if m > 0:
        m -= 1
        hi = p[m]
        lo = 0.0
        while m > 0:
            x = hi
            m -= 1
            y = p[m]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        if m > 0 and ((lo < 0.0 and p[m - 1] < 0.0) or (lo > 0.0 and p[m - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return hi


@kernel
def estimator_observe(si: NDArray[np.int64], pi: NDArray[np.int64], dist: NDArray[np.float64],
                      partials: NDArray[np.float64], distance: float) -> None:
    """:meth:`KappaEstimator.observe` (the distance is >= 0 and finite by construction)."""
    head = si[S_EST_HEAD]
    n = si[S_EST_NPART]
    if si[S_EST_COUNT] == pi[P_EST_WINDOW]:
        n = exact_add(partials, n, -dist[head])
    else:
        si[S_EST_COUNT] += 1
    dist[head] = distance
    n = exact_add(partials, n, distance)
    si[S_EST_NPART] = n
    head += 1
    si[S_EST_HEAD] = 0 if head == pi[P_EST_WINDOW] else head


@kernel
def estimator_kappa(si: NDArray[np.int64], pi: NDArray[np.int64], pf: NDArray[np.float64],
                    partials: NDArray[np.float64]) -> float:
    """:meth:`KappaEstimator.kappa_per_usd`."""
    count = si[S_EST_COUNT]
    if count < pi[P_EST_MIN]:
        return float(pf[Q_K_FALLBACK])
    total = fsum_of(partials, si[S_EST_NPART], partials[PARTIALS:])
    if total <= 0.0:
        return float(pf[Q_K_MAX])
    kappa = count / total
    return float(min(max(kappa, pf[Q_K_MIN]), pf[Q_K_MAX]))


@inline_kernel
def flush_due(si: NDArray[np.int64], pi: NDArray[np.int64], kp: NDArray[np.int64], ko: NDArray[np.int64],
              now_ns: int) -> bool:
    """Whether :func:`sampler_flush` at ``now_ns`` would do more than advance the sampler's clock (which this
    does): a print or one of our fills waited long enough, or an emptied queue is to be reset. False means that
    flush would return False and change nothing else, so it need not be called."""
    if now_ns > si[S_K_NOW]:
        si[S_K_NOW] = now_ns
    now = si[S_K_NOW]
    wait = pi[P_WAIT_NS]
    ko_head = si[S_KO_HEAD]
    kp_head = si[S_KP_HEAD]
    if ko_head < si[S_KO_TAIL]:
        if ko[ko_head, K_TS] + wait < now:
            return True
    elif ko_head != 0:
        return True
    if kp_head < si[S_KP_TAIL]:
        return bool(kp[kp_head, K_TS] + wait <= now)
    return kp_head != 0


@kernel
def sampler_flush(si: NDArray[np.int64], pi: NDArray[np.int64], kp: NDArray[np.int64], kd: NDArray[np.float64],
                  ko: NDArray[np.int64], dist: NDArray[np.float64], partials: NDArray[np.float64],
                  now_ns: int) -> bool:
    """:meth:`KappaSampler.flush`: count the prints that waited unclaimed; forget our older fills."""
    if now_ns > si[S_K_NOW]:
        si[S_K_NOW] = now_ns
    now = si[S_K_NOW]
    wait = pi[P_WAIT_NS]
    while si[S_KO_HEAD] < si[S_KO_TAIL] and ko[si[S_KO_HEAD], K_TS] + wait < now:
        si[S_KO_HEAD] += 1
    counted = False
    while si[S_KP_HEAD] < si[S_KP_TAIL] and kp[si[S_KP_HEAD], K_TS] + wait <= now:
        estimator_observe(si, pi, dist, partials, kd[si[S_KP_HEAD]])
        si[S_KP_HEAD] += 1
        counted = True
    if si[S_KO_HEAD] == si[S_KO_TAIL]:
        si[S_KO_HEAD] = 0
        si[S_KO_TAIL] = 0
    if si[S_KP_HEAD] == si[S_KP_TAIL]:
        si[S_KP_HEAD] = 0
        si[S_KP_TAIL] = 0
    return counted


@kernel
def _compact(si: NDArray[np.int64], head_at: int, tail_at: int, q: NDArray[np.int64], d: NDArray[np.float64],
             has_d: bool) -> None:
    """Move a queue's rows to the front of its table when its tail reached the end."""
    head = si[head_at]
    tail = si[tail_at]
    if tail < q.shape[0] or head == 0:
        return
    for k in range(tail - head):
        for c in range(q.shape[1]):
            q[k, c] = q[head + k, c]
        if has_d:
            d[k] = d[head + k]
    si[head_at] = 0
    si[tail_at] = tail - head


@kernel
def _delete(si: NDArray[np.int64], tail_at: int, q: NDArray[np.int64], d: NDArray[np.float64], has_d: bool,
            at: int) -> None:
    """Delete row ``at`` of a queue, keeping the order of the others."""
    tail = si[tail_at]
    for k in range(at, tail - 1):
        for c in range(q.shape[1]):
            q[k, c] = q[k + 1, c]
        if has_d:
            d[k] = d[k + 1]
    si[tail_at] = tail - 1


@kernel
def sampler_on_print(si: NDArray[np.int64], pi: NDArray[np.int64], pf: NDArray[np.float64], kp: NDArray[np.int64],
                     kd: NDArray[np.float64], ko: NDArray[np.int64], dist: NDArray[np.float64],
                     partials: NDArray[np.float64], now_ns: int, price: float, amount: float, taker: int,
                     book_bid: float, book_ask: float, tick: float) -> bool:
    """:meth:`KappaSampler.on_print` (``taker`` +1 buy / -1 sell; NaN book sides are empty). True when the
    estimate may have moved. The caller keeps a free row in ``kp``."""
    changed = sampler_flush(si, pi, kp, kd, ko, dist, partials, now_ns)
    if (book_bid != book_bid or book_ask != book_ask or not book_bid < book_ask
            or now_ns - si[S_BOOK_NS] > pi[P_BOOK_AGE_NS]):
        return changed
    ticks = bid_ticks_of(price, tick)
    lots = lots_floor_of(amount, pf[Q_VTICK])
    for k in range(si[S_KO_HEAD], si[S_KO_TAIL]):
        if ko[k, K_TICKS] == ticks and ko[k, K_LOTS] == lots and ko[k, K_AGGRESSOR] == taker:
            _delete(si, S_KO_TAIL, ko, kd, False, k)
            return changed
    distance = abs(price - 0.5 * (book_bid + book_ask)) - 0.5 * (book_ask - book_bid)
    _compact(si, S_KP_HEAD, S_KP_TAIL, kp, kd, True)
    at = si[S_KP_TAIL]
    kp[at, K_TS] = now_ns
    kp[at, K_TICKS] = ticks
    kp[at, K_LOTS] = lots
    kp[at, K_AGGRESSOR] = taker
    kd[at] = distance if distance > 0.0 else 0.0
    si[S_KP_TAIL] = at + 1
    return changed


@kernel
def sampler_on_own_fill(si: NDArray[np.int64], pi: NDArray[np.int64], pf: NDArray[np.float64],
                        kp: NDArray[np.int64], kd: NDArray[np.float64], ko: NDArray[np.int64],
                        dist: NDArray[np.float64], partials: NDArray[np.float64], now_ns: int, price: float,
                        amount: float, side: int, tick: float) -> bool:
    """:meth:`KappaSampler.on_own_fill` of a maker fill (``side`` +1 we bought / -1 sold). The caller keeps a
    free row in ``ko``."""
    changed = sampler_flush(si, pi, kp, kd, ko, dist, partials, now_ns)
    ticks = bid_ticks_of(price, tick)
    lots = lots_floor_of(amount, pf[Q_VTICK])
    aggressor = -side
    for k in range(si[S_KP_HEAD], si[S_KP_TAIL]):
        if kp[k, K_TICKS] == ticks and kp[k, K_LOTS] == lots and kp[k, K_AGGRESSOR] == aggressor:
            _delete(si, S_KP_TAIL, kp, kd, True, k)
            return changed
    _compact(si, S_KO_HEAD, S_KO_TAIL, ko, kd, False)
    at = si[S_KO_TAIL]
    ko[at, K_TS] = now_ns
    ko[at, K_TICKS] = ticks
    ko[at, K_LOTS] = lots
    ko[at, K_AGGRESSOR] = aggressor
    si[S_KO_TAIL] = at + 1
    return changed
