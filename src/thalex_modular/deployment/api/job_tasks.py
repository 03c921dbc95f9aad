"""The API's backtest and sweep jobs as Ray tasks (never in the replica's event loop): each is a generator task that
yields progress records while it works and a last ``done`` record with the figures and the HTML report. The backtest
calls only the backtest package's public functions (``backtest_from_storage``, ``write_report``); the sweep drives
the same study as ``platform sweep`` (``run_sweep``, ``walk_forward``), its trials being Ray tasks of their own.
A backtest's run is saved to the store's runs, as ``platform backtest`` saves it. Jobs and trials run at the API's
niceness (19): they yield the CPU to the instrument actors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["BacktestJob", "SweepJob", "backtest_task", "sweep_task"]

#: The embedded store's DuckDB memory limit in a job, as in ``platform backtest``.
_MEMORY_LIMIT_MB = 64
_PROGRESS_EVERY_S = 0.5
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class BacktestJob:
    """A checked backtest request: the config, the history store (None: ``THALEX_DB_DSN``, else the embedded store
    of the worker's user data directory) and the seed; ``cpus``: the CPUs its worker runs on (the API's, set by the
    job registry; empty: any)."""

    config: Any  # BacktestConfig
    store: str | None
    seed: int
    cpus: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SweepJob:
    """A checked sweep request (``configs``: TrialConfigs, ``space``: SearchSpace, ``objectives``: Objective)."""

    instrument: str
    start_ns: int
    end_ns: int
    mode: Literal["tick", "bar"]
    configs: Any
    space: Any
    objectives: tuple[Any, ...]
    trials: int
    parallel: int | None
    seed: int
    steps: int
    prune: bool
    oos_share: float
    store: str | None
    cpus: tuple[int, ...] = ()


def _storage(store: str | None) -> Any:
    """The history store of a job, not opened; an embedded store must exist already (a job only reads).

    Raises:
        UsageError: no store there (the message says where it looked).
    """
    from thalex_modular.deployment.db_target import resolve_store
    from thalex_modular.platform.adapters.storage.factory import EMBEDDED_SCHEME, is_dsn, make_storage

    if store is not None and not is_dsn(store) and not store.startswith(EMBEDDED_SCHEME):
        store = EMBEDDED_SCHEME + store
    target = resolve_store(store, None, must_exist=True)
    return make_storage(target.dsn or target.path, embedded_memory_limit_mb=_MEMORY_LIMIT_MB)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: those figures are None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _in_thread(work: Callable[[Callable[[dict[str, Any]], None]], dict[str, Any]],
               cpus: tuple[int, ...]) -> Iterator[dict[str, Any]]:
    """Run ``work(report)`` in a thread; yield what it reports (at most every 0.5 s, the last one always), then its
    result as a ``done`` record, or a ``failed`` one with the error. The worker yields the CPU to the instrument
    actors as the API does, on the API's ``cpus`` when placed (a sweep's trials too: ``SweepPlan.niceness`` and
    ``cpus``). A Ray worker keeps both for the tasks it runs later."""
    from thalex_modular.deployment.api.app import API_NICENESS
    from thalex_modular.deployment.placement import PlacementError, pin_process

    os.nice(max(0, API_NICENESS - os.nice(0)))
    try:
        pin_process(cpus, "placement.api_cpus")
    except PlacementError as exc:
        yield {"kind": "failed", "error": f"PlacementError: {exc}"}
        return
    records: queue.Queue[tuple[str, Any]] = queue.Queue()

    def run() -> None:
        try:
            records.put(("done", work(lambda r: records.put(("progress", r)))))
        except Exception as exc:  # the job's failure is its result: the API shows it
            records.put(("failed", f"{type(exc).__name__}: {exc}"))

    threading.Thread(target=run, name="job", daemon=True).start()
    last_sent = 0.0
    pending: dict[str, Any] | None = None
    while True:
        try:
            kind, value = records.get(timeout=_PROGRESS_EVERY_S)
        except queue.Empty:
            kind, value = "idle", None
        if kind == "progress":
            pending = value
        if pending is not None and (kind != "progress" or time.monotonic() - last_sent >= _PROGRESS_EVERY_S):
            yield {"kind": "progress", **pending}
            pending, last_sent = None, time.monotonic()
        if kind == "done":  # with where it ran: this worker's niceness and CPUs
            worker = {"niceness": os.nice(0), "cpus": sorted(os.sched_getaffinity(0))}
            yield {"kind": "done", **value, "worker": worker}
            return
        if kind == "failed":
            yield {"kind": "failed", "error": value}
            return


def backtest_task(job: BacktestJob) -> Iterator[dict[str, Any]]:
    """The backtest of ``job`` (a Ray generator task)."""
    from thalex_modular.platform.use_cases.backtest import backtest_from_storage
    from thalex_modular.platform.use_cases.backtest.report import write_report

    def work(report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        span = [job.config.history.start_ns, job.config.history.end_ns]
        events = 0

        def on_span(lo: int, hi: int) -> None:
            span[:] = [lo, hi]

        def on_progress(n: int, ts_ns: int) -> None:
            nonlocal events
            events += n
            report({"events": events, "progress": min(1.0, (ts_ns - span[0]) / max(1, span[1] - span[0]))})

        async def run() -> Any:
            storage = _storage(job.store)
            created_ns = time.time_ns()
            await storage.open()
            try:
                result = await backtest_from_storage(storage, job.config, job.seed, on_progress=on_progress,
                                                     on_span=on_span)
                await storage.save_run(result.to_run(created_ns, time.time_ns()))  # as `platform backtest` does
                return result
            finally:
                await storage.close()

        result = asyncio.run(run())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "report.html"
            write_report(result, path)
            html = path.read_text()
        metrics = {k: _finite(v) for k, v in dataclasses.asdict(result.metrics).items()}
        return {"run_id": result.run_id, "metrics": metrics, "summary": result.summary_line(), "report": html}

    yield from _in_thread(work, job.cpus)


def sweep_task(job: SweepJob) -> Iterator[dict[str, Any]]:
    """The sweep of ``job`` (a Ray generator task; its trials are tasks it submits)."""
    yield from _in_thread(lambda report: _sweep(job, report), job.cpus)


def _sweep(job: SweepJob, report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    import optuna
    import ray

    from thalex_modular.deployment.api.app import API_NICENESS
    from thalex_modular.deployment.sweep_execute import PRUNER_STARTUP_TRIALS
    from thalex_modular.platform.use_cases.backtest.source import HistoryRange
    from thalex_modular.sweeps.history import load_window, share
    from thalex_modular.sweeps.report import write_report
    from thalex_modular.sweeps.study import SweepPlan, SweepProgress, best_trials, run_sweep
    from thalex_modular.sweeps.walk_forward import split_ns, walk_forward

    base = job.configs.run_config({})
    chunk_ns = base.backtest.chunk_s * _NS
    split = split_ns(job.start_ns, job.end_ns, job.oos_share)
    train = HistoryRange(job.instrument, job.start_ns, split, job.mode, chunk_ns, base.backtest.bar_volume_share)
    oos = (HistoryRange(job.instrument, split, job.end_ns, job.mode, chunk_ns, base.backtest.bar_volume_share)
           if split < job.end_ns else None)

    async def load() -> tuple[Any, Any]:
        storage = _storage(job.store)
        await storage.open()
        try:
            return await load_window(storage, train), (await load_window(storage, oos) if oos is not None else None)
        finally:
            await storage.close()

    train_window, oos_window = asyncio.run(load())
    parallel = job.parallel or max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=[o.direction for o in job.objectives], sampler=optuna.samplers.TPESampler(seed=job.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=0))
    plan = SweepPlan(job.space, job.objectives, job.configs, job.trials, parallel, job.seed, job.steps, job.prune,
                     niceness=API_NICENESS, cpus=job.cpus)

    def on_trial(s: optuna.Study, p: SweepProgress) -> None:
        report({"progress": p.done / job.trials, "trials_done": p.done, "pruned": p.pruned, "failed": p.failed,
                "best": _best(s, job.objectives)})

    run = run_sweep(study, plan, share(train_window), on_trial)
    rows = walk_forward(best_trials(study), plan, share(oos_window) if oos_window is not None else None,
                        job.objectives)
    names = [o.name for o in job.objectives]
    summary = [f"API sweep of {job.instrument}: {job.trials} trials, objectives {','.join(names)}, "
               f"{run.progress.done} run, {run.progress.pruned} pruned, {run.progress.failed} failed"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        write_report(path, study, job.objectives, rows, summary)
        html = path.read_text()
    best = [{"trial": r.number, "params": r.params, "in_sample": [_finite(v) for v in r.in_sample],
             "out_of_sample": None if r.out_of_sample is None else [_finite(v) for v in r.out_of_sample],
             "error": r.error} for r in rows]
    trials = study.get_trials(deepcopy=False)
    niceness = sorted({t.user_attrs["niceness"] for t in trials if "niceness" in t.user_attrs})
    return {"trials_done": run.progress.done, "pruned": run.progress.pruned, "failed": run.progress.failed,
            "objectives": names, "best": best, "trial_niceness": niceness, "report": html}


def _best(study: Any, objectives: tuple[Any, ...]) -> dict[str, Any] | None:
    from thalex_modular.sweeps.study import best_trials

    trials = best_trials(study)
    if not trials:
        return None
    top = trials[0]
    return {"trial": top.number, "params": top.params,
            "values": {o.name: _finite(v) for o, v in zip(objectives, top.values, strict=True)}}
