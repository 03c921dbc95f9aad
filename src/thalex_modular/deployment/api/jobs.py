"""The replica's jobs: backtests and sweeps started through the API, each a Ray generator task (job_tasks.py) that
this board follows from the replica's event loop (one await per progress record; the work itself never runs here).

Requests are checked here before anything starts: times, instrument, config overrides, search space and objectives,
each error naming its field (a 422 as FastAPI's own). Jobs live with the replica (an API restart forgets them and
cancels those running, their owner being gone); the last ``keep`` finished ones are kept with their reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError

from thalex_modular.deployment.api.job_tasks import BacktestJob, SweepJob, backtest_task, sweep_task
from thalex_modular.deployment.api.jobs_models import BacktestRequest, Job, SweepRequest
from thalex_modular.deployment.config import ConfigError, RunConfig, load_run_config
from thalex_modular.sweeps.configs import TrialConfigs

__all__ = ["JobBoard", "RequestConfigs", "backtest_job", "sweep_job"]

log = logging.getLogger(__name__)

_KEEP = 50
_NS = 1_000_000_000


def _invalid(name: str, message: str, value: Any = None) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", name), "msg": message, "input": value}])


def _range(request: BacktestRequest | SweepRequest) -> tuple[int, int]:
    from thalex_modular.deployment.cli_errors import UsageError
    from thalex_modular.deployment.time_args import parse_time_ns

    bounds = []
    for name, value in (("from", request.from_), ("to", request.to)):
        try:
            bounds.append(parse_time_ns(str(value), f"`{name}`", "s"))
        except UsageError as exc:
            raise _invalid(name, str(exc), value) from None
    if bounds[1] <= bounds[0]:
        raise _invalid("to", f"must be after `from` ({request.from_})", request.to)
    return bounds[0], bounds[1]


def _instrument(name: str) -> Any:
    from thalex_modular.platform.use_cases.backtest import UnknownInstrument, backtest_instrument

    try:
        return backtest_instrument(name)
    except UnknownInstrument as exc:
        raise _invalid("instrument", str(exc), name) from None


@dataclass(frozen=True, slots=True)
class RequestConfigs(TrialConfigs):
    """Configs as ``platform backtest`` and ``sweep`` build them, the request's overrides as the base (no file, no
    ``THALEX_*`` environment: a job depends on its request only); a sweep's parameters go on top."""

    overrides: dict[str, Any] = field(default_factory=dict)

    def run_config(self, params: Mapping[str, Any]) -> RunConfig:
        return load_run_config(None, {}, {"instrument": self.instrument_name, **self.overrides, **params})


def _configs(request: BacktestRequest | SweepRequest) -> RequestConfigs:
    configs = RequestConfigs(None, request.instrument, _instrument(request.instrument), request.mode,
                             dict(request.config))
    try:
        configs.run_config({})
    except ConfigError as exc:
        raise _invalid("config", str(exc), request.config) from None
    return configs


def backtest_job(request: BacktestRequest, store: str | None) -> BacktestJob:
    """The backtest ``request`` describes.

    Raises:
        RequestValidationError: a field is wrong (its name and why).
    """
    start_ns, end_ns = _range(request)
    return BacktestJob(_configs(request).backtest({}, start_ns, end_ns), store, request.seed)


def sweep_job(request: SweepRequest, store: str | None) -> SweepJob:
    """The sweep ``request`` describes.

    Raises:
        RequestValidationError: a field is wrong (its name and why).
    """
    from thalex_modular.sweeps.objectives import parse_objectives
    from thalex_modular.sweeps.space import SpaceError, space_of

    start_ns, end_ns = _range(request)
    configs = _configs(request)
    try:
        space = space_of(request.space, "the request's space")
    except SpaceError as exc:
        raise _invalid("space", str(exc)) from None
    try:
        objectives = parse_objectives(request.objective)
    except ValueError as exc:
        raise _invalid("objective", str(exc), request.objective) from None
    return SweepJob(request.instrument, start_ns, end_ns, request.mode, configs, space, objectives, request.trials,
                    request.parallel, request.seed, request.steps, request.prune, request.oos_share, store)


class JobBoard:
    """The jobs of this replica, newest first; follows each one's task."""

    def __init__(self, store: str | None, keep: int = _KEEP) -> None:
        self.store = store
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._reports: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._keep = keep

    def list(self, kind: str) -> list[Job]:
        return [job for job in reversed(self._jobs.values()) if job.kind == kind]

    def get(self, kind: str, job_id: str) -> Job:
        """Raises: KeyError: no such job of that kind."""
        job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise KeyError(f"no {kind} {job_id!r}")
        return job

    def report(self, kind: str, job_id: str) -> str:
        """The job's HTML report. Raises: KeyError: no such job, or not done (the message says which)."""
        job = self.get(kind, job_id)
        if job_id not in self._reports:
            raise KeyError(f"{kind} {job_id!r} has no report ({job.state})")
        return self._reports[job_id]

    def start(self, kind: Literal["backtest", "sweep"], request: dict[str, Any], spec: BacktestJob | SweepJob) -> Job:
        import ray

        job_id = f"{kind[0]}{next(self._ids)}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
        job = Job(id=job_id, kind=kind, state="queued", request=request, created_ns=time.time_ns(), progress=0.0)
        self._jobs[job_id] = job
        records: Any
        if isinstance(spec, BacktestJob):  # one core for the replay; a sweep's driver only waits, its trials take cores
            records = ray.remote(backtest_task).options(num_cpus=1, name=f"api_backtest_{job_id}",
                                                        max_retries=0).remote(spec)
        else:
            records = ray.remote(sweep_task).options(num_cpus=0, name=f"api_sweep_{job_id}", max_retries=0).remote(spec)
        task = asyncio.get_running_loop().create_task(self._follow(job_id, records))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._forget_old()
        return job

    async def _follow(self, job_id: str, records: Any) -> None:
        try:
            async for ref in records:
                record: dict[str, Any] = await ref
                self._update(job_id, record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the task died (its worker, Ray): the job failed
            self._set(job_id, state="failed", error=f"{type(exc).__name__}: {exc}", finished_ns=time.time_ns())

    def _update(self, job_id: str, record: dict[str, Any]) -> None:
        kind = record.pop("kind")
        if kind == "progress":
            progress = float(record.pop("progress", 0.0))
            self._set(job_id, state="running", progress=max(0.0, min(1.0, progress)), detail=record)
        elif kind == "done":
            self._reports[job_id] = record.pop("report")
            self._set(job_id, state="done", progress=1.0, result=record, finished_ns=time.time_ns(),
                      report=f"/api/v1/{self._jobs[job_id].kind}s/{job_id}/report")
        else:
            self._set(job_id, state="failed", error=record.get("error"), finished_ns=time.time_ns())

    def _set(self, job_id: str, **changes: Any) -> None:
        if job_id in self._jobs:
            self._jobs[job_id] = self._jobs[job_id].model_copy(update=changes)

    def _forget_old(self) -> None:
        finished = [i for i, j in self._jobs.items() if j.state in ("done", "failed")]
        for job_id in finished[:max(0, len(finished) - self._keep)]:
            del self._jobs[job_id]
            self._reports.pop(job_id, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
