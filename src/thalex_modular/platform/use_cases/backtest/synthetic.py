"""A generated BTC-perpetual-like tick history (benchmarks and tests): exponential gaps, book-top updates and
trades around a random walk in ticks. Deterministic for a seed; vectorised, ``EVENT_DTYPE`` chunks.

Units: prices USD, amounts in the underlying, times int ns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.storage import QuoteRecord, TradeRecord, synthetic_trade_id

from .events import EVENT_DTYPE, QUOTE, TRADE


@dataclass(frozen=True, slots=True)
class TickHistoryConfig:
    """``mean_gap_ms``: mean exponential gap between events; ``trade_share``: share of events that are trades (the
    rest book-top updates); ``move_probability``: chance a book update moves the mid by one tick;
    ``through_probability``: chance a trade sweeps 1..``max_through_ticks`` ticks beyond the touch.
    ``funding_rate_24h``: the perpetual's funding rate on every book update (per 24 h, fraction of the index; NaN:
    the history carries no funding), moved by a normal step of ``funding_step_24h`` at each; the index is the mid
    less ``index_basis_ticks``."""

    seed: int = 11
    start_ns: int = 1_700_000_000 * 1_000_000_000
    start_price_usd: float = 100_000.0
    tick_size: float = 1.0
    mean_gap_ms: float = 25.0
    trade_share: float = 0.25
    move_probability: float = 0.3
    half_spread_ticks: int = 1
    mean_top_amount: float = 0.5
    mean_trade_amount: float = 0.02
    through_probability: float = 0.1
    max_through_ticks: int = 40
    funding_rate_24h: float = math.nan
    funding_step_24h: float = 0.0
    index_basis_ticks: int = 2


def tick_history(config: TickHistoryConfig, events: int, chunk_events: int = 250_000) -> Iterator[npt.NDArray[np.void]]:
    """``events`` events in chunks of at most ``chunk_events``, oldest first."""
    rng = np.random.default_rng(config.seed)
    ts = config.start_ns
    mid_ticks = round(config.start_price_usd / config.tick_size)
    tick = config.tick_size
    funding_rate = config.funding_rate_24h
    funding_rng = np.random.default_rng([config.seed, 1])  # its own draws: the market is the same with or without
    done = 0
    while done < events:
        n = min(chunk_events, events - done)
        out = np.empty(n, dtype=EVENT_DTYPE)
        gaps = np.maximum(1, (rng.exponential(config.mean_gap_ms * 1e6, n)).astype(np.int64))
        out["ts_ns"] = ts + np.cumsum(gaps)
        out["local_ns"] = 0  # no receive times: the replay sees each event its feed delay after it
        is_trade = rng.random(n) < config.trade_share
        steps = np.where(rng.random(n) < config.move_probability, rng.choice((-1, 1), n), 0)
        steps[is_trade] = 0
        mids = mid_ticks + np.cumsum(steps)
        out["kind"] = np.where(is_trade, TRADE, QUOTE)
        side = rng.choice((-1, 1), n).astype(np.int8)
        out["side"] = np.where(is_trade, side, 0)
        h = config.half_spread_ticks
        quote = ~is_trade
        for column in ("bid_price", "bid_amount", "ask_price", "ask_amount", "mark_price", "price", "amount",
                       "funding_rate_24h", "index_price"):
            out[column] = np.nan
        out["bid_price"][quote] = (mids[quote] - h) * tick
        out["ask_price"][quote] = (mids[quote] + h) * tick
        out["mark_price"][quote] = mids[quote] * tick
        out["bid_amount"][quote] = np.round(rng.exponential(config.mean_top_amount, quote.sum()), 3) + 0.001
        out["ask_amount"][quote] = np.round(rng.exponential(config.mean_top_amount, quote.sum()), 3) + 0.001
        depth = h + (rng.random(n) < config.through_probability) * rng.integers(1, config.max_through_ticks + 1, n)
        out["price"][is_trade] = ((mids + side * depth) * tick)[is_trade]
        out["amount"][is_trade] = np.round(rng.exponential(config.mean_trade_amount, is_trade.sum()), 3) + 0.001
        if funding_rate == funding_rate:
            rates = funding_rate + np.cumsum(funding_rng.normal(0.0, config.funding_step_24h, quote.sum()))
            out["funding_rate_24h"][quote] = rates
            out["index_price"][quote] = (mids[quote] - config.index_basis_ticks) * tick
            funding_rate = float(rates[-1]) if len(rates) else funding_rate
        ts = int(out["ts_ns"][-1])
        mid_ticks = int(mids[-1])
        done += n
        yield out


def history_records(
    instrument_name: str, events: npt.NDArray[np.void], feed_latency_ns: int | None = None
) -> list[QuoteRecord | TradeRecord]:
    """``events`` as the records ``platform data record`` stores (quotes and trades), to load a store with.
    ``feed_latency_ns``: each row's receive time after its exchange time (None: no exchange time on quotes, as
    a snapshot without one is filed)."""
    out: list[QuoteRecord | TradeRecord] = []
    delay = feed_latency_ns or 0
    for i, (ts, kind, side, bp, ba, ap, aa, mk, px, amt, rate, index, _) in enumerate(events.tolist()):
        if kind == QUOTE:
            exchange = ts if feed_latency_ns is not None else None
            filed = ts if exchange is not None else ts + delay
            out.append(QuoteRecord(instrument_name, filed, 0, bp, ba, ap, aa, mk, ts + delay, exchange, rate, index))
        else:
            trade_id = synthetic_trade_id(instrument_name, ts, px, amt, side, i)
            out.append(TradeRecord(instrument_name, ts, 0, trade_id, px, amt, side, ts + delay))
    return out
