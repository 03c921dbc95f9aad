"""`platform data record|backfill|import|export`: market data in and out of storage.

``record`` lives in :mod:`.data_record`, ``backfill`` in :mod:`.data_backfill`; this module wires the verbs.

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

from .data_backfill import DEFAULT_CHUNK_S, run_backfill
from .data_record import DEFAULT_EMULATOR_URL, run_record


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


def _add_network_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", choices=["local", "test", "prod"], required=True,
                   help="local = the emulator at --emulator-url")
    p.add_argument("--emulator-url", default=None, help=f"emulator websocket URL (default {DEFAULT_EMULATOR_URL})")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``data`` verb with ``record``, ``backfill``, ``import`` and ``export`` sub-verbs."""
    data = subparsers.add_parser("data", help="market data in and out of storage (record, backfill, import, export)")
    verbs = data.add_subparsers(dest="data_verb", metavar="SUBVERB", required=True)

    rec = verbs.add_parser("record", help="record public trades and ticker/book-top snapshots from Thalex")
    _add_network_args(rec)
    rec.add_argument("--instruments", "--instrument", dest="instrument", nargs="+", required=True,
                     metavar="NAME", help="instrument names, e.g. BTC-PERPETUAL")
    rec.add_argument("--duration-s", type=float, default=None, help="stop after this many seconds (default: SIGINT)")
    rec.add_argument("--spill-dir", type=Path, default=None,
                     help="spill directory used while the store is down (default: <data dir>/record-spill)")
    _add_store_args(rec)
    rec.set_defaults(handler=run_record)

    back = verbs.add_parser("backfill", help="fetch 1m mark (instrument) or index (e.g. BTCUSD) candles from Thalex")
    _add_network_args(back)
    back.add_argument("--instrument", required=True, help="instrument (mark history) or index name (index history)")
    back.add_argument("--from", dest="from_", required=True, metavar="TIME",
                      help="start, UTC: ISO date/time (2024-11-28, 2024-11-28T12:00) or Unix seconds")
    back.add_argument("--to", required=True, metavar="TIME", help="end (exclusive), same formats as --from")
    back.add_argument("--chunk-s", type=int, default=DEFAULT_CHUNK_S,
                      help="seconds per request (multiple of 60; default one day = 1440 rows)")
    back.add_argument("--max-chunks", type=int, default=None, help="fetch at most this many chunks in this run")
    _add_store_args(back)
    back.set_defaults(handler=run_backfill)

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
