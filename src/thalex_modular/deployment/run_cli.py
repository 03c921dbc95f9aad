"""``platform run``: one instrument, one process, shadow or live.

    platform run --mode shadow|live --network local|test|prod --instrument BTC-PERPETUAL [--config FILE]
                 [--emulator-url URL] [--duration-s N]

Prints a status line (position, PnL, open quotes, regime, why quoting is held) to stderr every
``status_interval_s``. SIGINT/SIGTERM stop cleanly: quotes pulled (cancel_session live, cancel_all shadow),
connection closed, exit code 0. On a crash cancel-on-disconnect pulls the live quotes. Live mode without credentials
exits 2 with a message naming ``THALEX_KEY_ID`` and ``THALEX_PRIVATE_KEY_PATH``; credentials are never printed.
A live session that ends for good (a later login refused: a revoked key) stops the run with exit code 1.

When the kill switch fires (loss, drawdown, position past its limit, repeated rejects or resyncs) every quote is
pulled and the instrument stays paused; ``kill -USR1 <pid>`` is the operator's resume.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TextIO

from thalex_modular.deployment.cli_errors import UsageError
from thalex_modular.deployment.config import ConfigError, RunConfig, load_run_config
from thalex_modular.deployment.endpoints import EndpointUnreachable, probe
from thalex_modular.deployment.order_sizes import OrderSizeError, fit_order_sizes
from thalex_modular.deployment.summary import add_json_flag

__all__ = ["register", "run", "run_command"]

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` verb."""
    parser = subparsers.add_parser("run", help="quote one instrument in shadow or live mode (no Ray)")
    parser.add_argument("--mode", choices=["shadow", "live"], required=True,
                        help="shadow: simulated fills on live public data; live: real orders")
    parser.add_argument("--network", choices=["local", "test", "prod"], required=True,
                        help="local = the emulator at --emulator-url")
    parser.add_argument("--instrument", default=None, help="instrument name, e.g. BTC-PERPETUAL")
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML, YAML or JSON file (`platform config example` prints one)")
    parser.add_argument("--emulator-url", default=None, help="websocket URL of the emulator for --network local")
    parser.add_argument("--duration-s", type=float, default=None, help="stop after this many seconds")
    add_json_flag(parser)
    parser.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``platform run``: exit code 0 on a clean stop, 2 on a configuration or credentials error."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    flags = {
        "mode": args.mode,
        "network": args.network,
        "instrument": args.instrument,
        "duration_s": args.duration_s,
        "connection.emulator_url": args.emulator_url,
    }
    try:
        config = load_run_config(args.config, os.environ, flags)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return asyncio.run(run(config, summary=sys.stdout if args.json else None))


async def run(config: RunConfig, out: TextIO = sys.stderr, stop: asyncio.Event | None = None,
              summary: TextIO | None = None) -> int:
    """Run until ``stop`` is set, SIGINT/SIGTERM, or ``config.duration_s``; returns the exit code. ``summary``: where
    the final status goes as one JSON object (``--json``), besides the status lines on ``out``."""
    from thalex_modular.deployment.instrument_runtime import CredentialsMissing, build_runtime
    from thalex_modular.deployment.venue_check import VenueError, listed_instruments
    from thalex_modular.platform.adapters.exchanges.thalex.errors import CredentialsError, ThalexError

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        try:
            await probe(config.url)
        except EndpointUnreachable as exc:
            print(f"platform run: {exc}", file=out)
            return 1
        try:  # the instrument listed, and the sizes it takes, before seconds of compiling the tick path
            (instrument,) = await listed_instruments(config, [config.instrument])
            config = fit_order_sizes(config, instrument)
        except (VenueError, OrderSizeError) as exc:
            print(f"platform run: {exc}", file=out)
            return 2
        try:
            runtime = await build_runtime(config)
        except (CredentialsMissing, CredentialsError, OrderSizeError) as exc:
            print(f"platform run: {exc}", file=out)
            return 2
        except (ThalexError, TimeoutError, OSError) as exc:
            detail = str(exc) or ("no answer" if isinstance(exc, TimeoutError) else type(exc).__name__)
            print(f"platform run: cannot start {config.mode.value} on {config.url}: {detail}", file=out)
            return 1
        print(f"platform run: {config.mode.value} {config.instrument} on {config.network.value} ({config.url})",
              file=out)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            loop.add_signal_handler(signal.SIGUSR1, runtime.service.controls.resume)
            installed.append(signal.SIGUSR1)
        failed = loop.create_task(runtime.session.wait_failed(), name="session-failure")
        stopping = loop.create_task(stop.wait(), name="stop")
        code = 0
        try:
            deadline = None if config.duration_s is None else loop.time() + config.duration_s
            while not stop.is_set():
                timeout = config.status_interval_s
                if deadline is not None:
                    timeout = min(timeout, max(0.0, deadline - loop.time()))
                await asyncio.wait({failed, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if failed.done():
                    print(f"platform run: the {config.mode.value} session ended for good: {failed.result()}",
                          file=out, flush=True)
                    code = 1
                    break
                print(runtime.status().line(), file=out, flush=True)
                if deadline is not None and loop.time() >= deadline:
                    break
        finally:
            for task in (failed, stopping):
                task.cancel()
            await runtime.stop()
            final = runtime.status()
            print(f"platform run: stopped; {final.line()}", file=out, flush=True)
            if summary is not None:
                print(json.dumps({**dataclasses.asdict(final), "exit_code": code}, sort_keys=True), file=summary,
                      flush=True)
        return code
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
