"""How the background liquidity providers price and size their quotes (shared by the live agents and the
synthetic top-of-book of the candle history). Prices USD on the tick grid, amounts in the coin on the
volume grid: bids round down, asks round up, amounts down (never to the nearest)."""

from __future__ import annotations

import math

from .config import AgentConfig
from .instruments import InstrumentSpec

_EPS = 1e-9

Level = tuple[float, float]  # (price USD, amount coin)


def floor_to(value: float, step: float) -> float:
    """Largest multiple of ``step`` <= value (with a float tolerance), rounded to 10 decimals."""
    return round(math.floor(value / step + _EPS) * step, 10)


def ceil_to(value: float, step: float) -> float:
    """Smallest multiple of ``step`` >= value (with a float tolerance), rounded to 10 decimals."""
    return round(math.ceil(value / step - _EPS) * step, 10)


def half_spread_usd(spec: InstrumentSpec, fair_usd: float, cfg: AgentConfig) -> float:
    """Distance from fair to the first level, USD: bps of fair (options: at least N ticks)."""
    if spec.type == "perpetual":
        return fair_usd * cfg.lp_half_spread_bps_perp * 1e-4
    if spec.type == "future":
        return fair_usd * cfg.lp_half_spread_bps_future * 1e-4
    return max(fair_usd * cfg.lp_half_spread_bps_option * 1e-4, cfg.lp_option_min_half_spread_ticks * spec.tick_size)


def level_step_usd(spec: InstrumentSpec, fair_usd: float, cfg: AgentConfig) -> float:
    """Extra distance per deeper level, USD (options: 10x the bps, at least one tick)."""
    if spec.type == "option":
        return max(fair_usd * cfg.lp_level_step_bps * 10 * 1e-4, spec.tick_size)
    return max(fair_usd * cfg.lp_level_step_bps * 1e-4, spec.tick_size)


def level_amount(spec: InstrumentSpec, ref_price_usd: float, cfg: AgentConfig, level: int) -> float:
    """Quoted amount (coin) at ``level`` (0 = best): perpetual/future ``lp_size_usd`` of notional at the
    reference (underlying) price, options 5 x min amount, growing by half per level; on the volume grid and
    at least ``min_order_amount``."""
    scale = 1.0 + 0.5 * level
    option = spec.type == "option"
    raw = 5 * spec.min_order_amount * scale if option else cfg.lp_size_usd / ref_price_usd * scale
    return max(floor_to(raw, spec.volume_tick_size), spec.min_order_amount)


def quote_levels(
    spec: InstrumentSpec, fair_usd: float, ref_price_usd: float, cfg: AgentConfig, n_levels: int
) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """(bids best first, asks best first) around ``fair_usd``. Never crossed (best bid < best ask), prices
    distinct and on the grid, bids at least one tick (levels that would be <= 0 are dropped)."""
    tick = spec.tick_size
    hs = half_spread_usd(spec, fair_usd, cfg)
    step = level_step_usd(spec, fair_usd, cfg)
    bids: list[Level] = []
    asks: list[Level] = []
    for lvl in range(n_levels):
        amount = level_amount(spec, ref_price_usd, cfg, lvl)
        bid = floor_to(fair_usd - hs - lvl * step, tick)
        if bids and bid >= bids[-1][0]:
            bid = round(bids[-1][0] - tick, 10)
        if bid >= tick - _EPS:
            bids.append((bid, amount))
        ask = ceil_to(fair_usd + hs + lvl * step, tick)
        if asks and ask <= asks[-1][0]:
            ask = round(asks[-1][0] + tick, 10)
        asks.append((ask, amount))
    return tuple(bids), tuple(asks)
