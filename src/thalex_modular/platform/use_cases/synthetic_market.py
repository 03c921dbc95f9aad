"""A small, seeded synthetic market for demos, benchmarks and tests: irregularly spaced tickers and public
trades around a geometric random walk. Deterministic for a seed; no I/O.

Units: prices USD, amounts in the underlying, times int ns, volatility annualised on input.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from thalex_modular.platform.domain.entities import Instrument, Ticker, Trade
from thalex_modular.platform.domain.enums import Side

SECONDS_PER_YEAR = 365.0 * 24.0 * 3600.0


def annual_to_per_second_vol(sigma_annual: float) -> float:
    """Annualised log-return vol → per sqrt(second): divide by sqrt(seconds per year)."""
    return sigma_annual / math.sqrt(SECONDS_PER_YEAR)


@dataclass(frozen=True, slots=True)
class SyntheticMarketConfig:
    seed: int = 7
    start_ns: int = 1_700_000_000 * 1_000_000_000
    start_price_usd: float = 100_000.0
    sigma_annual: float = 0.6
    mean_ticker_interval_s: float = 0.25
    half_spread_ticks: int = 3
    trade_probability: float = 0.35
    mean_trade_amount: float = 0.05
    mean_trade_depth_ticks: float = 6.0


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """One step of the synthetic feed: a ticker, possibly followed by a public trade at the same time."""

    ticker: Ticker
    trade: Trade | None


def generate_events(instrument: Instrument, config: SyntheticMarketConfig, count: int) -> Iterator[MarketEvent]:
    """Yield ``count`` market events. Inter-arrival times are exponential, so the series is irregular in time."""
    rng = np.random.default_rng(config.seed)
    gaps_s = rng.exponential(config.mean_ticker_interval_s, size=count)
    shocks = rng.standard_normal(size=count)
    trade_draws = rng.random(size=count)
    side_draws = rng.random(size=count)
    depth_draws = rng.exponential(config.mean_trade_depth_ticks, size=count)
    trade_amounts = rng.exponential(config.mean_trade_amount, size=count)
    sigma_per_s = annual_to_per_second_vol(config.sigma_annual)
    tick = instrument.tick_size
    log_price = math.log(config.start_price_usd)
    ts_ns = config.start_ns
    for i in range(count):
        gap_s = float(gaps_s[i])
        ts_ns += max(1, int(gap_s * 1e9))
        log_price += sigma_per_s * math.sqrt(gap_s) * float(shocks[i]) - 0.5 * sigma_per_s**2 * gap_s
        mid = math.exp(log_price)
        mid_ticks = round(mid / tick)
        bid_ticks = mid_ticks - config.half_spread_ticks
        ask_ticks = mid_ticks + config.half_spread_ticks
        bid = instrument.price(bid_ticks)
        ask = instrument.price(ask_ticks)
        ticker = Ticker(
            instrument.instrument_name,
            instrument.price(mid_ticks),
            ts_ns,
            ts_ns,
            best_bid_price=bid,
            best_bid_amount=1.0,
            best_ask_price=ask,
            best_ask_amount=1.0,
            index=mid,
        )
        trade: Trade | None = None
        if trade_draws[i] < config.trade_probability:
            taker = Side.BUY if side_draws[i] < 0.5 else Side.SELL
            depth = int(depth_draws[i])  # ticks beyond the touch the aggressor sweeps
            price_ticks = ask_ticks + depth if taker is Side.BUY else bid_ticks - depth
            amount = instrument.amount(max(1, instrument.lots_floor(float(trade_amounts[i]))))
            trade = Trade(instrument.instrument_name, instrument.price(price_ticks), amount, taker, ts_ns, ts_ns)
        yield MarketEvent(ticker, trade)
