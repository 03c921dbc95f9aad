"""How every ``platform`` verb ends when something goes wrong: one message line, an exit code, no traceback.

A verb raises :class:`UsageError` (exit 2: a bad argument, file or value; nothing was started or stored) or
:class:`CliError` (exit 1: the work failed, e.g. an unreachable endpoint). :func:`run_handler` turns those, and any
other exception, into ``platform <verb>: <message>`` on stderr. A traceback is printed only with ``--debug``;
without it an unexpected error says its type and message and how to see the traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from typing import Final, TextIO

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_USAGE", "CliError", "UsageError", "run_handler", "verb_name"]

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


class CliError(Exception):
    """The verb could not do its work; the message says what, where and why (exit code ``code``)."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CliError):
    """A bad argument, value or file named by the user: exit 2, nothing started, stored or created."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


def verb_name(args: argparse.Namespace) -> str:
    """``platform data import`` for the verbs the namespace was parsed for."""
    words = [getattr(args, name, None) for name in ("verb", "data_verb", "emulator_verb", "config_verb")]
    return " ".join(["platform", *(w for w in words if w)])


def run_handler(
    handler: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, err: TextIO | None = None
) -> int:
    """Run a verb's handler; map its errors to a message and an exit code (traceback only with ``--debug``)."""
    out = err or sys.stderr
    debug = bool(getattr(args, "debug", False))
    try:
        return int(handler(args) or 0)
    except CliError as exc:
        if debug:
            traceback.print_exc(file=out)
        print(f"{verb_name(args)}: {exc}", file=out)
        return exc.code
    except KeyboardInterrupt:
        print(f"{verb_name(args)}: interrupted", file=out)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc(file=out)
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"{verb_name(args)}: unexpected {type(exc).__name__}: {exc}{hint}", file=out)
        return EXIT_FAILED
