"""One trial: a backtest run as a Ray task on history shared through the object store.

The history of a window is ``ray.put`` once by the driver as a list of ``EVENT_DTYPE`` chunks; a task receives it
as a top-level argument, so Ray hands it over as read-only zero-copy views of the object store (no copy per trial).
The replay is cut into ``steps`` slices; after each the objective so far is an intermediate value. A trial of a
single-objective study decides on pruning itself, with Optuna's pruner, against the finished trials the driver
handed it (a snapshot taken when it was submitted): a hopeless trial stops early, and the driver reports its
intermediate values and tells the study it was pruned.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna

from thalex_modular.platform.use_cases.backtest.config import BacktestConfig
from thalex_modular.platform.use_cases.backtest.metrics import BacktestMetrics
from thalex_modular.platform.use_cases.backtest.runner import BacktestRun

from .objectives import Objective

__all__ = ["PruneSpec", "TrialOutcome", "evaluate", "evaluate_placed", "slices"]


@dataclass(frozen=True, slots=True)
class PruneSpec:
    """What a trial needs to ask Optuna's pruner: the pruner, the direction, the finished trials."""

    pruner: optuna.pruners.BasePruner
    direction: optuna.study.StudyDirection
    finished: Sequence[optuna.trial.FrozenTrial]


@dataclass(slots=True)
class TrialOutcome:
    """What a trial sends back: the objective values (None when pruned), its intermediate values, the backtest's
    metrics and identity, where it ran (``niceness``: its worker's) and how long the backtest itself took
    (``backtest_s``)."""

    values: tuple[float, ...] | None
    intermediates: list[tuple[int, float]]
    metrics: BacktestMetrics
    run_id: str
    node_id: str
    pid: int
    backtest_s: float
    pruned: bool = False
    niceness: int = 0


def slices(chunks: Sequence[npt.NDArray[np.void]], steps: int) -> Iterator[list[npt.NDArray[np.void]]]:
    """The chunks cut into ``steps`` runs of about equal event counts (views, no copies), in order."""
    total = sum(len(c) for c in chunks)
    bounds = [round(total * (i + 1) / steps) for i in range(steps)]
    out: list[npt.NDArray[np.void]] = []
    seen = 0
    step = 0
    for chunk in chunks:
        at = 0
        while at < len(chunk):
            take = min(len(chunk) - at, bounds[step] - seen)
            if take:
                out.append(chunk[at:at + take])
                at += take
                seen += take
            if seen >= bounds[step]:
                yield out
                out = []
                step += 1
                if step == steps:
                    return
    if out:
        yield out


def _pruning_trial(spec: PruneSpec) -> optuna.trial.Trial:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=spec.direction, pruner=spec.pruner)
    study.add_trials(spec.finished)
    return study.ask()


def evaluate(
    config: BacktestConfig, chunks: Sequence[npt.NDArray[np.void]], seed: int, feed_latency_ns: int | None,
    objectives: Sequence[Objective], steps: int = 4, prune: PruneSpec | None = None,
) -> TrialOutcome:
    """Replay ``chunks`` under ``config``; the same result as ``run_backtest`` (and ``platform backtest`` on the
    same stored range) for the same seed, or a pruned outcome once the pruner gives up on it."""
    import ray

    started = time.perf_counter()
    run = BacktestRun(config, seed, feed_latency_ns)
    judge = _pruning_trial(prune) if prune is not None else None
    intermediates: list[tuple[int, float]] = []
    pruned = False
    for step, part in enumerate(slices(chunks, max(1, steps))):
        for chunk in part:
            run.replay(chunk)
        if step == steps - 1:
            break
        value = objectives[0].value(run.finish().metrics)
        intermediates.append((step, value))
        if judge is not None:
            judge.report(value, step)
            if judge.should_prune():
                pruned = True
                break
    metrics = run.finish().metrics
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    return TrialOutcome(
        values=None if pruned else tuple(o.value(metrics) for o in objectives), intermediates=intermediates,
        metrics=metrics, run_id=config.run_id(seed), node_id=node, pid=os.getpid(),
        backtest_s=time.perf_counter() - started, pruned=pruned, niceness=os.nice(0),
    )


def evaluate_placed(niceness: int | None, cpus: tuple[int, ...], *args: Any, **kwargs: Any) -> TrialOutcome:
    """:func:`evaluate` with this worker at ``niceness`` at least and on ``cpus`` (each when given). A worker keeps
    both for the tasks Ray gives it later (a process cannot lower its niceness back without privilege)."""
    from thalex_modular.deployment.placement import pin_process

    if niceness is not None:
        os.nice(max(0, niceness - os.nice(0)))
    pin_process(cpus, "placement.api_cpus")
    return evaluate(*args, **kwargs)
