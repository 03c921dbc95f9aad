"""The pre-trade risk decision as one compiled kernel: :class:`~.risk.RiskCheck`, the compiled reconcile and the
mass-quote planner all reach :func:`risk_code`, so there is one implementation of every limit.

A decision is an int code (0 = allowed); :class:`~.risk.RiskCheck` turns a refusal code into a
:class:`~.risk.Denial` naming the limit, bound and value. Units as in :mod:`.risk`: prices USD, amounts in the
underlying, notional USD, band in basis points, times int ns.

Parameter arrays (built once per RiskCheck by :func:`risk_limits`):

* ``lim`` float64: tick size, volume tick size, min order amount, max order amount, max notional of one order (with
  its 1e-12 relative slack), price band bps, max position, max notional of the instrument's worst-case position,
  max notional of the account (both inf when unset).
* ``ilim`` int64: max open orders, whether a mark age limit is set (0/1), the limit in ns.

The market and account state of one decision (written by the caller, :func:`write_context`):

* ``ctx`` float64: position (underlying), band reference price (mark or index; NaN when unknown), mark price,
  ``collar_low`` and ``collar_high`` (NaN when unknown), the notional of the account's other instruments (USD), and
  the exposure per side besides the position and our resting orders (bids, asks; underlying: see below), which the
  reconcile adds to the book it checks against (a single check takes the whole book as its argument).
* ``ictx`` int64: now (ns), when the mark was received (ns, local clock), whether that is known (0/1), the request
  budget (amends and inserts the rate limiter allows now; the reconcile reads it, a single check does not).

Exposure the caller adds to ``bid_amount``/``ask_amount`` besides our resting orders: orders of the account that are
not ours, fills reported but not received yet, and the gap to the exchange's position when it is the worse one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .jit import kernel

# codes: 0 allows; the rest name the first check that refused
OK = 0
AMEND_NOT_ABOVE_FILLED = 1
PRICE_NOT_POSITIVE = 2
PRICE_OFF_GRID = 3
AMOUNT_NOT_POSITIVE = 4
AMOUNT_OFF_GRID = 5
BELOW_MIN_ORDER_AMOUNT = 6
ABOVE_MAX_ORDER_AMOUNT = 7
ABOVE_MAX_NOTIONAL = 8
ABOVE_MAX_OPEN_ORDERS = 9
MARK_AGE_UNKNOWN = 10
MARK_TOO_OLD = 11
BAND_REFERENCE_UNUSABLE = 12
OUTSIDE_PRICE_BAND = 13
POSITION_NOT_FINITE = 14
BIDS_PAST_MAX_POSITION = 15
ASKS_PAST_MAX_POSITION = 16
BID_ABOVE_COLLAR = 17
ASK_BELOW_COLLAR = 18
MARK_UNUSABLE = 19
ABOVE_INSTRUMENT_NOTIONAL = 20
ABOVE_ACCOUNT_NOTIONAL = 21

L_TICK, L_LOT, L_MIN_ORDER, L_MAX_ORDER, L_MAX_NOTIONAL, L_BAND_BPS, L_MAX_POSITION = range(7)
L_MAX_INSTRUMENT_NOTIONAL, L_MAX_ACCOUNT_NOTIONAL = 7, 8
I_MAX_OPEN_ORDERS, I_HAS_MARK_AGE, I_MAX_MARK_AGE_NS = range(3)
C_POSITION, C_REFERENCE, C_MARK, C_COLLAR_LOW, C_COLLAR_HIGH, C_OTHER_NOTIONAL, C_EXTRA_BIDS, C_EXTRA_ASKS = range(8)
CONTEXT_FLOATS = 8
IC_NOW, IC_MARK_TS, IC_MARK_TS_KNOWN, IC_BUDGET = range(4)
CONTEXT_INTS = 4
#: a budget no plan reaches: the rate limiter does not bind
UNLIMITED_BUDGET = 1 << 40

_BPS = 10_000.0
_INF = np.inf


def risk_limits(
    tick_size: float,
    volume_tick_size: float,
    min_order_amount: float,
    max_order_amount: float,
    max_notional_usd: float,
    price_band_bps: float,
    max_position: float,
    max_open_orders: int,
    max_mark_age_ns: int | None,
    max_instrument_notional_usd: float | None = None,
    max_account_notional_usd: float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The ``(lim, ilim)`` parameter arrays of :func:`risk_code` for one instrument's limits (None: no limit)."""
    lim = np.array(
        [tick_size, volume_tick_size, min_order_amount, max_order_amount, max_notional_usd * (1 + 1e-12),
         price_band_bps, max_position,
         _INF if max_instrument_notional_usd is None else max_instrument_notional_usd * (1 + 1e-12),
         _INF if max_account_notional_usd is None else max_account_notional_usd * (1 + 1e-12)],
        dtype=np.float64,
    )
    ilim = np.array(
        [max_open_orders, 0 if max_mark_age_ns is None else 1, 0 if max_mark_age_ns is None else max_mark_age_ns],
        dtype=np.int64,
    )
    return lim, ilim


