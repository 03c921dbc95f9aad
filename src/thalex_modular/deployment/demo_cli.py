"""`platform demo`: the trading core (A-S quoting, risk, reconciler, StateTracker) against the pessimistic
simulated exchange on a seeded synthetic market, with progress and a summary."""

from __future__ import annotations

import argparse
import math
import time
from typing import TYPE_CHECKING, Any

from thalex_modular.platform.domain.entities import Instrument
from thalex_modular.platform.domain.enums import InstrumentKind

from .cli_errors import UsageError
from .progress import Progress
from .summary import add_json_flag, emit_summary

if TYPE_CHECKING:
    from thalex_modular.platform.use_cases.sim_session import SimSummary

DEMO_INSTRUMENT = Instrument("BTC-PERPETUAL", InstrumentKind.PERPETUAL, "BTCUSD", 1.0, 0.001, 0.001, "FBTCUSD")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the trading core on a seeded synthetic market (simulated fills) and print a summary"
    )
    parser.add_argument("--events", type=int, default=50_000, help="market events to simulate (default 50000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the synthetic market (default 7)")
    parser.add_argument("--sigma-annual", type=float, default=0.6,
                        help="annualised volatility, a share (0.6 = 60 %%/yr; default 0.6)")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def check_args(args: argparse.Namespace) -> None:
    """Raises UsageError naming the flag, the bound and the value."""
    if args.events <= 0:
        raise UsageError(f"invalid `--events`: must be > 0, was {args.events}")
    if not 0 <= args.seed < 2**63:
        raise UsageError(f"invalid `--seed`: must be >= 0, was {args.seed}")
    if not (math.isfinite(args.sigma_annual) and 0 < args.sigma_annual <= 10):
        raise UsageError(f"invalid `--sigma-annual`: must be a finite share > 0 and <= 10 (0.6 = 60 %/yr), "
                         f"was {args.sigma_annual}")


def run(args: argparse.Namespace) -> int:
    check_args(args)
    from thalex_modular.platform.use_cases.sim_session import build_sim_session  # numba: seconds, after the checks
    from thalex_modular.platform.use_cases.synthetic_market import SyntheticMarketConfig, generate_events

    market = SyntheticMarketConfig(seed=args.seed, sigma_annual=args.sigma_annual)
    session = build_sim_session(DEMO_INSTRUMENT, market.start_ns)
    started = time.perf_counter()
    progress = Progress("demo", total=args.events, unit="events")
    try:
        for i, event in enumerate(generate_events(DEMO_INSTRUMENT, market, args.events), start=1):
            session.on_ticker(event.ticker)
            if event.trade is not None:
                session.on_trade(event.trade)
            if i % 1000 == 0 or i == args.events:
                s = session.summary()
                progress.update(i - progress.done)
                progress.set_status(f"fills={s.stats.fills} position={s.position:+.3f} BTC "
                                    f"pnl={s.total_pnl_usd:+.2f} USD regime={s.regime_label}")
    finally:
        progress.close()
    summary = session.summary()
    elapsed_s = time.perf_counter() - started
    emit_summary(args, summary_lines(summary, elapsed_s), summary_data(summary, elapsed_s))
    return 0


def summary_lines(s: SimSummary, elapsed_s: float) -> list[str]:
    st = s.stats
    denials = ", ".join(f"{limit}={n}" for limit, n in sorted(st.denial_limits.items()))
    return [
        f"tickers={st.tickers} public_trades={st.trades} requests_sent={st.requests_sent}",
        f"fills={st.fills} volume_btc={st.volume:.3f} max_abs_position_btc={st.max_abs_position:.3f}",
        f"position_btc={s.position:+.3f} average_price_usd={s.average_price_usd:.2f} mark_usd={s.mark_price_usd:.2f}",
        f"realised_pnl_usd={s.realised_pnl_usd:+.2f} unrealised_pnl_usd={s.unrealised_pnl_usd:+.2f} "
        f"fees_usd={st.fees_usd:.2f} total_pnl_usd={s.total_pnl_usd:+.2f}",
        f"per unit of volume (notional_usd={st.notional_usd:.0f}): gross_capture_bps={s.gross_capture_bps:+.3f} "
        f"fees_bps={s.fees_bps:.3f} net_bps={s.net_bps:+.3f} net_usd_per_btc={s.net_usd_per_unit:+.2f}",
        f"risk_denials={st.denials}{f' ({denials})' if denials else ''} resync_requests={st.resyncs}",
        f"open_orders={s.open_orders} regime={s.regime_label} elapsed_s={elapsed_s:.2f}",
    ]


def summary_data(s: SimSummary, elapsed_s: float) -> dict[str, Any]:
    """The summary as JSON-ready values (every figure of :func:`summary_lines`)."""
    st = s.stats
    return {
        "tickers": st.tickers, "public_trades": st.trades, "requests_sent": st.requests_sent, "fills": st.fills,
        "volume_btc": st.volume, "max_abs_position_btc": st.max_abs_position, "position_btc": s.position,
        "average_price_usd": s.average_price_usd, "mark_usd": s.mark_price_usd, "realised_pnl_usd": s.realised_pnl_usd,
        "unrealised_pnl_usd": s.unrealised_pnl_usd, "fees_usd": st.fees_usd, "total_pnl_usd": s.total_pnl_usd,
        "notional_usd": st.notional_usd, "gross_capture_bps": s.gross_capture_bps, "fees_bps": s.fees_bps,
        "net_bps": s.net_bps, "net_usd_per_btc": s.net_usd_per_unit, "risk_denials": st.denials,
        "risk_denials_by_limit": dict(st.denial_limits), "resync_requests": st.resyncs, "open_orders": s.open_orders,
        "regime": s.regime_label, "elapsed_s": elapsed_s,
    }
