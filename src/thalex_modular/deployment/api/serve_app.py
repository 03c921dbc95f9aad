"""Running the API on Ray Serve: one replica (``num_cpus=0``: it must not take a core from the instrument actors),
its HTTP proxy bound to loopback unless told otherwise, access logs off, many concurrent requests (SSE clients hold
theirs open: Serve's default of 5 would starve the REST routes; RAY_NOTES)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Final

from thalex_modular.deployment.api.app import API_NICENESS, ApiOptions, build_api
from thalex_modular.deployment.api.auth import ensure_token_file, token_file
from thalex_modular.deployment.config import ApiSettings

__all__ = ["APP_NAME", "start_api", "start_deployment_api", "stop_api"]

log = logging.getLogger(__name__)

APP_NAME: Final = "thalex-api"
_MAX_ONGOING_REQUESTS = 1_000


def start_api(options: ApiOptions, *, port: int | None = None) -> str:
    """Start Serve (HTTP on ``options.settings.host``:``port``) with the API app; returns its base URL.

    Needs a connected Ray driver. Serve's controller and proxy are detached: they outlive the caller.
    """
    from ray import serve
    from ray.serve.config import HTTPOptions
    from ray.serve.schema import LoggingConfig

    settings = options.settings
    port = settings.port if port is None else port
    serve.start(proxy_location="HeadOnly", http_options=HTTPOptions(host=settings.host, port=port),
                logging_config=LoggingConfig(enable_access_log=False, log_level="WARNING"))

    def builder() -> Any:  # run on the replica (a function: Serve calls it there; options travel with it)
        return build_api(options)

    @serve.ingress(builder)
    class ThalexApi:
        pass

    deployment = serve.deployment(
        name="api", num_replicas=1, max_ongoing_requests=_MAX_ONGOING_REQUESTS,
        ray_actor_options={"num_cpus": 0}, logging_config=LoggingConfig(enable_access_log=False),
    )(ThalexApi)
    serve.run(deployment.bind(), name=APP_NAME, route_prefix="/", blocking=False)
    _lower_proxy_priority()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{port}"


def _lower_proxy_priority() -> None:
    """Serve's HTTP proxies run at :data:`API_NICENESS` like the replica (Serve has no option for it: the call runs
    ``os.nice`` inside each proxy actor's process; best effort)."""
    import ray

    for named in ray.util.list_named_actors(all_namespaces=True):
        if named["name"].startswith("SERVE_PROXY_ACTOR"):
            try:
                proxy = ray.get_actor(named["name"], namespace=named["namespace"])
                ray.get(proxy.__ray_call__.remote(_renice), timeout=10)
            except Exception as exc:
                log.warning("the Serve proxy keeps its priority: %s", exc)


def _renice(_actor: Any) -> int:
    """Raise this process's niceness to at least :data:`API_NICENESS` (idempotent); returns it."""
    current = os.nice(0)
    return os.nice(max(0, API_NICENESS - current))


def start_deployment_api(settings: ApiSettings, controller: str, namespace: str, state_dir: Path) -> tuple[str, Path]:
    """What ``platform deploy`` starts: the token file made sure of (mode 0600), then the API reading ``controller``.
    Returns the base URL and the token file's path.

    Raises:
        TokenError: the token file cannot be written or is readable by others.
    """
    path = ensure_token_file(settings, os.environ, token_file(settings, state_dir))
    url = start_api(ApiOptions(controller, namespace, str(path), settings.model_copy(update={"token": None})))
    return url, path


def stop_api() -> None:
    """Remove the API app and shut Serve down (its proxy and controller)."""
    from ray import serve

    try:
        serve.delete(APP_NAME)
    except Exception as exc:  # not running: nothing to remove
        log.info("the API app was not running: %s", exc)
    serve.shutdown()  # type: ignore[no-untyped-call]

