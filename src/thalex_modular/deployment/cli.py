"""The `platform` command line: one entry point, each verb a thin shell over use cases.

Every verb also takes ``--debug`` (tracebacks) and ``--log-file PATH``; errors end as one line and an exit code
(:mod:`.cli_errors`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Final

from .cli_errors import CliError, run_handler

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


#: The module registering each verb, in help order. Only the invoked verb's module is imported (the others pull in
#: numba, scipy, Ray: seconds), unless the verb is unknown or help for every verb is asked for.
_VERB_MODULES: Final = {
    "run": "thalex_modular.deployment.run_cli",
    "deploy": "thalex_modular.deployment.deploy_cli",
    "status": "thalex_modular.deployment.deploy_cli",
    "stop": "thalex_modular.deployment.deploy_cli",
    "demo": "thalex_modular.deployment.demo_cli",
    "emulator": "thalex_modular.emulator.cli",
    "data": "thalex_modular.deployment.data_cli",
    "instruments": "thalex_modular.deployment.instruments_cli",
    "config": "thalex_modular.deployment.config_cli",
    "backtest": "thalex_modular.deployment.backtest_cli",
    "sweep": "thalex_modular.deployment.sweep_cli",
}


def _registrars(argv: Sequence[str] | None) -> list[Register]:
    verb = None if argv is None else next((a for a in argv if not a.startswith("-")), None)
    # an option's value (`--log-file x run`) is no verb: then every verb is registered, which is only slower
    if verb is None and argv is not None and "--version" in argv:
        return []  # argparse prints the version before it asks for a verb
    names = [_VERB_MODULES[verb]] if verb in _VERB_MODULES else list(dict.fromkeys(_VERB_MODULES.values()))
    return [import_module(name).register for name in names]


def package_version() -> str:
    try:
        return version("thalex-modular")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _add_common_flags(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--debug", action="store_true", default=default, help="print tracebacks of errors")
    parser.add_argument("--log-file", type=Path, default=default, metavar="PATH",
                        help="append log records and the summary to PATH")


def _leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    out = [parser]  # a verb with sub-verbs may run on its own too (`platform emulator`)
    for child in dict.fromkeys(subs[0].choices.values()):
        out += _leaves(child)
    return out


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every verb, or (given the command line ``argv``) of the verb it invokes only."""
    parser = argparse.ArgumentParser(
        prog="platform",
        description="Thalex Modular: market making on Thalex (live, shadow, backtest).",
    )
    parser.add_argument("--version", action="version", version=f"platform (thalex-modular) {package_version()}")
    _add_common_flags(parser, None)
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for register in _registrars(argv):
        register(subparsers)
    for leaf in _leaves(parser)[1:]:  # after the verb too; SUPPRESS keeps a value given before it
        _add_common_flags(leaf, argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    if args.log_file is not None:
        from .summary import open_log_file

        try:
            open_log_file(args.log_file)
        except CliError as exc:
            print(f"platform: {exc}", file=sys.stderr)
            return exc.code
    return run_handler(handler, args)


if __name__ == "__main__":
    sys.exit(main())
