"""Records and run/study structs ↔ database row tuples (column order of :mod:`.schema`)."""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from thalex_modular.platform.domain.storage import BacktestRun, QuoteRecord, Record, SweepStudy

_metrics_decoder = msgspec.json.Decoder(dict[str, float])
_FIVE_DOUBLES: Final = struct.Struct(">5d")


def quote_snapshot_id(
    bid_price: float | None, bid_amount: float | None, ask_price: float | None, ask_amount: float | None,
    mark_price: float | None,
) -> int:
    """The key of a quote snapshot among those filed at one time: a 64-bit hash of its book top and mark.

    The first 8 bytes (big-endian, signed) of SHA-256 over the five values as big-endian IEEE-754 doubles, NaN and
    None as the canonical NaN. Migration 5 computes the same in SQL (PostgreSQL) and as a function (embedded).
    """
    values = [math.nan if v is None or v != v else v for v in (bid_price, bid_amount, ask_price, ask_amount,
                                                                  mark_price)]
    return int.from_bytes(hashlib.sha256(_FIVE_DOUBLES.pack(*values)).digest()[:8], "big", signed=True)


def _quote_row(q: QuoteRecord) -> tuple[Any, ...]:
    """The columns in table order: the snapshot id sits between the clocks and the funding columns (migration 7
    appended those after it)."""
    fields = msgspec.structs.astuple(q)
    snapshot_id = quote_snapshot_id(q.bid_price, q.bid_amount, q.ask_price, q.ask_amount, q.mark_price)
    return (*fields[:10], snapshot_id, *fields[10:])


def to_rows(records: Sequence[Record]) -> list[tuple[Any, ...]]:
    """Records of one table → tuples in column order (the struct tag is not a column; a quote's snapshot id is)."""
    if records and isinstance(records[0], QuoteRecord):
        return [_quote_row(q) for q in records if isinstance(q, QuoteRecord)]
    return list(map(msgspec.structs.astuple, records))


def run_to_row(run: BacktestRun) -> tuple[Any, ...]:
    metrics = None if run.metrics is None else msgspec.json.encode(run.metrics).decode()
    return (
        run.run_id, run.created_ns, run.strategy, run.config_json, run.data_start_ns, run.data_end_ns,
        run.study_name, run.finished_ns, metrics,
    )


def run_from_row(row: Sequence[Any]) -> BacktestRun:
    metrics = None if row[8] is None else _metrics_decoder.decode(row[8])
    return BacktestRun(
        run_id=row[0], created_ns=row[1], strategy=row[2], config_json=row[3], data_start_ns=row[4],
        data_end_ns=row[5], study_name=row[6], finished_ns=row[7], metrics=metrics,
    )


def study_to_row(study: SweepStudy) -> tuple[Any, ...]:
    return (
        study.study_name, study.created_ns, study.config_json, study.direction, study.best_run_id,
        study.best_value,
    )


def study_from_row(row: Sequence[Any]) -> SweepStudy:
    return SweepStudy(
        study_name=row[0], created_ns=row[1], config_json=row[2], direction=row[3], best_run_id=row[4],
        best_value=row[5],
    )
