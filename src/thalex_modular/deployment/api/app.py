"""The API's FastAPI application, built on the Serve replica by :func:`build_api` (STYLE 19).

Routes: REST under ``/api/v1`` (rest.py), backtest and sweep jobs (jobs_routes.py), SSE under ``/api/v1/stream``
(stream.py), the dashboard at ``/`` with its assets under ``/static`` (plotly.js from the installed ``plotly``
package: the page needs no internet), the OpenAPI schema at ``/openapi.json`` (docs at ``/docs``). Config, control
and job-starting routes need the bearer token; when the API listens off loopback every route does.
CORS is off unless origins are configured.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from thalex_modular.deployment.api.auth import TokenError, bearer_matches, is_loopback, read_token
from thalex_modular.deployment.api.feed import ControllerFeed
from thalex_modular.deployment.api.feed_cache import FeedCache
from thalex_modular.deployment.api.jobs import JobBoard, JobsUnavailable
from thalex_modular.deployment.api.jobs_routes import jobs_router
from thalex_modular.deployment.api.rest import rest_router
from thalex_modular.deployment.api.stream import stream_router
from thalex_modular.deployment.config import ApiSettings

__all__ = ["API_NICENESS", "ApiOptions", "build_api"]

log = logging.getLogger(__name__)

#: The API's process yields the CPU to the instrument actors: a busy API must not delay a tick. Ray starts its workers
#: at nice 15 (its ``worker_niceness``); at 19 the replica weighs 15 against an instrument's 36 on a contended core.
API_NICENESS = 19
_STATIC = resources.files("thalex_modular.deployment.api") / "static"
_ASSETS = {"dashboard.js": "text/javascript", "jobs.js": "text/javascript", "dashboard.css": "text/css"}
_BEARER = HTTPBearer(auto_error=False, description="the deployment's API token (docs/api.md)")


@dataclass(frozen=True)
class ApiOptions:
    """What a replica needs (no secret: the token is read from ``token_file`` on the replica).

    Args:
        controller: the Controller's name; namespace: the deployment's Ray namespace.
        token_file: the bearer token's file (mode 0600).
        settings: the API settings (host, SSE bounds, heartbeat, CORS), without the token.
        history_store: where backtests and sweeps read history (a DSN without secrets, or an embedded store's path;
            None: ``THALEX_DB_DSN`` on the worker, else the embedded store in its user data directory); backtests
            are saved to its runs.
        jobs_dir: where the job registry keeps job records and reports (None: ``api-jobs`` next to the deployment's
            state file on the registry's node).
        cpus: the CPUs the replica and the job registry run on (``placement.api_cpus``; empty: any).
        resources: Ray resources the replica asks for (``placement.api_resources``; empty: none).
    """

    controller: str
    namespace: str
    token_file: str
    settings: ApiSettings
    history_store: str | None = None
    jobs_dir: str | None = None
    cpus: tuple[int, ...] = ()
    resources: dict[str, float] = field(default_factory=dict)


def plotly_js() -> Path:
    """plotly.min.js as the installed ``plotly`` package ships it."""
    import plotly  # type: ignore[import-untyped]

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def build_api(options: ApiOptions) -> FastAPI:
    """The application of one replica: it follows the Controller from its start (lifespan) to its end."""
    settings = options.settings

    async def check_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        header = None if credentials is None else f"{credentials.scheme} {credentials.credentials}"
        try:
            token = read_token(Path(options.token_file))
        except TokenError as exc:
            log.error("the API token cannot be read: %s", exc)
            raise HTTPException(401, "the API token is not available on the server",
                                headers={"WWW-Authenticate": "Bearer"}) from None
        if not bearer_matches(header, token):
            raise HTTPException(401, "a valid bearer token is needed (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = os.nice(0)  # this replica yields the CPU to the instrument actors
        os.nice(max(0, API_NICENESS - current))
        feed = ControllerFeed(options.controller, options.namespace, settings.sse_history_events,
                              settings.sse_queue_events)
        feed.start()
        app.state.feed = feed
        app.state.jobs = JobBoard(options.history_store, options.namespace)
        try:
            yield
        finally:
            await feed.close()

    everywhere = [] if is_loopback(settings.host) else [Depends(check_token)]
    app = FastAPI(title="Thalex Modular deployment API", version="1", lifespan=lifespan,
                  dependencies=everywhere,
                  description="REST and server-sent event streams of a running deployment (docs/api.md).")
    if not everywhere:
        app.add_middleware(FeedCache)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "PATCH"], allow_headers=["Authorization", "Content-Type"])
    app.include_router(rest_router(check_token))
    app.include_router(stream_router(settings.heartbeat_s, settings.sse_connection_bytes))
    app.include_router(jobs_router(check_token))

    @app.exception_handler(JobsUnavailable)
    async def jobs_unavailable(request: Request, exc: JobsUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    _static_routes(app)
    return app


def _static_routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse((_STATIC / "index.html").read_text(), headers={"Cache-Control": "no-cache"})

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_asset() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/{name}", include_in_schema=False)
    async def asset(name: str) -> Any:
        if name not in _ASSETS:
            raise HTTPException(404, f"no asset {name!r}")
        return Response((_STATIC / name).read_bytes(), media_type=_ASSETS[name],
                        headers={"Cache-Control": "no-cache"})
