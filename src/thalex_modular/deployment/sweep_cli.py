"""`platform sweep`: an Optuna study of backtests fanned out over the Ray cluster, walk-forward validated.

    platform sweep --instrument NAME --from TIME --to TIME --trials N --space FILE [--parallel K]
                   [--objective pnl|sharpe|mqp|pnl,drawdown …] [--storage URL] [--study-name NAME]
                   [--address auto|HOST:PORT|ray://…] [--oos-share 0.25] [--config BASE] [--out DIR]

The last ``--oos-share`` of the range is held out: the study optimises on the rest and every best trial is re-run
on it. Writes ``DIR/best.toml`` (a run config ``platform run``, ``deploy`` and ``backtest`` read), one
``DIR/pareto-<trial>.toml`` per Pareto-front trial of a multi-objective study, ``DIR/report.html`` (offline) and
``DIR/summary.json``. Exit 2 for usage errors (bad flags, space file, storage URL, no data), 1 when the work fails.
docs/sweeps.md describes the design and the space file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from thalex_modular.deployment.cli_errors import CliError, UsageError
from thalex_modular.deployment.db_target import DB_HELP, db_arg
from thalex_modular.deployment.time_args import time_arg
from thalex_modular.platform.adapters.storage.factory import make_storage
from thalex_modular.platform.domain.storage import StorageError
from thalex_modular.platform.use_cases.backtest import NoHistory, UnknownInstrument, backtest_instrument
from thalex_modular.platform.use_cases.backtest.source import HistoryRange

#: As ``platform backtest``: the embedded store's DuckDB memory limit while the windows are read.
EMBEDDED_MEMORY_LIMIT_MB = 64


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sweep", help="an Optuna parameter sweep of backtests on the Ray cluster")
    p.add_argument("--instrument", required=True, help="instrument name, e.g. BTC-PERPETUAL")
    p.add_argument("--from", dest="from_ns", required=True, metavar="TIME", type=time_arg("--from", "s"),
                   help="start of the range, UTC: ISO 8601 or epoch (bare numbers are seconds)")
    p.add_argument("--to", dest="to_ns", required=True, metavar="TIME", type=time_arg("--to", "s"),
                   help="end of the range (exclusive), same formats")
    p.add_argument("--trials", type=int, required=True, help="finished trials the study should hold")
    p.add_argument("--space", type=Path, required=True, help="the search space file (examples/sweep_space.toml)")
    p.add_argument("--parallel", type=int, default=None, help="trials at once (default: the cluster's CPUs)")
    p.add_argument("--objective", default="pnl",
                   help="pnl, sharpe, mqp, drawdown, inventory_std; several comma-separated: a Pareto front "
                        "(default pnl)")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="journal:PATH, sqlite:///PATH or postgresql://… (default: in memory)")
    p.add_argument("--study-name", default=None, help="the study's name in the storage (default sweep-INSTRUMENT)")
    p.add_argument("--address", default=None,
                   help="Ray cluster: auto, HOST:PORT or ray://… (default: a local Ray started for the sweep)")
    p.add_argument("--oos-share", type=float, default=0.25,
                   help="share of the range held out as the out-of-sample window (0: none; default 0.25)")
    p.add_argument("--mode", choices=["tick", "bar"], default="tick", help="history mode (default tick)")
    p.add_argument("--config", type=Path, default=None, help="the base run config the trials vary")
    p.add_argument("--db", metavar="DSN", type=db_arg, help=f"history store: {DB_HELP}")
    p.add_argument("--data-dir", type=Path, help="directory of the embedded store")
    p.add_argument("--seed", type=int, default=0, help="the sampler's and every backtest's seed (default 0)")
    p.add_argument("--steps", type=int, default=4, help="intermediate results per trial, for pruning (default 4)")
    p.add_argument("--no-prune", action="store_true", help="run every trial to its end")
    p.add_argument("--out", type=Path, default=Path("sweep-out"), help="where the outputs go (default sweep-out)")
    p.set_defaults(handler=run_sweep_command)


def _check(args: argparse.Namespace) -> None:
    if args.to_ns <= args.from_ns:
        raise UsageError("invalid `--to`: must be after --from")
    if args.trials < 1:
        raise UsageError(f"invalid `--trials`: must be >= 1, was {args.trials}")
    if args.parallel is not None and args.parallel < 1:
        raise UsageError(f"invalid `--parallel`: must be >= 1, was {args.parallel}")
    if args.steps < 1:
        raise UsageError(f"invalid `--steps`: must be >= 1, was {args.steps}")
    if not 0.0 <= args.oos_share < 1.0:
        raise UsageError(f"invalid `--oos-share`: must be in [0, 1), was {args.oos_share}")


def run_sweep_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Handler of ``platform sweep``."""
    from thalex_modular.deployment.config import ConfigError
    from thalex_modular.sweeps.configs import TrialConfigs
    from thalex_modular.sweeps.objectives import parse_objectives
    from thalex_modular.sweeps.space import SpaceError, load_space
    from thalex_modular.sweeps.storage import StorageUrlError, open_storage
    from thalex_modular.sweeps.walk_forward import split_ns

    _check(args)
    try:
        space = load_space(args.space)
        objectives = parse_objectives(args.objective)
        storage = open_storage(args.storage)
        configs = TrialConfigs(args.config, args.instrument, backtest_instrument(args.instrument), args.mode)
        base = configs.run_config({})
    except (SpaceError, StorageUrlError, ConfigError, UnknownInstrument) as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(f"invalid `--objective`: {exc}") from None
    chunk_ns = base.backtest.chunk_s * 1_000_000_000
    split = split_ns(args.from_ns, args.to_ns, args.oos_share)
    train = HistoryRange(args.instrument, args.from_ns, split, args.mode, chunk_ns, base.backtest.bar_volume_share)
    oos = (HistoryRange(args.instrument, split, args.to_ns, args.mode, chunk_ns, base.backtest.bar_volume_share)
           if split < args.to_ns else None)
    windows = asyncio.run(_load(args, train, oos))
    from thalex_modular.deployment.sweep_execute import SweepRequest, execute

    request = SweepRequest(args=args, space=space, objectives=objectives, storage=storage, configs=configs,
                           train=windows[0], oos=windows[1])
    return execute(request, out or sys.stdout)


