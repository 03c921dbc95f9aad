"""A finished backtest: its identity, figures and recorded arrays, and their JSON / CSV forms."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from thalex_modular.platform.domain.storage import BacktestRun

from .metrics import BacktestMetrics

STRATEGY_NAME = "avellaneda_stoikov"


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """One run. ``replay_s``: wall time of the replay loop only (reads from storage not counted); ``read_s``:
    wall time spent reading history. Arrays: ``fills`` (``FILL_DTYPE``), ``samples`` (``SAMPLE_DTYPE``),
    ``requests`` (``REQUEST_DTYPE``). ``funding_note``: what ``funding_usd`` rests on (funding data replayed, or
    none: then it is 0, not an estimate)."""

    run_id: str
    seed: int
    config: dict[str, Any]
    data_start_ns: int
    data_end_ns: int
    metrics: BacktestMetrics
    fills: npt.NDArray[np.void]
    samples: npt.NDArray[np.void]
    requests: npt.NDArray[np.void]
    replay_s: float
    read_s: float
    funding_note: str = ""

    @property
    def events_per_s(self) -> float:
        return self.metrics.events / self.replay_s if self.replay_s > 0 else math.nan

    def summary_line(self) -> str:
        """The machine-readable last line of ``platform backtest``."""
        m = self.metrics
        return (f"events={m.events} replay_s={self.replay_s:.3f} events_per_s={self.events_per_s:.0f} "
                f"fills={m.fills} pnl_usd={m.pnl_usd:.2f}")

    def to_json_dict(self) -> dict[str, Any]:
        """Identity, config and figures (NaN as null: JSON has no NaN)."""
        return {
            "run_id": self.run_id,
            "seed": self.seed,
            "config": self.config,
            "data_start_ns": self.data_start_ns,
            "data_end_ns": self.data_end_ns,
            "replay_s": self.replay_s,
            "read_s": self.read_s,
            "events_per_s": _finite_or_none(self.events_per_s),
            "funding_note": self.funding_note,
            "metrics": {k: _finite_or_none(v) for k, v in self.metrics.as_dict().items()},
        }

    def to_run(self, created_ns: int, finished_ns: int) -> BacktestRun:
        """The record the store keeps (``save_run``): NaN figures are left out."""
        return BacktestRun(
            run_id=self.run_id, created_ns=created_ns, strategy=STRATEGY_NAME,
            config_json=json.dumps({**self.config, "seed": self.seed}, sort_keys=True),
            data_start_ns=self.data_start_ns, data_end_ns=self.data_end_ns, finished_ns=finished_ns,
            metrics={k: v for k, v in self.metrics.as_dict().items() if math.isfinite(v)},
        )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def write_json(result: BacktestResult, path: Path) -> None:
    """The run's identity, config and figures as one JSON object."""
    path.write_text(json.dumps(result.to_json_dict(), indent=2, sort_keys=True) + "\n")


def write_csv(result: BacktestResult, prefix: Path) -> list[Path]:
    """``<prefix>.metrics.csv`` (name,value), ``<prefix>.fills.csv``, ``<prefix>.samples.csv``; returns the paths."""
    paths = [Path(f"{prefix}.{kind}.csv") for kind in ("metrics", "fills", "samples")]
    with paths[0].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "value"])
        writer.writerows(result.metrics.as_dict().items())
    for path, table in zip(paths[1:], (result.fills, result.samples), strict=True):
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(table.dtype.names or ())
            writer.writerows(table.tolist())
    return paths
