"""`platform demo`: the trading core (A-S quoting, risk, reconciler, StateTracker) against the pessimistic
simulated exchange on a seeded synthetic market, with progress and a summary."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind
from thalex_modular.platform.use_cases.sim_session import SimSummary, build_sim_session
from thalex_modular.platform.use_cases.synthetic_market import SyntheticMarketConfig, generate_events

DEMO_INSTRUMENT = Instrument("BTC-PERPETUAL", InstrumentKind.PERPETUAL, "BTCUSD", 1.0, 0.001, 0.001, "FBTCUSD")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the trading core on a seeded synthetic market (simulated fills) and print a summary"
    )
    parser.add_argument("--events", type=int, default=50_000, help="market events to simulate (default 50000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the synthetic market (default 7)")
    parser.add_argument("--sigma-annual", type=float, default=0.6, help="annualised volatility (default 0.6)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.events <= 0:
        print(f"platform demo: --events must be > 0, was {args.events}", file=sys.stderr)
        return 2
    market = SyntheticMarketConfig(seed=args.seed, sigma_annual=args.sigma_annual)
    session = build_sim_session(DEMO_INSTRUMENT, market.start_ns)
    started = time.perf_counter()
    progress_every = max(1, args.events // 20)
    for i, event in enumerate(generate_events(DEMO_INSTRUMENT, market, args.events), start=1):
        session.on_ticker(event.ticker)
        if event.trade is not None:
            session.on_trade(event.trade)
        if i % progress_every == 0 or i == args.events:
            s = session.summary()
            print(
                f"[{100 * i // args.events:3d}%] events={i} fills={s.stats.fills} position={s.position:+.3f} BTC "
                f"pnl={s.total_pnl_usd:+.2f} USD regime={s.regime_label}",
                file=sys.stderr,
                flush=True,
            )
    print_summary(session.summary(), time.perf_counter() - started)
    return 0


def print_summary(s: SimSummary, elapsed_s: float) -> None:
    st = s.stats
    lines = [
        f"tickers={st.tickers} public_trades={st.trades} requests_sent={st.requests_sent}",
        f"fills={st.fills} volume_btc={st.volume:.3f} max_abs_position_btc={st.max_abs_position:.3f}",
        f"position_btc={s.position:+.3f} average_price_usd={s.average_price_usd:.2f} mark_usd={s.mark_price_usd:.2f}",
        f"realised_pnl_usd={s.realised_pnl_usd:+.2f} unrealised_pnl_usd={s.unrealised_pnl_usd:+.2f} "
        f"fees_usd={st.fees_usd:.2f} total_pnl_usd={s.total_pnl_usd:+.2f}",
        f"per unit of volume (notional_usd={st.notional_usd:.0f}): gross_capture_bps={s.gross_capture_bps:+.3f} "
        f"fees_bps={s.fees_bps:.3f} net_bps={s.net_bps:+.3f} net_usd_per_btc={s.net_usd_per_unit:+.2f}",
        f"risk_denials={st.denials} {dict(sorted(st.denial_limits.items()))} resync_requests={st.resyncs}",
        f"open_orders={s.open_orders} regime={s.regime_label} elapsed_s={elapsed_s:.2f}",
    ]
    print("\n".join(lines))
