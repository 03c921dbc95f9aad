"""`platform backtest`: replay stored history through the live code path (SimSession) and report.

    platform backtest --instrument NAME --from TIME --to TIME [--mode tick|bar] [--db DSN] [--config FILE]
                      [--seed N] [--report out.html] [--json out.json] [--csv PREFIX]

The config file is the one ``platform run`` reads (strategy, risk, the ``[shadow]`` simulator section, and
``[backtest]``). A progress bar on stderr; a one-screen summary on stdout whose last line is machine-readable.
Exit 2 for usage errors (bad config, unknown instrument, no data in the range), 1 when the store fails.
A backtest has no exchange connection and reads no credentials (LESSONS 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from thalex_modular.deployment.cli_errors import UsageError
from thalex_modular.deployment.config import ConfigError, RunConfig, load_run_config
from thalex_modular.deployment.core_settings import core_parameters, sim_match_config
from thalex_modular.deployment.db_target import DB_HELP, StoreTarget, resolve_store
from thalex_modular.deployment.time_args import parse_time_ns
from thalex_modular.platform.adapters.storage.factory import make_storage
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import Storage, StorageError
from thalex_modular.platform.use_cases.backtest import (
    BacktestConfig,
    BacktestResult,
    HistoryRange,
    NoHistory,
    UnknownInstrument,
    backtest_from_storage,
    backtest_instrument,
    write_csv,
    write_json,
)
from thalex_modular.platform.use_cases.backtest.report import write_report
from thalex_modular.platform.use_cases.backtest.runner import DEFAULT_DRIVER, DRIVERS

_NS: int = 1_000_000_000
#: The embedded store's DuckDB memory limit during a backtest: its buffer pool would otherwise keep every page the
#: replay read (memory growing with the range); a chunk's reads need far less.
EMBEDDED_MEMORY_LIMIT_MB: int = 64


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("backtest", help="replay stored history through the quoting core and the simulator")
    p.add_argument("--instrument", required=True, help="instrument name, e.g. BTC-PERPETUAL")
    p.add_argument("--from", dest="from_", required=True, metavar="TIME",
                   help="start, UTC: ISO date/time (2024-11-28, 2024-11-28T12:00) or Unix seconds")
    p.add_argument("--to", required=True, metavar="TIME", help="end (exclusive), same formats as --from")
    p.add_argument("--mode", choices=["tick", "bar"], default="tick",
                   help="tick: stored quotes + trades; bar: 1m OHLCV only (default tick)")
    p.add_argument("--db", metavar="DSN", help=DB_HELP)
    p.add_argument("--data-dir", type=Path, help="directory of the embedded store (default: user data dir)")
    p.add_argument("--config", type=Path, default=None, help="the run config file (TOML or JSON) platform run reads")
    p.add_argument("--seed", type=int, default=0, help="seed of the run's random choices (default 0)")
    p.add_argument("--report", type=Path, default=None, metavar="OUT.html", help="write the HTML report here")
    p.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="write the figures as JSON here")
    p.add_argument("--csv", type=Path, default=None, metavar="PREFIX",
                   help="write PREFIX.metrics.csv, PREFIX.fills.csv, PREFIX.samples.csv")
    p.add_argument("--driver", choices=list(DRIVERS), default=DEFAULT_DRIVER,
                   help=f"replay loop: fast (compiled) or reference (SimSession); the same decisions "
                        f"(default {DEFAULT_DRIVER})")
    p.set_defaults(handler=run_backtest_command)


def _usage(message: str) -> int:
    print(f"platform backtest: {message}", file=sys.stderr)
    return 2


def build_config(args: argparse.Namespace) -> tuple[RunConfig, BacktestConfig]:
    """The run config (file, ``THALEX_*`` env, flags) and the backtest it describes.

    Raises:
        ConfigError: invalid config; InvalidValue: bad --from/--to; UnknownInstrument: no trading rules for it.
    """
    run_config = load_run_config(args.config, os.environ, {"instrument": args.instrument})
    try:
        start_ns, end_ns = parse_time_ns(args.from_, "--from", "s"), parse_time_ns(args.to, "--to", "s")
    except UsageError as exc:
        raise InvalidValue(str(exc)) from None
    if end_ns <= start_ns:
        raise InvalidValue(f"invalid `--to`: must be after --from ({args.from_}), was {args.to}")
    instrument = backtest_instrument(run_config.instrument)
    history = HistoryRange(
        run_config.instrument, start_ns, end_ns, args.mode, run_config.backtest.chunk_s * _NS,
        run_config.backtest.bar_volume_share,
    )
    return run_config, BacktestConfig(instrument, history, core_parameters(run_config),
                                      sim_match_config(run_config.shadow))


def run_backtest_command(args: argparse.Namespace) -> int:
    """Handler of ``platform backtest``."""
    try:
        _, config = build_config(args)
        store = resolve_store(args.db, args.data_dir, must_exist=True)
    except (ConfigError, InvalidValue, UnknownInstrument) as exc:
        return _usage(str(exc))
    except UsageError as exc:
        return _usage(str(exc))
    return asyncio.run(_run(args, config, store))


async def _known_instrument(storage: Storage, config: BacktestConfig) -> None:
    tables = ("quotes", "trades") if config.history.mode == "tick" else ("ohlcv_1m",)
    stored = sorted({name for table in tables for name in await storage.instruments(table)})
    if config.instrument.instrument_name not in stored:
        raise UnknownInstrument(
            f"unknown instrument {config.instrument.instrument_name!r}: the store holds no "
            f"{config.history.mode} history of it (it has: {', '.join(stored) or 'none'})"
        )


async def _run(args: argparse.Namespace, config: BacktestConfig, store: StoreTarget,
               out: TextIO | None = None) -> int:
    out = out or sys.stdout
    storage = make_storage(store.dsn or store.path, embedded_memory_limit_mb=EMBEDDED_MEMORY_LIMIT_MB)
    bar: Any = None  # the progress bar: seconds of history replayed, events in its postfix
    span_start_ns = 0
    events = 0

    def on_span(lo: int, hi: int) -> None:
        nonlocal bar, span_start_ns
        span_start_ns = lo
        bar = tqdm(total=round((hi - lo) / _NS), unit="s", desc=f"backtest {config.history.mode}",
                   file=sys.stderr, dynamic_ncols=True)

    def on_progress(n: int, ts_ns: int) -> None:
        nonlocal events
        events += n
        if bar is not None:
            bar.update(round((ts_ns - span_start_ns) / _NS) - bar.n)
            bar.set_postfix_str(f"events={events:,}")

    created_ns = time.time_ns()
    try:
        await storage.open()
        await _known_instrument(storage, config)
        result = await backtest_from_storage(storage, config, args.seed, on_progress=on_progress, on_span=on_span,
                                             driver=args.driver)
        await storage.save_run(result.to_run(created_ns, time.time_ns()))
    except (NoHistory, UnknownInstrument) as exc:
        return _usage(str(exc))
    except StorageError as exc:
        print(f"platform backtest: storage failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
        await storage.close()
    written = _write_outputs(args, result)
    print_summary(result, written, out)
    return 0


def _write_outputs(args: argparse.Namespace, result: BacktestResult) -> list[Path]:
    written: list[Path] = []
    if args.json is not None:
        write_json(result, args.json)
        written.append(args.json)
    if args.csv is not None:
        written.extend(write_csv(result, args.csv))
    if args.report is not None:
        write_report(result, args.report)
        written.append(args.report)
    return written


def print_summary(result: BacktestResult, written: list[Path], out: TextIO) -> None:
    """One screen: identity, PnL decomposition, risk, execution quality; last line machine-readable."""
    m = result.metrics
    lines = [
        f"run_id={result.run_id} seed={result.seed} instrument={result.config['instrument']} "
        f"mode={result.config['history']['mode']} feed_latency_ms={m.feed_latency_ms:.3f}",
        f"pnl_usd={m.pnl_usd:+.2f} = spread_capture_usd={m.spread_capture_usd:+.2f} "
        f"+ inventory_pnl_usd={m.inventory_pnl_usd:+.2f} - fees_usd={m.fees_usd:.2f} + funding_usd={m.funding_usd:.2f}",
        result.funding_note,
        f"max_drawdown_usd={m.max_drawdown_usd:.2f} sharpe={m.sharpe:.2f} sortino={m.sortino:.2f}",
        f"fills={m.fills} volume={m.volume:.4f} notional_usd={m.notional_usd:,.0f} fill_ratio={m.fill_ratio:.3f} "
        f"requests={m.requests} inserts={m.inserts} risk_denials={m.denials}",
        f"markout_bps 1s={m.markout_1s_bps:+.3f} 10s={m.markout_10s_bps:+.3f} 60s={m.markout_60s_bps:+.3f}",
        f"inventory mean={m.inventory_mean:+.4f} std={m.inventory_std:.4f} max_abs={m.inventory_max_abs:.4f} "
        f"half_life_s={m.inventory_half_life_s:.1f} final={m.position_final:+.4f}",
        f"quote_uptime={m.quote_uptime:.3f} (bid {m.bid_uptime:.3f}, ask {m.ask_uptime:.3f}) "
        f"mqp_score={m.mqp_score:.4f} read_s={result.read_s:.2f}",
    ]
    lines.extend(f"wrote {path}" for path in written)
    lines.append(result.summary_line())
    print("\n".join(lines), file=out)
