"""`platform data import|export`: market data in and out of storage.

`record` and `backfill` need the Thalex exchange adapter and are not here yet.

Store selection: ``--db postgresql://...`` (or env ``THALEX_DB_DSN``) uses PostgreSQL; otherwise the embedded
store in ``--data-dir`` (default: the user's data directory).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from thalex_modular.platform.adapters.storage.export import EXPORT_TABLES, ExportError, export_table
from thalex_modular.platform.adapters.storage.factory import DSN_ENV, make_storage
from thalex_modular.platform.adapters.storage.tardis import import_files
from thalex_modular.platform.domain.storage import StorageError


class Progress:
    """A one-line progress report on stderr: rows done and rows/s, redrawn at most every ``interval_s``."""

    def __init__(self, label: str, stream: TextIO | None = None, interval_s: float = 0.5) -> None:
        self._label = label
        self._stream = stream or sys.stderr
        self._interval_s = interval_s
        self._start = time.monotonic()
        self._last = 0.0
        self.rows = 0

    def __call__(self, n: int) -> None:
        self.rows += n
        now = time.monotonic()
        if now - self._last >= self._interval_s:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.rows / max(now - self._start, 1e-9)
        self._stream.write(f"\r{self._label}: {self.rows:,} rows, {rate:,.0f} rows/s")
        self._stream.flush()

    def done(self) -> None:
        self._draw(time.monotonic())
        self._stream.write("\n")
        self._stream.flush()


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="DSN", help=f"PostgreSQL DSN (default: env {DSN_ENV}; else the embedded store)")
    p.add_argument("--data-dir", type=Path, help="directory of the embedded store (default: user data dir)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``data`` verb with ``import`` and ``export`` sub-verbs."""
    data = subparsers.add_parser("data", help="market data in and out of storage (import, export)")
    verbs = data.add_subparsers(dest="data_verb", metavar="SUBVERB", required=True)

    imp = verbs.add_parser("import", help="import Tardis.dev CSV files (plain or .gz)")
    imp.add_argument("--format", choices=["tardis"], default="tardis", help="input format")
    imp.add_argument("--kind", choices=["trades", "quotes"], required=True, help="Tardis data type")
    imp.add_argument("--strict", action="store_true", help="refuse a whole file if any row is bad")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _add_store_args(imp)
    imp.set_defaults(handler=run_import)

    exp = verbs.add_parser("export", help="export stored data to CSV or Parquet")
    exp.add_argument("--kind", choices=list(EXPORT_TABLES), required=True, help="table to export")
    exp.add_argument("--format", choices=["csv", "parquet"], default="csv",
                     help="output format (parquet needs the optional pyarrow)")
    exp.add_argument("--instrument", action="append", default=[], help="instrument name (repeat; default: all)")
    exp.add_argument("--start-ns", type=int, default=0, help="first ts_ns included (ns since epoch)")
    exp.add_argument("--end-ns", type=int, default=2**62, help="first ts_ns excluded (ns since epoch)")
    exp.add_argument("--out", type=Path, required=True, help="output file")
    _add_store_args(exp)
    exp.set_defaults(handler=run_export)


def run_import(args: argparse.Namespace) -> int:
    """Handler of ``data import``. Exit 0 when every file imported cleanly, 1 if any row or file was bad."""
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"data import: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    return asyncio.run(_import(args))


async def _import(args: argparse.Namespace) -> int:
    storage = make_storage(args.db, data_dir=args.data_dir)
    progress = Progress(f"import {args.kind}")
    try:
        await storage.open()
        reports = await import_files(storage, args.files, args.kind, strict=args.strict, on_rows=progress)
        await storage.analyze()
    except StorageError as exc:
        print(f"\ndata import: {exc}", file=sys.stderr)
        return 2
    finally:
        await storage.close()
    progress.done()
    failed = False
    for report in reports:
        for error in report.errors:
            print(f"bad row {error}", file=sys.stderr)
        verdict = "REFUSED (--strict)" if report.refused and args.strict else ("REFUSED" if report.refused else "ok")
        print(f"{report.path}: {verdict}, rows read {report.rows_read}, added {report.rows_added}, "
              f"bad {len(report.errors)}")
        failed = failed or bool(report.errors)
    return 1 if failed else 0


def run_export(args: argparse.Namespace) -> int:
    """Handler of ``data export``."""
    return asyncio.run(_export(args))


async def _export(args: argparse.Namespace) -> int:
    storage = make_storage(args.db, data_dir=args.data_dir)
    progress = Progress(f"export {args.kind}")
    kwargs: dict[str, Any] = {"fmt": args.format, "instruments": args.instrument, "start_ns": args.start_ns,
                              "end_ns": args.end_ns, "on_rows": progress}
    try:
        await storage.open()
        rows = await export_table(storage, args.kind, args.out, **kwargs)
    except (StorageError, ExportError) as exc:
        print(f"data export: {exc}", file=sys.stderr)
        return 2
    finally:
        await storage.close()
    progress.done()
    print(f"{args.out}: {rows} rows")
    return 0
