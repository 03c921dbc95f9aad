"""The Avellaneda-Stoikov ladder as one compiled kernel: scalars in, int64 quote rows out (no Python objects).

:func:`quote_kernel` is the only implementation of the quoting math of
:class:`~.avellaneda_stoikov.AvellanedaStoikovStrategy`; both ``compute_quotes`` and ``quote_into`` run it. Per
(instrument, config) parameters are packed once by :func:`pack_parameters` into a float64 and an int64 array
(layouts in :mod:`.ladder_kernel`, shared with the other models). It reproduces the Instrument's rounding exactly
(``bid_ticks``/``ask_ticks``/``lots_floor``: the same float operations in the same order) and Python's arithmetic
exactly (``sigma ** 2`` through ``pow``, time to expiry correctly rounded like Python's ``int / int``), so it returns
what the pure-Python strategy returned, compiled or not.

Every integer stays inside int64: tick counts are checked to lie within +-TICK_RANGE before conversion, room in
lots is capped at LOT_CAP (at least the whole ladder), and :func:`pack_parameters` refuses configs whose ints
could overflow. Where Python's ints would have gone past that range (absurd inputs: a ladder more than 2**62 ticks
from zero) the kernel returns ERR_RANGE instead, as it does where Python's ``math.floor`` raised (NaN, inf).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.jit import kernel
from thalex_modular.platform.domain.quote_array import QuoteArray

from .ladder_kernel import (
    ERR_CAPACITY,
    ERR_FAIR_PRICE,
    ERR_POSITION,
    ERR_RANGE,
    ERR_RISK_MULTIPLIER,
    ERR_SIGMA,
    FP_FEE_FLOOR,
    FP_GAMMA,
    FP_HORIZON_S,
    FP_MAX_POSITION,
    FP_MAX_SKEW_USD,
    FP_MIN_HALF_USD,
    FP_ORDER_SIZE,
    FP_SIZE,
    FP_TICK_USD,
    FP_TWO,
    FP_VOLUME_TICK,
    IP_EXPIRY_REM_NS,
    IP_EXPIRY_S,
    IP_HAS_EXPIRY,
    IP_LEVEL_LOTS,
    IP_LEVELS,
    IP_MAX_CROSS_TICKS,
    IP_MAX_LEVEL_LOTS,
    IP_MIN_LOTS,
    IP_MIN_SPREAD_TICKS,
    IP_SPACING_TICKS,
    LOT_CAP,
    QUOTE_KERNEL_SIGNATURE,
    TICK_RANGE,
    capped_skew,
    check_inputs,
    floored_half,
    ladder_kernel,
    time_left_s,
)

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
    "QUOTE_KERNEL_SIGNATURE",
    "TICK_RANGE",
    "pack_parameters",
    "quote_kernel",
]

_MAX_CONFIG_TICKS = 2**31  # min_spread / max_cross / spacing bound: level * spacing and the limits stay << 2**63
_MAX_LEVELS = 2**16
_NS = 1_000_000_000
# largest sigma whose square (Python: pow) is finite; Python raises OverflowError past it, the kernel ERR_RANGE
_MAX_SIGMA_USD = 1.3407807929942596e154
_BPS = 1e-4  # one basis point as a fraction


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
    err = check_inputs(out, ip, fair_price, position, sigma_per_s, risk_multiplier)
    if err != 0:
        return err
    time_left = time_left_s(ip, fp[FP_HORIZON_S], now_ns)
    if time_left < 0.0:
        return 0  # on or after expiry

    gamma = fp[FP_GAMMA]
    sigma = sigma_per_s * fair_price  # USD per sqrt(second)
    if sigma > _MAX_SIGMA_USD:
        return ERR_RANGE
    sigma_sq = math.pow(sigma, fp[FP_TWO])

    # inventory shift mid - reservation (reservation = mid - q * (m gamma) * sigma**2 * T: the regime's multiplier m
    # scales the aversion to inventory), capped in ticks
    skew = capped_skew(fp, fair_price - (fair_price - position * (gamma * risk_multiplier) * sigma_sq * time_left))
    center = fair_price - skew
    # optimal_spread for fills of the order size Delta (Guéant): the spread terms take gamma * Delta
    risk = gamma * fp[FP_ORDER_SIZE]
    half = 0.5 * (risk * sigma_sq * time_left + (2.0 / risk) * math.log1p(risk / kappa_per_usd))
    half = floored_half(fp, half, fair_price, risk_multiplier)
    return ladder_kernel(out, fp, ip, best_bid_price, best_ask_price, position, center, half)


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
