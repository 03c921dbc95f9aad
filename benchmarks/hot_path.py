"""Hot path: one ticker update through StateTracker + RegimeAnalyzer + strategy + risk + reconciler.

Times ``QuotingCore.on_ticker`` (tracker queries, regime update, A-S quotes, risk checks, quote-by-diff) per
ticker over 100k synthetic tickers. The simulated exchange acknowledges and fills the planned orders between ticks
(untimed), so the reconciler works against real resting orders. Prints ``name=value`` figures.

Target on the 2-core machine: hot_path_median_us <= 15, hot_path_p99_us <= 50.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import numpy as np

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.use_cases.sim_session import build_sim_session
from thalex_modular.platform.use_cases.synthetic_market import SyntheticMarketConfig, generate_events

INSTRUMENT = Instrument("BTC-PERPETUAL", InstrumentKind.PERPETUAL, "BTCUSD", 1.0, 0.001, 0.001, "FBTCUSD")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=5_000)
    args = parser.parse_args()

    market = SyntheticMarketConfig(seed=11)
    events = list(generate_events(INSTRUMENT, market, args.updates + args.warmup))
    session = build_sim_session(INSTRUMENT, market.start_ns, sim_config=SimMatchConfig(
        order_entry_latency_ns=1_000_000, cancel_latency_ns=1_000_000, response_latency_ns=1_000_000))
    core = session.core
    samples = np.empty(args.updates, dtype=np.int64)
    request_counts = np.empty(args.updates, dtype=np.int64)
    requests = 0
    progress_every = max(1, len(events) // 10)
    gc.collect()
    gc.freeze()
    for i, event in enumerate(events):
        ticker = event.ticker
        session._advance(ticker.ts_local_ns)
        session._deliver(session.engine.on_ticker(ticker))
        now = session.clock.now_ns()
        t0 = time.perf_counter_ns()
        plan = core.on_ticker(ticker, now)
        core.after_sends()  # timed too: live runs it after the sends, but it is the tick's work all the same
        t1 = time.perf_counter_ns()
        session._execute(plan)
        if event.trade is not None:
            session.on_trade(event.trade)
        if i >= args.warmup:
            samples[i - args.warmup] = t1 - t0
            request_counts[i - args.warmup] = len(plan.requests)
            requests += len(plan.requests)
        if (i + 1) % progress_every == 0:
            print(f"hot_path: {i + 1}/{len(events)} updates", file=sys.stderr, flush=True)

    us = samples / 1_000.0
    summary = session.summary()
    print(f"hot_path_updates={args.updates}")
    print(f"hot_path_median_us={np.median(us):.2f}")
    print(f"hot_path_p99_us={np.percentile(us, 99):.2f}")
    print(f"hot_path_mean_us={us.mean():.2f}")
    print(f"hot_path_requests_per_update={requests / args.updates:.3f}")
    print(f"hot_path_fills={summary.stats.fills}")
    # where the median falls: ticks that send nothing vs ticks that amend/insert/cancel
    quiet = request_counts == 0
    print(f"hot_path_share_with_requests={1.0 - quiet.mean():.3f}")
    print(f"hot_path_median_us_no_requests={np.median(us[quiet]):.2f}")
    print(f"hot_path_median_us_with_requests={np.median(us[~quiet]):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
