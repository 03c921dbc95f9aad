"""Walk-forward validation: every reported best trial re-run on the window that follows the training window.

In-sample (the study's values) and out-of-sample (the re-run's) side by side show how much of a trial's result was
fitted to its window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial

from .history import SharedWindow
from .objectives import Objective
from .study import SweepPlan, remote_evaluate
from .trial import TrialOutcome

__all__ = ["WalkForwardRow", "split_ns", "walk_forward"]


def split_ns(start_ns: int, end_ns: int, oos_share: float) -> int:
    """Where the out-of-sample window starts: the last ``oos_share`` of ``[start_ns, end_ns)``."""
    if not 0.0 <= oos_share < 1.0:
        raise ValueError(f"the out-of-sample share must be in [0, 1), was {oos_share}")
    return end_ns - round((end_ns - start_ns) * oos_share)


@dataclass(frozen=True, slots=True)
class WalkForwardRow:
    """One best trial: its parameters, in-sample values and out-of-sample values (None without an OOS window or
    when its re-run failed, with ``error`` saying why)."""

    number: int
    params: dict[str, Any]
    in_sample: tuple[float, ...]
    out_of_sample: tuple[float, ...] | None
    oos_run_id: str | None = None
    error: str | None = None


def walk_forward(
    best: Sequence[FrozenTrial], plan: SweepPlan, oos: SharedWindow | None, objectives: Sequence[Objective],
) -> list[WalkForwardRow]:
    """Re-run each of ``best`` on ``oos`` (in parallel on the cluster, not pruned)."""
    import ray

    if oos is None:
        return [WalkForwardRow(t.number, dict(t.params), tuple(t.values), None) for t in best]
    task = remote_evaluate(plan.niceness, plan.cpus)
    refs = []
    for t in best:
        config = plan.configs.backtest(t.params, oos.history.start_ns, oos.history.end_ns)
        refs.append(task.remote(config, oos.ref, plan.seed, oos.feed_latency_ns, tuple(objectives), 1, None))
    rows = []
    for t, ref in zip(best, refs, strict=True):
        try:
            outcome: TrialOutcome = ray.get(ref)
        except Exception as exc:  # the re-run failed: the row says so, the others stand
            rows.append(WalkForwardRow(t.number, dict(t.params), tuple(t.values), None, None,
                                       f"{type(exc).__name__}: {exc}"))
            continue
        rows.append(WalkForwardRow(t.number, dict(t.params), tuple(t.values), outcome.values, outcome.run_id))
    return rows
