"""The API's jobs outlive its replica: :class:`JobRegistry` is a named, detached actor (``api-jobs`` in the
deployment's namespace) that starts each backtest or sweep as a Ray generator task (job_tasks.py), owns it, follows
its progress records and keeps the job records. ``start_api`` creates it; every replica, the first one and each one
Serve starts after a replica died, reads and starts jobs through it, so a replica restart loses no job and cancels
none (the tasks belong to the registry, not to a replica).

The registry also writes each record (``<id>.json``) and report (``<id>.html``) to ``jobs_dir`` on its node's disk
(the deployment's state directory): a registry that restarts (Ray re-runs its constructor) or a later deployment
reads them back. A job that was queued or running when its registry (its driver, the owner of its task) died is
reported failed with that reason: its task died with its owner. The last ``keep`` finished jobs are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

from thalex_modular.deployment.api.job_tasks import BacktestJob, SweepJob, backtest_task, sweep_task
from thalex_modular.deployment.api.jobs_models import Job
from thalex_modular.deployment.placement import pin_process

__all__ = ["JobRegistry", "default_jobs_dir"]

log = logging.getLogger(__name__)

_KEEP = 50
_ID = re.compile(r"^[bs](\d+)-\d{8}T\d{6}$")


def default_jobs_dir() -> Path:
    """``api-jobs`` next to the deployment's state file (on the node the registry runs on)."""
    from thalex_modular.deployment.ray.cluster import state_path

    return state_path().parent / "api-jobs"


class JobRegistry:
    """The API's jobs, newest first (see the module docstring).

    Args:
        jobs_dir: where records and reports are kept (None: :func:`default_jobs_dir`); created at the first job.
        cpus: the CPUs this actor and the jobs' tasks run on (the API's, ``placement.api_cpus``; empty: any).
        keep: finished jobs kept (the oldest beyond it are deleted, files included).
    """

    def __init__(self, jobs_dir: str | None = None, cpus: tuple[int, ...] = (), keep: int = _KEEP) -> None:
        pin_process(cpus, "placement.api_cpus")
        self._cpus = cpus
        self._dir = Path(jobs_dir) if jobs_dir is not None else default_jobs_dir()
        self._keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._next = 1
        self._load()

    # -- records on disk --------------------------------------------------------------------------------------

    def _load(self) -> None:
        """The records a previous incarnation (or deployment) left, oldest first; those it left unfinished failed."""
        if not self._dir.is_dir():
            return
        jobs = []
        for path in self._dir.glob("*.json"):
            try:
                jobs.append(Job.model_validate_json(path.read_text()))
            except (OSError, ValueError) as exc:  # one unreadable record does not hide the others
                log.warning("skipping the job record %s: %s", path, exc)
        now_ns = time.time_ns()
        for job in sorted(jobs, key=lambda j: (j.created_ns, j.id)):
            if job.state in ("queued", "running"):
                job = job.model_copy(update={
                    "state": "failed", "finished_ns": now_ns,
                    "error": (f"interrupted: the API's job registry (the owner of its Ray task) ended while the job "
                              f"was {job.state}, and its task with it; start it again"),
                })
                self._write(job)
            self._jobs[job.id] = job
            match = _ID.match(job.id)
            if match is not None:
                self._next = max(self._next, int(match.group(1)) + 1)

    def _write(self, job: Job) -> None:
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._dir / f"{job.id}.json"
        partial = path.with_suffix(".json.partial")
        partial.write_text(job.model_dump_json())
        os.replace(partial, path)  # a reader (or a restart) never sees half a record

    def _report_path(self, job_id: str) -> Path:
        return self._dir / f"{job_id}.html"

    # -- reads ------------------------------------------------------------------------------------------------

    async def list(self, kind: str) -> list[Job]:
        return [job for job in reversed(self._jobs.values()) if job.kind == kind]

    async def get(self, kind: str, job_id: str) -> Job | None:
        """The job, None when there is no such job of that kind."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.kind == kind else None

    async def report(self, kind: str, job_id: str) -> str | None:
        """The job's HTML report, None when there is no such job or it has none (not done)."""
        job = await self.get(kind, job_id)
        path = self._report_path(job_id)
        if job is None or job.state != "done" or not path.is_file():
            return None
        return await asyncio.to_thread(path.read_text)

    # -- jobs -------------------------------------------------------------------------------------------------

    async def start(self, kind: Literal["backtest", "sweep"], request: dict[str, Any],
                    spec: BacktestJob | SweepJob) -> Job:
        """Record the job (on disk before it starts), then start its task (on the API's CPUs when placed); returns
        the queued job."""
        import ray

        spec = dataclasses.replace(spec, cpus=self._cpus)
        job_id = f"{kind[0]}{self._next}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
        self._next += 1
        job = Job(id=job_id, kind=kind, state="queued", request=request, created_ns=time.time_ns(), progress=0.0)
        self._jobs[job_id] = job
        self._write(job)
        records: Any
        if isinstance(spec, BacktestJob):  # one core for the replay; a sweep's driver only waits, its trials take cores
            records = ray.remote(backtest_task).options(num_cpus=1, name=f"api_backtest_{job_id}",
                                                        max_retries=0).remote(spec)
        else:
            records = ray.remote(sweep_task).options(num_cpus=0, name=f"api_sweep_{job_id}", max_retries=0).remote(spec)
        task = asyncio.get_running_loop().create_task(self._follow(job_id, records), name=f"follow-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._forget_old()
        return job

    async def _follow(self, job_id: str, records: Any) -> None:
        try:
            async for ref in records:
                record: dict[str, Any] = await ref
                await self._update(job_id, record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the task died (its worker, Ray): the job failed
            self._set(job_id, state="failed", error=f"{type(exc).__name__}: {exc}", finished_ns=time.time_ns())

    async def _update(self, job_id: str, record: dict[str, Any]) -> None:
        kind = record.pop("kind")
        if kind == "progress":
            progress = float(record.pop("progress", 0.0))
            self._set(job_id, state="running", progress=max(0.0, min(1.0, progress)), detail=record)
        elif kind == "done":
            html = record.pop("report")
            path = self._report_path(job_id)
            await asyncio.to_thread(path.write_text, html)
            self._set(job_id, state="done", progress=1.0, result=record, finished_ns=time.time_ns(),
                      report=f"/api/v1/{self._jobs[job_id].kind}s/{job_id}/report")
        else:
            self._set(job_id, state="failed", error=record.get("error"), finished_ns=time.time_ns())

    def _set(self, job_id: str, **changes: Any) -> None:
        if job_id in self._jobs:
            job = self._jobs[job_id] = self._jobs[job_id].model_copy(update=changes)
            self._write(job)

    def _forget_old(self) -> None:
        finished = [i for i, j in self._jobs.items() if j.state in ("done", "failed")]
        for job_id in finished[:max(0, len(finished) - self._keep)]:
            del self._jobs[job_id]
            for path in (self._dir / f"{job_id}.json", self._report_path(job_id)):
                path.unlink(missing_ok=True)

    async def close(self) -> None:
        """Cancel the following of every job (their tasks end with this actor)."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
