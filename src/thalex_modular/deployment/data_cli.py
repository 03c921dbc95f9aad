"""`platform data record|backfill|import|export`: market data in and out of storage.

``record`` lives in :mod:`.data_record`, ``backfill`` in :mod:`.data_backfill`; this module wires the verbs.

Store selection: ``--db postgresql://...`` (or env ``THALEX_DB_DSN``) uses PostgreSQL; otherwise the embedded
store in ``--data-dir`` (default: the user's data directory).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from thalex_modular.platform.adapters.storage.export import EXPORT_TABLES, ExportError, export_table, require_pyarrow
from thalex_modular.platform.adapters.storage.source_files import UnreadableFile, check_readable
from thalex_modular.platform.adapters.storage.tardis import FileReport, ImportStopped, import_files
from thalex_modular.platform.adapters.storage.tardis_funding import DEFAULT_INTERVAL_H, check_interval_h, load_funding
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.storage import StorageError

from .cli_errors import CliError, UsageError
from .data_backfill import DEFAULT_CHUNK_S, run_backfill
from .data_record import DEFAULT_EMULATOR_URL, run_record
from .db_target import DB_HELP, StoreTarget, db_arg, resolve_store
from .progress import Progress
from .summary import add_json_flag, emit_summary
from .time_args import time_arg


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="DSN", type=db_arg, help=DB_HELP)
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
    add_json_flag(rec)
    rec.set_defaults(handler=run_record)

    back = verbs.add_parser("backfill", help="fetch 1m mark (instrument) or index (e.g. BTCUSD) candles from Thalex")
    _add_network_args(back)
    back.add_argument("--instrument", required=True, help="instrument (mark history) or index name (index history)")
    back.add_argument("--from", dest="from_", required=True, metavar="TIME", type=time_arg("--from", "s"),
                      help="start: ISO 8601 (2024-11-28, 2024-11-28T12:00Z; UTC unless an offset is given) or epoch "
                           "with a unit (1732752000s, 1732752000000ms; a bare number is seconds)")
    back.add_argument("--to", required=True, metavar="TIME", type=time_arg("--to", "s"),
                      help="end (exclusive), same formats as --from")
    back.add_argument("--chunk-s", type=int, default=DEFAULT_CHUNK_S,
                      help="seconds per request (multiple of 60; default one day = 1440 rows)")
    back.add_argument("--max-chunks", type=int, default=None, help="fetch at most this many chunks in this run")
    _add_store_args(back)
    add_json_flag(back)
    back.set_defaults(handler=run_backfill)

    imp = verbs.add_parser("import", help="import Tardis.dev CSV files (plain or .gz)")
    imp.add_argument("--format", choices=["tardis"], default="tardis", help="input format")
    imp.add_argument("--kind", choices=["trades", "quotes"], required=True, help="Tardis data type")
    imp.add_argument("--strict", action="store_true", help="refuse a whole file if any row is bad")
    imp.add_argument("--funding", action="append", type=Path, default=[], metavar="FILE",
                     help="Tardis derivative_ticker file (repeat for several): quotes carry the funding rate and "
                          "index in force at their time (--kind quotes only)")
    imp.add_argument("--funding-interval-h", type=float, default=DEFAULT_INTERVAL_H, metavar="HOURS",
                     help=f"the source exchange's funding interval, which derivative_ticker's funding_rate is per "
                          f"(default {DEFAULT_INTERVAL_H:g} h: Deribit, Binance); stored per 24 h")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _add_store_args(imp)
    add_json_flag(imp)
    imp.set_defaults(handler=run_import)

    exp = verbs.add_parser("export", help="export stored data to CSV or Parquet")
    exp.add_argument("--kind", choices=list(EXPORT_TABLES), required=True, help="table to export")
    exp.add_argument("--format", choices=["csv", "parquet"], default="csv",
                     help="output format (parquet needs the optional pyarrow)")
    exp.add_argument("--instrument", action="append", default=[],
                     help="instrument name (repeat; default: all); for candles_1m an instrument (mark candles) or "
                          "index name such as BTCUSD (index candles), required")
    exp.add_argument("--from", "--start-ns", dest="start_ns", type=time_arg("--from", "ns"), default=0,
                     metavar="TIME", help="first time included: ISO 8601 or epoch with a unit (1732752000s); "
                                          "a bare number is ns (default: the beginning)")
    exp.add_argument("--to", "--end-ns", dest="end_ns", type=time_arg("--to", "ns"), default=2**62, metavar="TIME",
                     help="first time excluded, same formats (default: the end)")
    exp.add_argument("--out", type=Path, required=True, help="output file (its folder must exist)")
    _add_store_args(exp)
    add_json_flag(exp)
    exp.set_defaults(handler=run_export)


def run_import(args: argparse.Namespace) -> int:
    """Handler of ``data import``. Exit 0 when every file imported cleanly, 1 if any row or file was bad or the store
    failed mid-import (what was kept is reported per file), 2 for a file that cannot be opened or whose first line
    cannot be read, or a refused store (nothing stored then)."""
    unreadable: list[str] = []
    for path in (*args.files, *args.funding):
        try:
            check_readable(path)
        except UnreadableFile as exc:
            unreadable.append(str(exc))
    if unreadable:
        raise UsageError(f"cannot read {'; '.join(unreadable)} (nothing imported)")
    if args.funding and args.kind != "quotes":
        raise UsageError(f"invalid `--funding`: derivative_ticker files go with --kind quotes, was --kind {args.kind}")
    try:
        check_interval_h(args.funding_interval_h)
    except InvalidValue as exc:
        raise UsageError(f"invalid `--funding-interval-h`: {exc}") from None
    target = resolve_store(args.db, args.data_dir)
    return asyncio.run(_import(args, target))


def _verdict(report: FileReport, strict: bool) -> str:
    broken = report.broken
    if report.refused:
        return "REFUSED (--strict): nothing kept" if strict else "REFUSED: nothing kept"
    if broken is not None and broken.line == 1:
        return "UNREADABLE: nothing kept"
    if broken is not None:
        return f"INCOMPLETE: the file could not be read past line {broken.line - 1}; {report.rows_added} rows kept"
    if report.errors:
        return f"PARTIAL: {report.bad_rows} bad rows skipped"
    return "ok"


async def _import(args: argparse.Namespace, target: StoreTarget) -> int:
    storage = target.make()
    progress = Progress(f"import {args.kind}")
    funding, funding_reports = load_funding(args.funding, args.funding_interval_h, strict=args.strict)
    try:
        await storage.open()
        if any(r.refused or r.broken for r in funding_reports) and args.strict:
            # quotes without the funding the user asked for would be stored for good (writes never overwrite)
            reports = [FileReport(str(path), refused=True) for path in args.files]
        else:
            reports = await import_files(storage, args.files, args.kind, strict=args.strict, on_rows=progress,
                                         funding=funding if args.funding else None)
        await storage.analyze()
    except ImportStopped as exc:  # exit 1, not 2: something was stored, and the message says what
        raise CliError(f"{target.shown}: {target.scrub(str(exc))}") from None
    except StorageError as exc:
        raise UsageError(f"{target.shown}: {target.scrub(str(exc))}") from None
    finally:
        progress.close()
        await storage.close()
    for report in (*funding_reports, *reports):
        for error in report.errors:
            print(f"{'unreadable' if error.fatal else 'bad row'} {error}", file=sys.stderr)
    lines = [f"{r.path} (funding): {_verdict(r, args.strict)}, rows read {r.rows_read}, used {r.rows_added}, "
             f"bad {r.bad_rows}" for r in funding_reports]
    if args.funding:
        lines.append(f"funding: {len(funding)} observations of {len(funding.times)} symbols, rates x 24 / "
                     f"{args.funding_interval_h:g} h -> per 24 h")
    lines += [f"{r.path}: {_verdict(r, args.strict)}, rows read {r.rows_read}, added {r.rows_added}, "
              f"bad {r.bad_rows}" for r in reports]
    lines.append(f"into {target.shown}")
    failed = any(r.errors or r.refused for r in (*funding_reports, *reports))
    emit_summary(args, lines, {
        "ok": not failed, "store": target.shown, "kind": args.kind,
        "funding_files": [{"path": r.path, "verdict": _verdict(r, args.strict), "rows_read": r.rows_read,
                           "rows_used": r.rows_added, "bad_rows": r.bad_rows,
                           "errors": [str(e) for e in r.errors[:100]]} for r in funding_reports],
        "files": [{"path": r.path, "verdict": _verdict(r, args.strict), "rows_read": r.rows_read,
                   "rows_added": r.rows_added, "bad_rows": r.bad_rows, "refused": r.refused,
                   "stopped_at_line": None if r.broken is None else r.broken.line,
                   "errors": [str(e) for e in r.errors[:100]]} for r in reports],
    })
    return 1 if failed else 0


def _check_out(out: Path) -> None:
    if out.is_dir():
        raise UsageError(f"invalid `--out`: {out} is a directory; name a file in it")
    if not out.parent.is_dir():
        raise UsageError(f"invalid `--out`: the folder {out.parent} does not exist")


def run_export(args: argparse.Namespace) -> int:
    """Handler of ``data export``: 0 when written, 2 on a bad argument (nothing written)."""
    _check_out(args.out)
    if args.format == "parquet":
        try:
            require_pyarrow()
        except ExportError as exc:
            raise UsageError(str(exc)) from None
    if args.start_ns >= args.end_ns:
        raise UsageError(f"invalid `--to`: must be after --from {args.start_ns} ns, was {args.end_ns} ns")
    target = resolve_store(args.db, args.data_dir, must_exist=True)
    return asyncio.run(_export(args, target))


async def _export(args: argparse.Namespace, target: StoreTarget) -> int:
    storage = target.make()
    kwargs: dict[str, Any] = {"fmt": args.format, "instruments": args.instrument, "start_ns": args.start_ns,
                              "end_ns": args.end_ns}
    progress = Progress(f"export {args.kind}")
    try:
        await storage.open()
        if args.instrument and args.kind != "candles_1m":
            known = await storage.instruments(args.kind)
            unknown = [name for name in args.instrument if name not in known]
            if unknown:
                shown = ", ".join(known[:20]) or "none"
                raise UsageError(f"invalid `--instrument`: {', '.join(unknown)} has no {args.kind} in "
                                 f"{target.shown} (stored: {shown})")
        rows = await export_table(storage, args.kind, args.out, on_rows=progress, **kwargs)
    except (StorageError, ExportError) as exc:
        raise UsageError(f"{target.shown}: {target.scrub(str(exc))}") from None
    finally:
        progress.close()
        await storage.close()
    emit_summary(args, [f"{args.out}: {rows} rows of {args.kind} from {target.shown}"],
                 {"ok": True, "out": str(args.out), "rows": rows, "kind": args.kind, "store": target.shown})
    return 0
