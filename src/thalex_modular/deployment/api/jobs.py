"""The replica's jobs: backtests and sweeps started through the API, each a Ray generator task (job_tasks.py) that
the deployment's job registry starts and follows; the replica checks requests and reads the registry.

Requests are checked here before anything starts: times, instrument, config overrides, search space and objectives,
each error naming its field (a 422 as FastAPI's own). The jobs themselves live in the deployment's job registry
(job_registry.py), a detached actor: a replica that Serve replaces finds them all there, running ones included.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError

from thalex_modular.deployment.api.job_tasks import BacktestJob, SweepJob
from thalex_modular.deployment.api.jobs_models import BacktestRequest, Job, SweepRequest
from thalex_modular.deployment.config import ConfigError, RunConfig, load_run_config
from thalex_modular.deployment.ray.names import API_JOBS
from thalex_modular.sweeps.configs import TrialConfigs

__all__ = ["JobBoard", "JobsUnavailable", "RequestConfigs", "backtest_job", "sweep_job"]

log = logging.getLogger(__name__)


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


class JobsUnavailable(RuntimeError):
    """The job registry cannot be reached (not started, or gone for good): the API answers 503 saying so."""


class JobBoard:
    """The replica's view of the deployment's :class:`~.job_registry.JobRegistry` (found by name, again after it
    restarted): every read and start is one call to it; the jobs themselves never run in the replica.

    Args:
        store: the history store the jobs read (and save backtest runs to); see ``ApiOptions.history_store``.
        namespace: the deployment's Ray namespace, where the registry is named ``api-jobs``.
    """

    def __init__(self, store: str | None, namespace: str) -> None:
        self.store = store
        self._namespace = namespace
        self._handle: Any = None

    async def _registry(self) -> Any:
        import ray

        if self._handle is None:
            try:
                self._handle = await asyncio.to_thread(ray.get_actor, API_JOBS, namespace=self._namespace)
            except ValueError:
                raise JobsUnavailable(f"the job registry ({API_JOBS!r} in namespace {self._namespace!r}) is not "
                                      "running: the API was started without it") from None
        return self._handle

    async def _call(self, method: str, *args: Any) -> Any:
        """One call to the registry; a registry that died is looked up again once (Ray restarts it)."""
        from ray.exceptions import RayActorError

        for attempt in range(2):
            registry = await self._registry()
            try:
                return await getattr(registry, method).remote(*args)
            except RayActorError as exc:
                self._handle = None
                if attempt:
                    raise JobsUnavailable(f"the job registry did not answer: {exc}") from None
        raise AssertionError("unreachable")

    async def list(self, kind: str) -> list[Job]:
        jobs: list[Job] = await self._call("list", kind)
        return jobs

    async def get(self, kind: str, job_id: str) -> Job:
        """Raises: KeyError: no such job of that kind."""
        job: Job | None = await self._call("get", kind, job_id)
        if job is None:
            raise KeyError(f"no {kind} {job_id!r}")
        return job

    async def report(self, kind: str, job_id: str) -> str:
        """The job's HTML report. Raises: KeyError: no such job, or not done (the message says which)."""
        job = await self.get(kind, job_id)
        html: str | None = await self._call("report", kind, job_id)
        if html is None:
            raise KeyError(f"{kind} {job_id!r} has no report ({job.state})")
        return html

    async def start(self, kind: Literal["backtest", "sweep"], request: dict[str, Any],
                    spec: BacktestJob | SweepJob) -> Job:
        job: Job = await self._call("start", kind, request, spec)
        return job