async def _load(args: argparse.Namespace, train: HistoryRange, oos: HistoryRange | None) -> tuple[Any, Any]:
    from thalex_modular.sweeps.history import load_window

    storage = make_storage(args.db, data_dir=args.data_dir, embedded_memory_limit_mb=EMBEDDED_MEMORY_LIMIT_MB)
    try:
        await storage.open()
        train_window = await load_window(storage, train)
        try:
            oos_window = await load_window(storage, oos) if oos is not None else None
        except NoHistory as exc:
            raise UsageError(f"the out-of-sample window holds no data: {exc}") from None
        return train_window, oos_window
    except NoHistory as exc:
        raise UsageError(str(exc)) from None
    except StorageError as exc:
        raise CliError(f"storage failed: {exc}") from None
    finally:
        await storage.close()


def ensure_ray(address: str | None) -> bool:
    """Connect to Ray: the cluster at ``address`` (checked to answer first), or a new local one on loopback without
    a dashboard. True when this call connected (the caller shuts it down); False when Ray was already up.

    Raises:
        CliError: nothing answers at ``address``.
    """
    if address is None:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported (RAY_NOTES)
    import ray

    if ray.is_initialized():
        return False
    if address is not None:
        from thalex_modular.deployment.status_cli import DeployError, init_ray

        try:
            init_ray(address)
        except DeployError as exc:
            raise CliError(str(exc)) from None
        return True
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    return True
