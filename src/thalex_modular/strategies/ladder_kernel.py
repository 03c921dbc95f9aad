"""What every quoting model's kernel shares: the parameter layout, the input checks, the time left to a dated
instrument's expiry, and the ladder: from a centre and a half spread (USD) to int64 quote rows with the Instrument's
rounding, held behind the touch, sized to the room left before the position limit.

A model's kernel (:mod:`.as_kernel`, :mod:`.glft_kernel`) computes the centre (the fair price less its inventory
skew) and the half spread, then calls :func:`ladder_kernel`; every kernel has :data:`QUOTE_KERNEL_SIGNATURE`, so a
compiled driver can call any of them. The rounding reproduces the Instrument's exactly (``bid_ticks``/``ask_ticks``/
``lots_floor``: the same float operations in the same order). Every integer stays inside int64 (see
:mod:`.as_kernel`).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import _GRID_EPSILON, _GRID_RELATIVE
from thalex_modular.platform.domain.jit import kernel
from thalex_modular.platform.domain.quote_array import QUOTE_COLUMNS, QuoteArray

# float64 parameters (fp)
FP_GAMMA = 0  # config gamma, per USD
FP_HORIZON_S = 1  # rolling horizon, seconds
FP_TICK_USD = 2  # instrument tick size, USD
FP_MAX_SKEW_USD = 3  # max_skew_ticks * tick, USD
FP_MIN_HALF_USD = 4  # 0.5 * min_spread_ticks * tick, USD
FP_VOLUME_TICK = 5  # volume tick, underlying
FP_MAX_POSITION = 6  # |position| limit, underlying
FP_TWO = 7  # 2.0, read at run time so the compiler keeps pow(sigma, 2.0) (Python's sigma**2), not sigma*sigma
FP_ORDER_SIZE = 8  # Delta of the spread terms: the nearest level's amount, underlying
FP_FEE_FLOOR = 9  # (maker fee + minimum edge) as a fraction of the price: the least half spread
FP_SIZE = 10

# int64 parameters (ip)
IP_HAS_EXPIRY = 0  # 1 for a dated instrument
IP_EXPIRY_S = 1  # expiry_ns // 10**9 (|.| <= 2**52)
IP_EXPIRY_REM_NS = 2  # expiry_ns % 10**9
IP_MIN_SPREAD_TICKS = 3
IP_MAX_CROSS_TICKS = 4
IP_SPACING_TICKS = 5
IP_MIN_LOTS = 6  # the instrument's min_order_lots, capped at LOT_CAP + 1 (no lot count reaches it then)
IP_LEVELS = 7
IP_MAX_LEVEL_LOTS = 8  # the largest level size, lots
IP_LEVEL_LOTS = 9  # levels entries from here: each level's configured size, lots (lots_floor)

# kernel results below zero
ERR_RANGE = -1  # a quote would be priced past +-TICK_RANGE ticks, or a price is NaN/inf
ERR_FAIR_PRICE = -2
ERR_POSITION = -3
ERR_SIGMA = -4
ERR_RISK_MULTIPLIER = -5
ERR_CAPACITY = -6  # the output array has fewer than 2 * levels rows or fewer than QUOTE_COLUMNS columns

TICK_RANGE = 2**62
"""Largest |tick count| the kernel holds as an int (doubles past 2**53 are integers: converted exactly); with
the config bounds below, every later sum stays inside int64."""
_RANGE_F = float(TICK_RANGE)
_CUT = -TICK_RANGE - 1  # a bid0 at which every bid is cut (price <= 0)
_TWO_63 = 2.0**63
LOT_CAP = 2**53
"""Room in lots is capped here; pack_parameters refuses ladders of more lots in all."""
_LOT_CAP_F = float(LOT_CAP)
_NS = 1_000_000_000
_SMALL_WHOLE_S = 9_007_198  # whole seconds below which whole * 10**9 + rem < 2**53 (exact as a float)
_INF = math.inf


#: the signature of every quote kernel (A-S, GLFT): what a strategy's ``quote_into`` passes to it (its
#: :func:`~thalex_modular.platform.domain.jit.entry`), and what a compiled driver may call any of them with
QUOTE_KERNEL_SIGNATURE: Final = (
    "int64(int64[:, ::1], float64[::1], int64[::1], float64, float64, float64, float64, float64, float64, int64,"
    " float64)"
)



@kernel
def check_inputs(out: QuoteArray, ip: NDArray[np.int64], fair_price: float, position: float, sigma_per_s: float,
                 risk_multiplier: float) -> int:
    """0, or the ``ERR_*`` code of the first input :class:`~.protocol.QuoteContext` refuses (in its order), or
    ERR_CAPACITY when ``out`` cannot hold the ladder."""
    if not 0.0 < fair_price < _INF:
        return ERR_FAIR_PRICE
    if not -_INF < position < _INF:
        return ERR_POSITION
    if not 0.0 <= sigma_per_s < _INF:
        return ERR_SIGMA
    if not 0.0 < risk_multiplier < _INF:
        return ERR_RISK_MULTIPLIER
    if out.shape[0] < 2 * ip[IP_LEVELS] or out.shape[1] < QUOTE_COLUMNS:
        return ERR_CAPACITY
    return 0


@kernel
def time_left_s(ip: NDArray[np.int64], horizon_s: float, now_ns: int) -> float:
    """``horizon_s``, or the time to a dated instrument's expiry when that is shorter (seconds); -1.0 on or after
    the expiry (nothing is quoted then)."""
    if ip[IP_HAS_EXPIRY] == 0:
        return horizon_s
    # expiry_ns - now_ns as whole seconds + ns (no int64 overflow for any now_ns)
    now_s = now_ns // _NS
    whole = ip[IP_EXPIRY_S] - now_s
    rem = ip[IP_EXPIRY_REM_NS] - (now_ns - now_s * _NS)
    if rem < 0:
        rem += _NS
        whole -= 1
    if whole < 0 or (whole == 0 and rem == 0):
        return -1.0
    # Python's (expiry_ns - now_ns) / 10**9 is correctly rounded: one float division while the ns count is
    # exact as a float, else whole + rem / 1e9 (also correctly rounded: see the tests)
    to_expiry_s = (whole * _NS + rem) / _NS if whole < _SMALL_WHOLE_S else whole + rem / _NS
    return to_expiry_s if to_expiry_s < horizon_s else horizon_s


@kernel
def capped_skew(fp: NDArray[np.float64], skew: float) -> float:
    """The inventory shift ``skew`` (USD) capped to ``max_skew_ticks``."""
    max_skew = float(fp[FP_MAX_SKEW_USD])
    if skew > max_skew:
        return max_skew
    if skew < -max_skew:
        return -max_skew
    return skew


@kernel
def floored_half(fp: NDArray[np.float64], half: float, fair_price: float, risk_multiplier: float) -> float:
    """A model's half spread (USD) at least the fee floor (a fill half a spread away pays the maker fee and earns
    the edge), then scaled by the regime's multiplier (monotone, unlike a multiplier on gamma: the ln term falls as
    gamma rises), never below the fee floor nor half the minimum spread."""
    fee_floor = fp[FP_FEE_FLOOR] * fair_price
    if half < fee_floor:
        half = fee_floor
    half *= risk_multiplier
    if half < fee_floor:
        half = fee_floor
    min_half = fp[FP_MIN_HALF_USD]
    if half < min_half:
        half = min_half
    return half


@kernel
def ladder_kernel(
    out: QuoteArray,
    fp: NDArray[np.float64],
    ip: NDArray[np.int64],
    best_bid_price: float,
    best_ask_price: float,
    position: float,
    center: float,
    half: float,
) -> int:
    """Write the ladder around ``center`` ± ``half`` (USD) into ``out[:n]`` (bids nearest first, then asks nearest
    first); return n, or ERR_RANGE with ``out`` partly written."""
    tick = fp[FP_TICK_USD]
    levels = ip[IP_LEVELS]
    # room before |position| passes the limit: Instrument.lots_floor(max_pos -+ position) when > 0, else 0;
    # capped at LOT_CAP (at least the whole ladder: the cap never changes a size)
    max_pos = fp[FP_MAX_POSITION]
    volume_tick = fp[FP_VOLUME_TICK]
    room_buy = 0
    room_underlying = max_pos - position
    if room_underlying > 0.0:
        lots_f = room_underlying / volume_tick
        arg = lots_f + _GRID_EPSILON + _GRID_RELATIVE * abs(lots_f)
        room_buy = LOT_CAP if arg >= _LOT_CAP_F else math.floor(arg)
    room_sell = 0
    room_underlying = max_pos + position
    if room_underlying > 0.0:
        lots_f = room_underlying / volume_tick
        arg = lots_f + _GRID_EPSILON + _GRID_RELATIVE * abs(lots_f)
        room_sell = LOT_CAP if arg >= _LOT_CAP_F else math.floor(arg)

    # Instrument.bid_ticks / ask_ticks, operation for operation. Python's floor raised on NaN and inf (so does
    # the kernel); a finite count past +-TICK_RANGE is kept as a flag (the exact int is not held) and refused
    # below only where a quote would be sent at it
    ticks = (center - half) / tick
    arg = ticks + _GRID_EPSILON + _GRID_RELATIVE * abs(ticks)
    if not -_INF < arg < _INF:
        return ERR_RANGE
    bid_high = arg > _RANGE_F
    if bid_high:
        bid0 = TICK_RANGE
    elif arg < -_RANGE_F:
        bid0 = _CUT  # every bid is cut: bid0 only moves down from here
    else:
        bid0 = math.floor(arg)
    ticks = (center + half) / tick
    arg = ticks - _GRID_EPSILON - _GRID_RELATIVE * abs(ticks)
    if not -_INF < arg < _INF:
        return ERR_RANGE
    ask_high = arg > _RANGE_F
    ask_low = arg < -_RANGE_F
    if ask_high:
        ask0 = TICK_RANGE
    elif ask_low:
        ask0 = -TICK_RANGE
    else:
        ask0 = math.ceil(arg)

    # hold each side behind the opposite touch; both moves only widen our spread
    cross = ip[IP_MAX_CROSS_TICKS]
    if best_ask_price == best_ask_price:  # not NaN (NaN = no asks in the book)
        ticks = best_ask_price / tick
        arg = ticks - _GRID_EPSILON - _GRID_RELATIVE * abs(ticks)
        if not -_INF < arg < _INF:
            return ERR_RANGE
        if arg < -_RANGE_F:  # the limit is below zero: every bid is cut
            bid0 = _CUT
            bid_high = False
        elif arg <= _RANGE_F:  # (above, the limit is above any bid0, or leaves bid_high as it is)
            limit = math.ceil(arg) - 1 + cross
            if bid_high:
                if limit <= TICK_RANGE:  # the exact bid0 is above it
                    bid0 = limit
                    bid_high = False
            elif bid0 > limit:
                bid0 = limit
    if best_bid_price == best_bid_price:
        ticks = best_bid_price / tick
        arg = ticks + _GRID_EPSILON + _GRID_RELATIVE * abs(ticks)
        if not -_INF < arg < _INF:
            return ERR_RANGE
        if arg >= -_RANGE_F:  # (below, the limit is below any ask0)
            # doubles under 2**63 are exact int64s; from 2**63 on the limit is past TICK_RANGE however it is cut
            limit = TICK_RANGE + 1 if arg >= _TWO_63 else math.floor(arg) + 1 - cross
            if limit > TICK_RANGE:
                ask0 = TICK_RANGE
                ask_high = True
                ask_low = False
            elif ask_low:
                if limit >= -TICK_RANGE:  # the exact ask0 is below it
                    ask0 = limit
                    ask_low = False
            elif not ask_high and ask0 < limit:
                ask0 = limit

    min_lots = ip[IP_MIN_LOTS]
    biggest = ip[IP_MAX_LEVEL_LOTS]
    # a side sends a quote iff its first level of a sendable size fits the room
    can_buy = biggest >= min_lots and room_buy >= min_lots
    can_sell = biggest >= min_lots and room_sell >= min_lots
    if bid_high and can_buy:
        return ERR_RANGE
    if (ask_high or ask_low) and can_sell:
        return ERR_RANGE
    # the min-spread gap (float rounding at extreme prices only): bid0 = min(bid0, ask0 - min_spread), widening
    # away from the touch
    min_spread = ip[IP_MIN_SPREAD_TICKS]
    if ask_low:
        bid0 = _CUT  # below the exact ask0, far below zero
    elif ask_high:
        if bid0 > TICK_RANGE + 1 - min_spread and can_buy:
            return ERR_RANGE  # whether the exact ask0 moves bid0 is unknown
    elif bid0 > ask0 - min_spread:
        bid0 = ask0 - min_spread

    # each level takes its size or the room left; a level below the minimum order is skipped; bids stop at the
    # first price <= 0
    spacing = ip[IP_SPACING_TICKS]
    n = 0
    room = room_buy
    for level in range(levels):
        want = ip[IP_LEVEL_LOTS + level]
        lots = want if want < room else room
        if lots < min_lots:
            continue
        room -= lots
        price = bid0 - level * spacing
        if price <= 0:
            break
        out[n, 0] = 1
        out[n, 1] = price
        out[n, 2] = lots
        out[n, 3] = level
        n += 1
    room = room_sell
    for level in range(levels):
        want = ip[IP_LEVEL_LOTS + level]
        lots = want if want < room else room
        if lots < min_lots:
            continue
        room -= lots
        out[n, 0] = 0
        out[n, 1] = ask0 + level * spacing
        out[n, 2] = lots
        out[n, 3] = level
        n += 1
    return n
