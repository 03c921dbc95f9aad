"""The `platform` command line: one entry point, each verb a thin shell over use cases."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Register]:
    from thalex_modular.deployment import backtest_cli, data_cli, demo_cli, deploy_cli, run_cli
    from thalex_modular.emulator import cli as emulator_cli

    return [run_cli.register, deploy_cli.register, demo_cli.register, emulator_cli.register, data_cli.register,
            backtest_cli.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platform",
        description="Thalex Modular: market making on Thalex (live, shadow, backtest).",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for register in _registrars():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result = handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
