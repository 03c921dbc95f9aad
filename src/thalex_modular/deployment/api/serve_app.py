"""Running the API on Ray Serve: Serve deploys, health-checks and restarts one replica (``num_cpus=0``: it must not
take a core from the instrument actors), and that replica serves the FastAPI app itself with uvicorn on the API's
host and port (loopback unless told otherwise). Serve's own HTTP proxy is not started: measured under load
(docs/api.md), relaying each request from the proxy to the replica as an actor call cost several times the app's own
work, on the same two cores as the instruments.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Final

from thalex_modular.deployment.api.app import ApiOptions, build_api
from thalex_modular.deployment.api.auth import ensure_token_file, token_file
from thalex_modular.deployment.config import ApiSettings
from thalex_modular.deployment.placement import PlacementSettings, pin_process

__all__ = ["APP_NAME", "ApiServer", "start_api", "start_deployment_api", "start_job_registry", "stop_api"]

log = logging.getLogger(__name__)

APP_NAME: Final = "thalex-api"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 5.0


class ApiServer:
    """The Serve replica: the API app on uvicorn in a thread of its own, listening on ``host``:``port``.

    The socket is bound here, so a port in use fails the deployment at once (Serve reports the error). Serve calls
    :meth:`check_health` periodically: a server that stopped makes Serve replace the replica.
    """

    def __init__(self, options: ApiOptions, host: str, port: int) -> None:
        import uvicorn

        pin_process(options.cpus, "placement.api_cpus")  # before the HTTP thread starts: it inherits the set

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        config = uvicorn.Config(build_api(options), log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="api-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API's HTTP server did not start on {host}:{port}")
            time.sleep(0.05)

    def _serve(self, sock: socket.socket) -> None:
        try:  # this thread does all the HTTP work: any instrument actor waking up preempts it at once
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:
            log.warning("the API's HTTP thread keeps its scheduling policy: %s", exc)
        self._server.run(sockets=[sock])

    def check_health(self) -> None:
        if not self._thread.is_alive() or self._server.should_exit:
            raise RuntimeError("the API's HTTP server stopped")

    def __del__(self) -> None:  # Serve calls it when the replica is shut down: close the listener first
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT_S)


def start_job_registry(options: ApiOptions) -> None:
    """The deployment's job registry (job_registry.py): named, detached, restarted without limit, kept on this node
    (soft) where its ``jobs_dir`` is; an existing one is kept."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from thalex_modular.deployment.api.job_registry import JobRegistry
    from thalex_modular.deployment.ray.names import API_JOBS

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    registry: Any = ray.remote(JobRegistry).options(  # type: ignore[attr-defined]
        name=API_JOBS, namespace=options.namespace, lifetime="detached", get_if_exists=True, max_restarts=-1,
        num_cpus=0, scheduling_strategy=here,
    ).remote(options.jobs_dir, options.cpus)
    ray.get(registry.list.remote("backtest"), timeout=_START_TIMEOUT_S)  # up, its records read


def start_api(options: ApiOptions, *, port: int | None = None) -> str:
    """Deploy the API (one replica serving HTTP on ``options.settings.host``:``port``, and the job registry it
    starts jobs through); returns its base URL.

    Needs a connected Ray driver. Serve's controller and the job registry are detached: they outlive the caller.
    """
    from ray import serve
    from ray.serve.schema import LoggingConfig

    start_job_registry(options)
    settings = options.settings
    port = settings.port if port is None else port
    serve.start(proxy_location="Disabled", logging_config=LoggingConfig(enable_access_log=False, log_level="WARNING"))
    deployment = serve.deployment(
        name="api", num_replicas=1, ray_actor_options={"num_cpus": 0, "resources": dict(options.resources)},
        logging_config=LoggingConfig(enable_access_log=False), health_check_period_s=5,
    )(ApiServer)
    serve.run(deployment.bind(options, settings.host, port), name=APP_NAME, route_prefix=None, blocking=False)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{port}"


def start_deployment_api(settings: ApiSettings, controller: str, namespace: str, state_dir: Path,
                         history_store: str | None = None,
                         placement: PlacementSettings | None = None) -> tuple[str, Path]:
    """What ``platform deploy`` starts: the token file made sure of (mode 0600), then the API reading ``controller``
    (its backtests and sweeps reading ``history_store``, the deployment's store; its jobs kept in ``api-jobs`` in
    ``state_dir``), placed as ``placement`` says. Returns the base URL and the token file's path.

    Raises:
        TokenError: the token file cannot be written or is readable by others.
    """
    path = ensure_token_file(settings, os.environ, token_file(settings, state_dir))
    placement = placement or PlacementSettings()
    url = start_api(ApiOptions(controller, namespace, str(path), settings.model_copy(update={"token": None}),
                               history_store, str(state_dir / "api-jobs"), placement.api_cpus,
                               dict(placement.api_resources)))
    return url, path


def stop_api(namespace: str | None = None) -> None:
    """Remove the API app, shut Serve down (its controller) and end the job registry (in ``namespace``, default the
    driver's): jobs still running end with it; their records stay in its ``jobs_dir`` (reported failed by the next
    registry)."""
    import ray
    from ray import serve

    from thalex_modular.deployment.ray.names import API_JOBS

    try:
        serve.delete(APP_NAME)
    except Exception as exc:  # not running: nothing to remove
        log.info("the API app was not running: %s", exc)
    serve.shutdown()  # type: ignore[no-untyped-call]
    try:
        registry = ray.get_actor(API_JOBS, namespace=namespace)
    except ValueError:
        return
    ray.kill(registry, no_restart=True)

