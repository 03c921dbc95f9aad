"""A verb's closing summary: lines for people, or one JSON object with ``--json``; copied to ``--log-file``.

``--log-file PATH`` (any verb) appends the verb's log records and its summary to PATH; ``--json`` (verbs that end with a
summary) prints the summary as one JSON object on stdout instead of text, for scripts.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from .cli_errors import UsageError

__all__ = ["add_json_flag", "emit_summary", "open_log_file"]

log = logging.getLogger("thalex_modular.summary")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object (for scripts)")


def open_log_file(path: Path) -> None:
    """Append this process's log records (INFO and up) to ``path``.

    Raises:
        UsageError: the file cannot be opened (a missing folder, a directory, no permission).
    """
    try:
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"invalid `--log-file`: cannot write {path}: {exc.strerror or exc}") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def emit_summary(
    args: argparse.Namespace, lines: Sequence[str], data: Mapping[str, Any], out: TextIO | None = None
) -> None:
    """Print ``lines`` (or ``data`` as JSON with ``--json``) on stdout, and log them."""
    stream = out or sys.stdout
    if getattr(args, "json", False):
        print(json.dumps(data, sort_keys=True, default=str), file=stream, flush=True)
    else:
        for line in lines:
            print(line, file=stream, flush=True)
    for line in lines:
        log.info("%s", line)
