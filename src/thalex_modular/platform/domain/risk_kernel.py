"""The pre-trade risk decision as one compiled kernel: :class:`~.risk.RiskCheck` and the compiled reconcile both
call :func:`risk_code`, so there is one implementation of every limit.

A decision is an int code (0 = allowed); :class:`~.risk.RiskCheck` turns a refusal code into a
:class:`~.risk.Denial` naming the limit, bound and value. Units as in :mod:`.risk`: prices USD, amounts in the
underlying, notional USD, band in basis points, times int ns.

Parameter arrays (built once per RiskCheck by :func:`risk_limits`):

* ``lim`` float64: tick size, volume tick size, min order amount, max order amount, max notional (with its
  1e-12 relative slack), price band bps, max position.
* ``ilim`` int64: max open orders, whether a mark age limit is set (0/1), the limit in ns.
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

L_TICK, L_LOT, L_MIN_ORDER, L_MAX_ORDER, L_MAX_NOTIONAL, L_BAND_BPS, L_MAX_POSITION = range(7)
I_MAX_OPEN_ORDERS, I_HAS_MARK_AGE, I_MAX_MARK_AGE_NS = range(3)

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
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The ``(lim, ilim)`` parameter arrays of :func:`risk_code` for one instrument's limits."""
    lim = np.array(
        [tick_size, volume_tick_size, min_order_amount, max_order_amount, max_notional_usd * (1 + 1e-12),
         price_band_bps, max_position],
        dtype=np.float64,
    )
    ilim = np.array(
        [max_open_orders, 0 if max_mark_age_ns is None else 1, 0 if max_mark_age_ns is None else max_mark_age_ns],
        dtype=np.int64,
    )
    return lim, ilim


@kernel
def risk_code(
    lim: NDArray[np.float64],
    ilim: NDArray[np.int64],
    is_buy: bool,
    price: float,
    amount: float,
    open_amount: float,
    old_amount: float,
    added_orders: int,
    position: float,
    reference_price: float,
    now_ns: int,
    mark_ts_ns: int,
    mark_ts_known: bool,
    bid_amount: float,
    ask_amount: float,
    order_count: int,
) -> int:
    """Check one insert (``added_orders`` 1, ``old_amount`` 0) or amend (``added_orders`` 0) against the limits.

    ``amount`` is the amount field sent (an amend's new total), ``open_amount`` what will rest after it,
    ``old_amount`` what of it rests now (already counted in ``bid_amount``/``ask_amount``, our resting remaining
    amounts per side; ``order_count`` our resting orders). ``reference_price`` is the band's reference (mark or
    index; NaN when unknown). Returns 0 or the code of the first refusing check, in the order of
    :class:`~.risk.RiskCheck`.
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
        if not mark_ts_known:
            return MARK_AGE_UNKNOWN
        if now_ns - mark_ts_ns > ilim[I_MAX_MARK_AGE_NS]:
            return MARK_TOO_OLD
    ref = reference_price
    if not 0.0 < ref < _INF:
        return BAND_REFERENCE_UNUSABLE
    if abs(price - ref) * _BPS > lim[L_BAND_BPS] * ref * (1 + 1e-9):
        return OUTSIDE_PRICE_BAND
    if not -_INF < position < _INF:
        return POSITION_NOT_FINITE
    limit = lim[L_MAX_POSITION]
    if is_buy:
        if position + bid_amount - old_amount + open_amount > limit + eps:
            return BIDS_PAST_MAX_POSITION
    elif position - ask_amount + old_amount - open_amount < -limit - eps:
        return ASKS_PAST_MAX_POSITION
    return OK


@kernel
def amend_risk_code(
    lim: NDArray[np.float64],
    ilim: NDArray[np.int64],
    is_buy: bool,
    price: float,
    total_amount: float,
    filled_amount: float,
    old_amount: float,
    position: float,
    reference_price: float,
    now_ns: int,
    mark_ts_ns: int,
    mark_ts_known: bool,
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
        lim, ilim, is_buy, price, total_amount, new_remaining, old_amount, 0, position, reference_price, now_ns,
        mark_ts_ns, mark_ts_known, bid_amount, ask_amount, order_count,
    )
