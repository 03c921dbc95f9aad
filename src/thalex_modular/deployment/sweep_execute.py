"""`platform sweep` once its inputs are checked: Ray, the study, the trials with a progress bar, the walk-forward
re-runs, and the outputs (best config, Pareto configs, HTML report, JSON summary, the summary on stdout)."""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import optuna

from thalex_modular.deployment.progress import Progress
from thalex_modular.sweeps.configs import TrialConfigs, write_toml
from thalex_modular.sweeps.history import Window, share
from thalex_modular.sweeps.objectives import Objective
from thalex_modular.sweeps.report import write_report
from thalex_modular.sweeps.space import SearchSpace
from thalex_modular.sweeps.storage import shown
from thalex_modular.sweeps.study import SweepPlan, SweepProgress, best_trials, run_sweep
from thalex_modular.sweeps.walk_forward import WalkForwardRow, walk_forward

__all__ = ["SweepRequest", "execute"]

#: Trials before the median pruner starts judging (it needs finished trials to compare with).
PRUNER_STARTUP_TRIALS = 4


@dataclass(frozen=True, slots=True)
class SweepRequest:
    args: argparse.Namespace
    space: SearchSpace
    objectives: tuple[Objective, ...]
    storage: Any
    configs: TrialConfigs
    train: Window
    oos: Window | None


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9))


def _fmt(values: tuple[float, ...] | None) -> str:
    return "n/a" if values is None else "/".join(f"{v:+.4g}" for v in values)


def create_study(req: SweepRequest) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args = req.args
    return optuna.create_study(
        storage=req.storage, study_name=args.study_name or f"sweep-{args.instrument}",
        directions=[o.direction for o in req.objectives], load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=0),
    )


def execute(req: SweepRequest, out: TextIO) -> int:
    """Run the sweep; print the summary; return the exit code."""
    import ray

    from thalex_modular.deployment.sweep_cli import ensure_ray

    args = req.args
    started_ray = ensure_ray(args.address)
    try:
        parallel = args.parallel or max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
        train, oos = share(req.train), (share(req.oos) if req.oos is not None else None)
        study = create_study(req)
        plan = SweepPlan(req.space, req.objectives, req.configs, args.trials, parallel, args.seed, args.steps,
                         not args.no_prune)
        bar = Progress(f"sweep {study.study_name}", total=args.trials, unit="trials")

        def on_trial(s: optuna.Study, p: SweepProgress) -> None:
            if bar.done == 0 and p.resumed:
                bar.update(p.resumed)
            bar.update(1)
            best = best_trials(s)
            text = f"best {req.objectives[0].name}={best[0].values[0]:+.4g}" if len(best) == 1 else \
                f"pareto={len(best)}"
            bar.set_status(f"{text} pruned={p.pruned} failed={p.failed}")

        try:
            run = run_sweep(study, plan, train, on_trial)
        finally:
            bar.close()
        rows = walk_forward(best_trials(study), plan, oos, req.objectives)
        return _outputs(req, study, run.progress, rows, parallel, out)
    finally:
        if started_ray:
            ray.shutdown()


def _write_configs(req: SweepRequest, rows: list[WalkForwardRow], study: optuna.Study) -> list[Path]:
    args = req.args
    written: list[Path] = []
    names = [o.name for o in req.objectives]
    for i, row in enumerate(rows):
        path = args.out / ("best.toml" if i == 0 else f"pareto-{row.number}.toml")
        run_id = study.get_trials(deepcopy=False)[row.number].user_attrs.get("run_id")
        header = (
            f"platform sweep {study.study_name}: trial {row.number} (backtest run_id {run_id})\n"
            f"in-sample {'/'.join(names)} = {_fmt(row.in_sample)} over [{_iso(req.train.history.start_ns)}, "
            f"{_iso(req.train.history.end_ns)}); out-of-sample = {_fmt(row.out_of_sample)}\n"
            f"reproduce: platform backtest --instrument {args.instrument} --from {req.train.history.start_ns}ns "
            f"--to {req.train.history.end_ns}ns --mode {args.mode} --seed {args.seed} --config {path.name}"
        )
        write_toml(req.configs.file_data(row.params), path, header)
        written.append(path)
    return written


def _outputs(req: SweepRequest, study: optuna.Study, progress: SweepProgress, rows: list[WalkForwardRow],
             parallel: int, out: TextIO) -> int:
    args = req.args
    names = [o.name for o in req.objectives]
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    per_trial_s = progress.wall_s * parallel / progress.done if progress.done else math.nan
    summary = [
        f"study={study.study_name} storage={shown(args.storage)} objectives={','.join(names)} parallel={parallel}",
        f"train=[{_iso(req.train.history.start_ns)}, {_iso(req.train.history.end_ns)}) events={req.train.events:,}"
        + (f" oos=[{_iso(req.oos.history.start_ns)}, {_iso(req.oos.history.end_ns)}) events={req.oos.events:,}"
           if req.oos is not None else " oos=none"),
        f"trials: ran {progress.done} now ({progress.resumed} resumed), complete={states.count('COMPLETE')} "
        f"pruned={states.count('PRUNED')} failed={states.count('FAIL')} nodes={len(progress.nodes)} "
        f"wall_s={progress.wall_s:.1f} s_per_trial_per_worker={per_trial_s:.2f}",
    ]
    summary += [f"best trial {r.number}: {'/'.join(names)} in-sample={_fmt(r.in_sample)} "
                f"out-of-sample={_fmt(r.out_of_sample)} params={r.params}" + (f" ({r.error})" if r.error else "")
                for r in rows]
    written = _write_configs(req, rows, study) if rows else []
    report = args.out / "report.html"
    write_report(report, study, req.objectives, rows, summary)
    summary_json = args.out / "summary.json"
    summary_json.write_text(json.dumps({
        "study": study.study_name, "objectives": names, "trials": states.count("COMPLETE") + states.count("PRUNED"),
        "best": [{"trial": r.number, "params": r.params, "in_sample": list(r.in_sample),
                  "out_of_sample": None if r.out_of_sample is None else list(r.out_of_sample)} for r in rows],
    }, indent=2, default=str))
    written += [report, summary_json]
    lines = summary + [f"wrote {p}" for p in written]
    best = rows[0] if rows else None
    lines.append(
        f"sweep study={study.study_name} trials={len(states)} best_trial={best.number if best else 'none'} "
        + " ".join(f"{n}_is={best.in_sample[i]:.6g} {n}_oos="
                   f"{'nan' if best.out_of_sample is None else f'{best.out_of_sample[i]:.6g}'}"
                   for i, n in enumerate(names) if best is not None)
    )
    print("\n".join(lines), file=out)
    if best is None:
        print("platform sweep: no trial completed (see the report)", file=out)
        return 1
    return 0
