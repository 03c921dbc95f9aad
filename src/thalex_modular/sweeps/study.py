"""The sweep's driver: an Optuna study asked and told here, its trials run as Ray tasks (docs/sweeps.md says why
ask/tell over tasks rather than Ray Tune).

At most ``parallel`` trials run at once, spread over the cluster's nodes. A trial whose worker (or node) dies is
re-run by Ray (``max_retries``); one whose backtest raises, or whose parameters make an invalid config, is a FAILED
trial and the study goes on. A study in persistent storage resumes: finished trials are kept, trials a killed driver
left RUNNING are marked failed and enqueued again with their parameters.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import optuna
from optuna.trial import FrozenTrial, TrialState

from thalex_modular.deployment.config import ConfigError

from .configs import TrialConfigs
from .history import SharedWindow
from .objectives import Objective
from .space import SearchSpace
from .trial import PruneSpec, TrialOutcome, evaluate, evaluate_placed

__all__ = ["SweepPlan", "SweepProgress", "SweepRun", "run_sweep"]

#: Ray re-runs a trial whose worker process or node died this many times before the trial fails.
TASK_MAX_RETRIES: Final = 3
ERROR_ATTR: Final = "error"


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """What to run: ``trials`` finished trials in all (a resumed study counts those it has), ``parallel`` at once;
    ``niceness``: the trials' workers at least this nice (None: Ray's worker niceness, 15); ``cpus``: the CPUs they
    run on (empty: any)."""

    space: SearchSpace
    objectives: tuple[Objective, ...]
    configs: TrialConfigs
    trials: int
    parallel: int
    seed: int = 0
    steps: int = 4
    prune: bool = True
    niceness: int | None = None
    cpus: tuple[int, ...] = ()


@dataclass(slots=True)
class SweepProgress:
    """Counts of this run (a resumed study's earlier trials are in ``resumed``)."""

    done: int = 0
    pruned: int = 0
    failed: int = 0
    resumed: int = 0
    nodes: set[str] = field(default_factory=set)
    backtest_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SweepRun:
    study: optuna.Study
    progress: SweepProgress


OnTrial = Callable[[optuna.Study, SweepProgress], None]


class _TrialTask:
    """``evaluate`` as a Ray task, its worker reniced and pinned first when a niceness or CPUs are given."""

    def __init__(self, niceness: int | None, cpus: tuple[int, ...]) -> None:
        import ray

        options = {"num_cpus": 1, "max_retries": TASK_MAX_RETRIES, "retry_exceptions": False,
                   "scheduling_strategy": "SPREAD", "name": "sweep_trial"}
        self._placed = None if niceness is None and not cpus else (niceness, cpus)
        task: Any = ray.remote(evaluate if self._placed is None else evaluate_placed)
        self._task = task.options(**options)

    def remote(self, *args: Any) -> Any:
        return self._task.remote(*args) if self._placed is None else self._task.remote(*self._placed, *args)


def remote_evaluate(niceness: int | None = None, cpus: tuple[int, ...] = ()) -> Any:
    """The trial task (``.remote(config, window_ref, seed, feed_latency_ns, objectives, steps, prune)``)."""
    return _TrialTask(niceness, cpus)


def _finished(study: optuna.Study) -> int:
    trials = study.get_trials(deepcopy=False)
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state is TrialState.FAIL and ERROR_ATTR in t.user_attrs) for t in trials)


def recover_interrupted(study: optuna.Study) -> int:
    """Trials a killed driver left RUNNING: failed (they will never be told) and enqueued again. Returns how many.
    One driver per study: a second driver running at the same time would see the first one's trials here."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
    return len(stale)


def _record(study: optuna.Study, trial: optuna.trial.Trial, outcome: TrialOutcome, progress: SweepProgress) -> None:
    single = len(study.directions) == 1
    if single:
        for step, value in outcome.intermediates:
            trial.report(value, step)
    trial.set_user_attr("run_id", outcome.run_id)
    trial.set_user_attr("node_id", outcome.node_id)
    trial.set_user_attr("pid", outcome.pid)
    trial.set_user_attr("niceness", outcome.niceness)
    trial.set_user_attr("backtest_s", outcome.backtest_s)
    trial.set_user_attr("metrics", {k: v for k, v in dataclasses.asdict(outcome.metrics).items() if v == v})
    progress.nodes.add(outcome.node_id)
    progress.backtest_s.append(outcome.backtest_s)
    if outcome.pruned:
        progress.pruned += 1
        study.tell(trial, state=TrialState.PRUNED)
    else:
        assert outcome.values is not None
        study.tell(trial, list(outcome.values))


def _fail(study: optuna.Study, trial: optuna.trial.Trial, message: str, progress: SweepProgress) -> None:
    trial.set_user_attr(ERROR_ATTR, message[:2000])
    progress.failed += 1
    study.tell(trial, state=TrialState.FAIL)


def run_sweep(study: optuna.Study, plan: SweepPlan, window: SharedWindow, on_trial: OnTrial | None = None) -> SweepRun:
    """Run trials until the study holds ``plan.trials`` finished ones (complete, pruned or failed on their own)."""
    import ray

    task = remote_evaluate(plan.niceness, plan.cpus)
    progress = SweepProgress(resumed=_finished(study))
    recover_interrupted(study)
    remaining = max(0, plan.trials - progress.resumed)
    single = len(plan.objectives) == 1
    finished: list[FrozenTrial] = list(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    pending: dict[Any, optuna.trial.Trial] = {}
    submitted = 0
    started = time.perf_counter()

    def submit() -> None:
        nonlocal submitted
        trial = study.ask()
        submitted += 1
        try:
            params = plan.space.suggest(trial)
            config = plan.configs.backtest(params, window.history.start_ns, window.history.end_ns)
        except (ConfigError, ValueError) as exc:
            _fail(study, trial, f"invalid parameters: {exc}", progress)
            progress.done += 1
            if on_trial is not None:
                on_trial(study, progress)
            return
        prune = (PruneSpec(study.pruner, study.direction, tuple(finished))
                 if single and plan.prune else None)
        ref = task.remote(config, window.ref, plan.seed, window.feed_latency_ns, plan.objectives, plan.steps, prune)
        pending[ref] = trial

    while progress.done < remaining:
        while len(pending) < plan.parallel and submitted < remaining:
            submit()
        if not pending:
            continue
        ready, _ = ray.wait(list(pending), num_returns=1)
        trial = pending.pop(ready[0])
        try:
            outcome: TrialOutcome = ray.get(ready[0])
        except Exception as exc:  # the backtest raised (RayTaskError), or Ray's retries ran out
            _fail(study, trial, f"{type(exc).__name__}: {exc}", progress)
        else:
            _record(study, trial, outcome, progress)
            if outcome.values is not None:
                finished.append(study.get_trials(deepcopy=False)[trial.number])
        progress.done += 1
        progress.wall_s = time.perf_counter() - started
        if on_trial is not None:
            on_trial(study, progress)
    progress.wall_s = time.perf_counter() - started
    return SweepRun(study, progress)


def best_trials(study: optuna.Study) -> Sequence[FrozenTrial]:
    """The best trial of a single-objective study; the Pareto front of a multi-objective one (by trial number)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    if len(study.directions) == 1:
        return [study.best_trial]
    return sorted(study.best_trials, key=lambda t: t.number)