def new_context() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Fresh ``(ctx, ictx)`` arrays (write them with :func:`write_context`)."""
    return np.zeros(CONTEXT_FLOATS, dtype=np.float64), np.zeros(CONTEXT_INTS, dtype=np.int64)


def write_context(
    ctx: NDArray[np.float64],
    ictx: NDArray[np.int64],
    position: float,
    reference_price: float,
    mark_price: float,
    collar_low: float,
    collar_high: float,
    other_notional_usd: float,
    now_ns: int,
    mark_ts_ns: int,
    mark_ts_known: bool,
    budget: int = UNLIMITED_BUDGET,
    extra_bids: float = 0.0,
    extra_asks: float = 0.0,
) -> None:
    """Write one decision's market and account state into ``ctx``/``ictx`` (NaN for an unknown price)."""
    ctx[C_POSITION] = position
    ctx[C_REFERENCE] = reference_price
    ctx[C_MARK] = mark_price
    ctx[C_COLLAR_LOW] = collar_low
    ctx[C_COLLAR_HIGH] = collar_high
    ctx[C_OTHER_NOTIONAL] = other_notional_usd
    ctx[C_EXTRA_BIDS] = extra_bids
    ctx[C_EXTRA_ASKS] = extra_asks
    ictx[IC_NOW] = now_ns
    ictx[IC_MARK_TS] = mark_ts_ns
    ictx[IC_MARK_TS_KNOWN] = 1 if mark_ts_known else 0
    ictx[IC_BUDGET] = budget


