"""``platform emulator``: run the local Thalex exchange; ``platform emulator keygen --out DIR``: make login keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from thalex_modular.emulator.config import EmulatorConfig

__all__ = ["register", "run_emulator"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulator`` verb (and its ``keygen`` sub-verb) to the ``platform`` CLI."""
    parser = subparsers.add_parser(
        "emulator",
        help="run the local Thalex exchange emulator",
        description="Run a local Thalex exchange at ws://HOST:PORT/ws/api/v2 (same JSON-RPC API as testnet).",
    )
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default 8490; 0 = any free port)")
    parser.add_argument("--seed", type=int, default=None, help="market seed (default 1)")
    parser.add_argument("--speed", type=float, default=None, help="sim time per wall second (default 1.0)")
    parser.add_argument("--keys", type=Path, default=None, help="keys.json with the accepted public keys")
    parser.add_argument("--config", type=Path, default=None, help="YAML/JSON emulator config file")
    parser.add_argument("--control", action="store_true", default=None, help="accept emulator/* control methods")
    parser.set_defaults(handler=_run_cmd)
    sub = parser.add_subparsers(dest="emulator_verb", metavar="SUBVERB")
    keygen = sub.add_parser("keygen", help="create an API key pair and add it to DIR/keys.json")
    keygen.add_argument("--out", type=Path, required=True, help="directory for the key files")
    keygen.add_argument("--account", default="A000000001", help="account the key logs in to")
    keygen.set_defaults(handler=_keygen_cmd)


def _keygen_cmd(args: argparse.Namespace) -> int:
    from thalex_modular.emulator.keys import keygen_to_dir

    key = keygen_to_dir(args.out, account_number=args.account)
    print(f"key id {key.kid} written to {args.out} (private_key.pem, public_key.pem, key_id, keys.json)")
    return 0


def _run_cmd(args: argparse.Namespace) -> int:
    from thalex_modular.emulator.config import load_config

    try:
        config = load_config(
            args.config,
            {
                "host": args.host,
                "port": args.port,
                "seed": args.seed,
                "speed": args.speed,
                "keys_file": args.keys,
                "control_enabled": args.control,
            },
        )
    except (ValueError, OSError) as exc:
        print(f"emulator: invalid configuration: {exc}", file=sys.stderr)
        return 2
    asyncio.run(run_emulator(config))
    return 0


async def run_emulator(config: EmulatorConfig, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM; prints ``emulator ready ws://HOST:PORT/ws/api/v2`` once listening."""
    from thalex_modular.emulator.runtime import build_server

    server = build_server(config)
    await server.start()
    print(f"emulator ready {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("emulator stopped", flush=True)
