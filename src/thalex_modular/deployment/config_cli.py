"""``platform config example`` (the commented example configuration) and ``platform config check FILE``."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.resources import files
from pathlib import Path

from .cli_errors import UsageError
from .config import ConfigError, load_run_config

__all__ = ["EXAMPLE_NAME", "example_config_text", "register"]

EXAMPLE_NAME = "example_config.toml"


def example_config_text() -> str:
    """The example configuration shipped with the package (every section, commented, default values)."""
    return files("thalex_modular.deployment").joinpath(EXAMPLE_NAME).read_text(encoding="utf-8")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="print the example configuration, or check a configuration file")
    verbs = parser.add_subparsers(dest="config_verb", metavar="SUBVERB", required=True)
    example = verbs.add_parser("example", help="print a commented example config (TOML) with every section")
    example.set_defaults(handler=_example)
    check = verbs.add_parser("check", help="validate a TOML/YAML/JSON run config (with THALEX_* variables)")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_check)


def _example(args: argparse.Namespace) -> int:
    sys.stdout.write(example_config_text())
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        config = load_run_config(args.file, os.environ)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    print(f"{args.file}: ok ({config.mode.value} {config.instrument} on {config.network.value})")
    return 0
