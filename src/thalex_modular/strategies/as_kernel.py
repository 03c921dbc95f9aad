"""The Avellaneda-Stoikov ladder as one compiled kernel: scalars in, int64 quote rows out (no Python objects).

:func:`quote_kernel` is the only implementation of the quoting math of
:class:`~.avellaneda_stoikov.AvellanedaStoikovStrategy`; both ``compute_quotes`` and ``quote_into`` run it. Per
(instrument, config) parameters are packed once by :func:`pack_parameters` into a float64 and an int64 array
(layouts below). It reproduces the Instrument's rounding exactly (``bid_ticks``/``ask_ticks``/``lots_floor``:
the same float operations in the same order) and Python's arithmetic exactly (``sigma ** 2`` through ``pow``,
time to expiry correctly rounded like Python's ``int / int``), so it returns what the pure-Python strategy
returned, compiled or not.

Every integer stays inside int64: tick counts are checked to lie within +-TICK_RANGE before conversion, room in
lots is capped at LOT_CAP (at least the whole ladder), and :func:`pack_parameters` refuses configs whose ints
could overflow. Where Python's ints would have gone past that range (absurd inputs: a ladder more than 2**62 ticks
from zero) the kernel returns ERR_RANGE instead, as it does where Python's ``math.floor`` raised (NaN, inf).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import _GRID_EPSILON, _GRID_RELATIVE, Instrument
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.jit import kernel
from thalex_modular.platform.domain.quote_array import QUOTE_COLUMNS, QuoteArray

if TYPE_CHECKING:
    from .avellaneda_stoikov import AvellanedaStoikovConfig

__all__ = [
    "ERR_CAPACITY",
    "ERR_FAIR_PRICE",
    "ERR_POSITION",
    "ERR_RANGE",
    "ERR_RISK_MULTIPLIER",
    "ERR_SIGMA",
    "FP_SIZE",
    "IP_LEVEL_LOTS",
    "LOT_CAP",
    "TICK_RANGE",
    "pack_parameters",
    "quote_kernel",
]

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
_MAX_CONFIG_TICKS = 2**31  # min_spread / max_cross / spacing bound: level * spacing and the limits stay << 2**63
_MAX_LEVELS = 2**16
_NS = 1_000_000_000
_SMALL_WHOLE_S = 9_007_198  # whole seconds below which whole * 10**9 + rem < 2**53 (exact as a float)
# largest sigma whose square (Python: pow) is finite; Python raises OverflowError past it, the kernel ERR_RANGE
_MAX_SIGMA_USD = 1.3407807929942596e154
_INF = math.inf
_BPS = 1e-4  # one basis point as a fraction


#: the types :meth:`AvellanedaStoikovStrategy.quote_into` passes to :func:`quote_kernel` (its
#: :func:`~thalex_modular.platform.domain.jit.entry`)
QUOTE_KERNEL_SIGNATURE: Final = (
    "int64(int64[:, ::1], float64[::1], int64[::1], float64, float64, float64, float64, float64, float64, int64,"
    " float64)"
)


@kernel
def quote_kernel(
    out: QuoteArray,
    fp: NDArray[np.float64],
    ip: NDArray[np.int64],
    best_bid_price: float,
    best_ask_price: float,
    fair_price: float,
    position: float,
    sigma_per_s: float,
    risk_multiplier: float,
    now_ns: int,
    kappa_per_usd: float,
) -> int:
    """Write the A-S ladder into ``out[:n]`` (bids nearest first, then asks nearest first); return n, or an
    ``ERR_*`` code (< 0) with ``out`` partly written.

    Args:
        out: int64 rows ``[is_buy, price_ticks, amount_lots, level]`` (:mod:`~...quote_array`), >= 2 * levels rows.
        fp, ip: parameters from :func:`pack_parameters`.
        best_bid_price, best_ask_price: the touch, USD; NaN when that side of the book is empty.
        fair_price: the price quotes centre on, USD (> 0, finite).
        position: signed position, underlying (finite).
        sigma_per_s: relative (log-return) volatility per sqrt(second) (>= 0, finite).
        risk_multiplier: the regime's risk multiplier (> 0, finite): scales the half spread and the skew.
        now_ns: decision time, int ns.
        kappa_per_usd: order-arrival decay per USD (> 0).
    """
    # the QuoteContext checks, in its order
    if not 0.0 < fair_price < _INF:
        return ERR_FAIR_PRICE
    if not -_INF < position < _INF:
        return ERR_POSITION
    if not 0.0 <= sigma_per_s < _INF:
        return ERR_SIGMA
    if not 0.0 < risk_multiplier < _INF:
        return ERR_RISK_MULTIPLIER
    levels = ip[IP_LEVELS]
    if out.shape[0] < 2 * levels or out.shape[1] < QUOTE_COLUMNS:
        return ERR_CAPACITY

    time_left = fp[FP_HORIZON_S]
    if ip[IP_HAS_EXPIRY] != 0:
        # expiry_ns - now_ns as whole seconds + ns (no int64 overflow for any now_ns)
        now_s = now_ns // _NS
        whole = ip[IP_EXPIRY_S] - now_s
        rem = ip[IP_EXPIRY_REM_NS] - (now_ns - now_s * _NS)
        if rem < 0:
            rem += _NS
            whole -= 1
        if whole < 0 or (whole == 0 and rem == 0):
            return 0  # on or after expiry
        # Python's (expiry_ns - now_ns) / 10**9 is correctly rounded: one float division while the ns count is
        # exact as a float, else whole + rem / 1e9 (also correctly rounded: see the tests)
        to_expiry_s = (whole * _NS + rem) / _NS if whole < _SMALL_WHOLE_S else whole + rem / _NS
        if to_expiry_s < time_left:
            time_left = to_expiry_s

    tick = fp[FP_TICK_USD]
    gamma = fp[FP_GAMMA]
    sigma = sigma_per_s * fair_price  # USD per sqrt(second)
    if sigma > _MAX_SIGMA_USD:
        return ERR_RANGE
    sigma_sq = math.pow(sigma, fp[FP_TWO])

    # inventory shift mid - reservation (reservation = mid - q * (m gamma) * sigma**2 * T: the regime's multiplier m
    # scales the aversion to inventory), capped in ticks
    skew = fair_price - (fair_price - position * (gamma * risk_multiplier) * sigma_sq * time_left)
    max_skew = fp[FP_MAX_SKEW_USD]
    if skew > max_skew:
        skew = max_skew
    elif skew < -max_skew:
        skew = -max_skew
    center = fair_price - skew
    # optimal_spread for fills of the order size Delta (Guéant): the spread terms take gamma * Delta
    risk = gamma * fp[FP_ORDER_SIZE]
    half = 0.5 * (risk * sigma_sq * time_left + (2.0 / risk) * math.log1p(risk / kappa_per_usd))
    fee_floor = fp[FP_FEE_FLOOR] * fair_price  # USD: a fill half a spread away pays the maker fee and earns the edge
    if half < fee_floor:
        half = fee_floor
    # the regime scales the fee-clearing half spread itself (monotone: a multiplier on gamma is not, the ln term
    # falls as gamma rises), never below the fee floor
    half *= risk_multiplier
    if half < fee_floor:
        half = fee_floor
    min_half = fp[FP_MIN_HALF_USD]
    if half < min_half:
        half = min_half

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


def pack_parameters(
    instrument: Instrument, config: AvellanedaStoikovConfig
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The kernel's (float64, int64) parameter arrays for ``instrument`` under ``config``.

    Raises:
        InvalidValue: config ints or the ladder's size in lots too large for int64 tick arithmetic.
    """
    for name in ("min_spread_ticks", "max_cross_ticks", "level_spacing_ticks"):
        value = getattr(config, name)
        if value > _MAX_CONFIG_TICKS:
            raise InvalidValue(f"AvellanedaStoikovConfig.{name} must be <= {_MAX_CONFIG_TICKS}, was {value!r}")
    if config.levels > _MAX_LEVELS:
        raise InvalidValue(f"AvellanedaStoikovConfig.level_amounts may name at most {_MAX_LEVELS} levels")
    level_lots = [instrument.lots_floor(amount) for amount in config.level_amounts]
    if sum(level_lots) > LOT_CAP:
        raise InvalidValue(
            f"AvellanedaStoikovConfig.level_amounts: {sum(level_lots)} lots of {instrument.instrument_name} in all, "
            f"more than {LOT_CAP}"
        )
    expiry_s, expiry_rem_ns = divmod(instrument.expiry_ns, _NS) if instrument.expiry_ns is not None else (0, 0)
    if abs(expiry_s) > 2**52:  # 142 million years: whole seconds to expiry stay exact as floats
        raise InvalidValue(f"Instrument({instrument.instrument_name}).expiry_ns out of range: {instrument.expiry_ns}")
    tick = instrument.tick_size
    fp = np.empty(FP_SIZE, dtype=np.float64)
    fp[FP_GAMMA] = config.gamma
    fp[FP_HORIZON_S] = config.horizon_s
    fp[FP_TICK_USD] = tick
    fp[FP_MAX_SKEW_USD] = config.max_skew_ticks * tick
    fp[FP_MIN_HALF_USD] = 0.5 * config.min_spread_ticks * tick
    fp[FP_VOLUME_TICK] = instrument.volume_tick_size
    fp[FP_MAX_POSITION] = config.max_position_underlying
    fp[FP_TWO] = 2.0
    fp[FP_ORDER_SIZE] = config.order_size_underlying
    fp[FP_FEE_FLOOR] = (config.maker_fee_bps + config.min_edge_bps) * _BPS
    ip = np.empty(IP_LEVEL_LOTS + config.levels, dtype=np.int64)
    ip[IP_HAS_EXPIRY] = instrument.expiry_ns is not None
    ip[IP_EXPIRY_S] = expiry_s
    ip[IP_EXPIRY_REM_NS] = expiry_rem_ns
    ip[IP_MIN_SPREAD_TICKS] = config.min_spread_ticks
    ip[IP_MAX_CROSS_TICKS] = config.max_cross_ticks
    ip[IP_SPACING_TICKS] = config.level_spacing_ticks
    ip[IP_MIN_LOTS] = min(instrument.min_order_lots, LOT_CAP + 1)
    ip[IP_LEVELS] = config.levels
    ip[IP_MAX_LEVEL_LOTS] = max(level_lots)
    ip[IP_LEVEL_LOTS:] = level_lots
    return fp, ip