@kernel
def risk_code(
    lim: NDArray[np.float64],
    ilim: NDArray[np.int64],
    ctx: NDArray[np.float64],
    ictx: NDArray[np.int64],
    is_buy: bool,
    price: float,
    amount: float,
    open_amount: float,
    old_amount: float,
    added_orders: int,
    bid_amount: float,
    ask_amount: float,
    order_count: int,
) -> int:
    """Check one insert (``added_orders`` 1, ``old_amount`` 0) or amend (``added_orders`` 0) against the limits.

    ``amount`` is the amount field sent (an amend's new total), ``open_amount`` what will rest after it,
    ``old_amount`` what of it rests now (already counted in ``bid_amount``/``ask_amount``: every exposure per side
    besides the position, see the module docstring; ``order_count`` our resting orders). Returns 0 or the code of
    the first refusing check, in the order of :class:`~.risk.RiskCheck`.
    """
    tick = lim[L_TICK]
    if not 0.0 < price < _INF:
        return PRICE_NOT_POSITIVE
    if abs(np.rint(price / tick) * tick - price) > tick * 1e-6:
        return PRICE_OFF_GRID
    lot = lim[L_LOT]
    eps = lot * 1e-6
    if not 0.0 < amount < _INF:
        return AMOUNT_NOT_POSITIVE
    if abs(np.rint(amount / lot) * lot - amount) > eps:
        return AMOUNT_OFF_GRID
    if amount < lim[L_MIN_ORDER] - eps:
        return BELOW_MIN_ORDER_AMOUNT
    if open_amount > lim[L_MAX_ORDER] + eps:
        return ABOVE_MAX_ORDER_AMOUNT
    if price * open_amount > lim[L_MAX_NOTIONAL]:
        return ABOVE_MAX_NOTIONAL
    if added_orders > 0 and order_count + added_orders > ilim[I_MAX_OPEN_ORDERS]:
        return ABOVE_MAX_OPEN_ORDERS
    if ilim[I_HAS_MARK_AGE] != 0:
        if ictx[IC_MARK_TS_KNOWN] == 0:
            return MARK_AGE_UNKNOWN
        if ictx[IC_NOW] - ictx[IC_MARK_TS] > ilim[I_MAX_MARK_AGE_NS]:
            return MARK_TOO_OLD
    ref = ctx[C_REFERENCE]
    if not 0.0 < ref < _INF:
        return BAND_REFERENCE_UNUSABLE
    if abs(price - ref) * _BPS > lim[L_BAND_BPS] * ref * (1 + 1e-9):
        return OUTSIDE_PRICE_BAND
    # Thalex's collar: bids above collar_high and asks below collar_low are refused (NaN: not known, no check)
    if is_buy:
        if price > ctx[C_COLLAR_HIGH] + tick * 1e-6:
            return BID_ABOVE_COLLAR
    elif price < ctx[C_COLLAR_LOW] - tick * 1e-6:
        return ASK_BELOW_COLLAR
    position = ctx[C_POSITION]
    if not -_INF < position < _INF:
        return POSITION_NOT_FINITE
    limit = lim[L_MAX_POSITION]
    # the worst-case position on the order's side once it rests
    if is_buy:
        worst = position + bid_amount - old_amount + open_amount
        if worst > limit + eps:
            return BIDS_PAST_MAX_POSITION
    else:
        worst = position - ask_amount + old_amount - open_amount
        if worst < -limit - eps:
            return ASKS_PAST_MAX_POSITION
    mark = ctx[C_MARK]
    if not 0.0 < mark < _INF:
        return MARK_UNUSABLE
    # the side's worst case in USD; an order that leaves its side flat or beyond adds no exposure: never refused
    notional = (worst if is_buy else -worst) * mark
    if notional > 0.0:
        if notional > lim[L_MAX_INSTRUMENT_NOTIONAL]:
            return ABOVE_INSTRUMENT_NOTIONAL
        if ctx[C_OTHER_NOTIONAL] + notional > lim[L_MAX_ACCOUNT_NOTIONAL]:
            return ABOVE_ACCOUNT_NOTIONAL
    return OK


@kernel
def amend_risk_code(
    lim: NDArray[np.float64],
    ilim: NDArray[np.int64],
    ctx: NDArray[np.float64],
    ictx: NDArray[np.int64],
    is_buy: bool,
    price: float,
    total_amount: float,
    filled_amount: float,
    old_amount: float,
    bid_amount: float,
    ask_amount: float,
    order_count: int,
) -> int:
    """:func:`risk_code` of an amend to ``total_amount`` (filled + new remaining) of an order that has
    ``filled_amount`` filled and ``old_amount`` resting; the new total must exceed what is filled."""
    new_remaining = total_amount - filled_amount
    if not new_remaining > lim[L_LOT] * 1e-6:  # also refuses NaN
        return AMEND_NOT_ABOVE_FILLED
    return risk_code(
        lim, ilim, ctx, ictx, is_buy, price, total_amount, new_remaining, old_amount, 0, bid_amount, ask_amount,
        order_count,
    )
