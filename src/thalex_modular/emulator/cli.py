"""``platform emulator``: run the local Thalex exchange; ``platform emulator keygen --out DIR``: make login keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

import platformdirs

if TYPE_CHECKING:
    from thalex_modular.emulator.config import EmulatorConfig

__all__ = ["CONTROL_TOKEN_FILE_NAME", "register", "run_emulator"]

CONTROL_TOKEN_FILE_NAME: Final = "emulator-control-token"


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
    parser.add_argument("--keys", type=Path, default=None, help="keys.json with the accepted public keys (must exist)")
    parser.add_argument("--config", type=Path, default=None, help="TOML, YAML or JSON emulator config file")
    parser.add_argument("--control", action="store_true", default=None,
                        help="accept emulator/* control methods from clients presenting the control token")
    parser.add_argument("--control-token-file", type=Path, default=None,
                        help=f"the control token (created 0600 if missing; default with --control: "
                             f"<user data dir>/{CONTROL_TOKEN_FILE_NAME})")
    parser.set_defaults(handler=_run_cmd)
    sub = parser.add_subparsers(dest="emulator_verb", metavar="SUBVERB")
    keygen = sub.add_parser("keygen", help="create an API key pair and add it to DIR/keys.json")
    keygen.add_argument("--out", type=Path, required=True, help="directory for the key files")
    keygen.add_argument("--account", default="A000000001", help="account the key logs in to")
    keygen.add_argument("--force", action="store_true", help="replace a private key already in DIR")
    keygen.set_defaults(handler=_keygen_cmd)


def _keygen_cmd(args: argparse.Namespace) -> int:
    from thalex_modular.deployment.cli_errors import UsageError
    from thalex_modular.emulator.keys import keygen_to_dir, remove_key

    old_kid_file = args.out / "key_id"
    old_kid = old_kid_file.read_text().strip() if args.force and old_kid_file.is_file() else None
    try:
        key = keygen_to_dir(args.out, account_number=args.account, force=args.force)
    except OSError as exc:  # an existing key without --force, a directory others may read, a symlink
        raise UsageError(str(exc)) from None
    print(f"key id {key.kid} written to {args.out} (private_key.pem, public_key.pem, key_id, keys.json)")
    if old_kid and old_kid != key.kid and remove_key(args.out / "keys.json", old_kid):
        print(f"replaced key id {old_kid}: removed from {args.out / 'keys.json'} (logins with it now fail)",
              file=sys.stderr)
    return 0


def _run_cmd(args: argparse.Namespace) -> int:
    from thalex_modular.deployment.cli_errors import CliError, UsageError
    from thalex_modular.deployment.config import ConfigError
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
                "control_token_file": args.control_token_file,
            },
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if config.control_enabled and config.control_token is None and config.control_token_file is None:
        default = Path(platformdirs.user_data_dir("thalex-modular")) / CONTROL_TOKEN_FILE_NAME
        config = config.model_copy(update={"control_token_file": default})
    try:
        asyncio.run(run_emulator(config))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {config.port} on {config.host} is already in use (another emulator?); choose "
                             "another --port, or --port 0 for any free one") from None
        raise CliError(f"cannot serve on {config.host}:{config.port}: {exc.strerror or exc}", 2) from None
    except ValueError as exc:  # a control token file others may read
        raise UsageError(str(exc)) from None
    return 0


async def run_emulator(config: EmulatorConfig, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM; prints ``emulator ready ws://HOST:PORT/ws/api/v2`` once listening."""
    from thalex_modular.emulator.runtime import build_server

    server = build_server(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the ready line: a client may stop us as soon as it reads it
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if server.control_token is not None:  # say where the token is, never the token
        source = config.control_token_file or "the configuration"
        print(f"emulator control API on: authenticate with the token in {source}", flush=True)
    print(f"emulator ready {server.url}", flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("emulator stopped", flush=True)
