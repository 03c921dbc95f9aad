"""Backtest and sweep routes: ``POST /api/v1/backtests`` (token) starts one as a Ray task, ``GET /api/v1/backtests``
and ``/{id}`` give its state, progress and figures, ``/{id}/report`` its HTML report; the same under ``/sweeps``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from thalex_modular.deployment.api.jobs import JobBoard, backtest_job, sweep_job
from thalex_modular.deployment.api.jobs_models import BacktestRequest, Job, SweepRequest
from thalex_modular.deployment.api.models import Problem

__all__ = ["jobs_router"]

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "the job registry cannot be reached"}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such job (or, for a report, not done)"}, **_UNAVAILABLE}


async def board_of(request: Request) -> JobBoard:
    board: JobBoard = request.app.state.jobs
    return board


BoardDep = Annotated[JobBoard, Depends(board_of)]
_HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {"schema": {"type": "string"}}}}}


def jobs_router(auth: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["jobs"])
    secured: dict[str, Any] = {
        "dependencies": [Depends(auth)],
        "responses": {401: {"model": Problem, "description": "no or a wrong bearer token"}, **_UNAVAILABLE},
    }

    @router.post("/backtests", response_model=Job, status_code=202, summary="start a backtest of stored history",
                 **secured)
    async def start_backtest(body: BacktestRequest, board: BoardDep) -> Job:
        spec = backtest_job(body, board.store)
        return await board.start("backtest", body.model_dump(by_alias=True), spec)

    @router.post("/sweeps", response_model=Job, status_code=202, summary="start a parameter sweep", **secured)
    async def start_sweep(body: SweepRequest, board: BoardDep) -> Job:
        spec = sweep_job(body, board.store)
        return await board.start("sweep", body.model_dump(by_alias=True), spec)

    for kind in ("backtest", "sweep"):
        def routes(kind: str = kind) -> None:
            async def listed(board: BoardDep) -> list[Job]:
                return await board.list(kind)

            async def one(job_id: str, board: BoardDep) -> Job:
                try:
                    return await board.get(kind, job_id)
                except KeyError as exc:
                    raise HTTPException(404, exc.args[0]) from None

            async def report(job_id: str, board: BoardDep) -> HTMLResponse:
                try:
                    return HTMLResponse(await board.report(kind, job_id))
                except KeyError as exc:
                    raise HTTPException(404, exc.args[0]) from None

            router.add_api_route(f"/{kind}s", listed, methods=["GET"], response_model=list[Job],
                                 responses=_UNAVAILABLE, summary=f"the {kind}s started through the API, newest first")
            router.add_api_route(f"/{kind}s/{{job_id}}", one, methods=["GET"], response_model=Job,
                                 responses=_NOT_FOUND, summary=f"one {kind}: state, progress, figures")
            router.add_api_route(f"/{kind}s/{{job_id}}/report", report, methods=["GET"],  # 404s are JSON
                                 responses={**_NOT_FOUND, **_HTML},
                                 summary=f"one {kind}'s HTML report (once done)")

        routes()
    return router
