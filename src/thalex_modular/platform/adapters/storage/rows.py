"""Records and run/study structs ↔ database row tuples (column order of :mod:`.schema`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from thalex_modular.platform.domain.storage import BacktestRun, Record, SweepStudy

_metrics_decoder = msgspec.json.Decoder(dict[str, float])


def to_rows(records: Sequence[Record]) -> list[tuple[Any, ...]]:
    """Records of one table → tuples in column order (the struct tag is not a column)."""
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
