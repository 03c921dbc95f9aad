"""``platform deploy`` / ``status`` / ``stop``: the Ray deployment, one actor per instrument.

    platform deploy --mode shadow|live --network local|test|prod --instruments BTC-PERPETUAL,ETH-PERPETUAL
                    [--address auto|HOST:PORT|ray://HOST:PORT] [--config FILE] [--db DSN] [--wait-s S]
                    [--api-host HOST] [--api-port PORT] [--no-api]
                    [--api-cpus LIST] [--instrument-cpus LIST] [--api-resource NAME]
    platform status [--json] [--watch]
    platform stop [--timeout-s S]

``deploy`` checks everything it can before it starts anything (the config, live credentials, the venue and its
instruments): a mistake is a clear error, exit code 2, nothing started. Without ``--address`` it starts a Ray head
on loopback that outlives the command (its own ports, never 6379); with ``--network local`` and no emulator answering
it starts one. It compiles the tick path once (the actors load it from the kernel cache), creates the Controller,
which creates the instrument actors, starts the API and dashboard on Ray Serve (docs/api.md; 127.0.0.1 unless
``--api-host``), and returns when every instrument quotes (exit 0), or says which does not and why (exit 1; the others
keep quoting). ``stop`` engages every kill switch, waits until our orders are cancelled (or
says which remain), removes the actors, and stops the Ray head and the emulator only if ``deploy`` started them.
Live credentials are read as ``platform run`` reads them and reach the actors only through their node's environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from thalex_modular.deployment.config import ConfigError, RunConfig, RunMode, load_run_config
from thalex_modular.deployment.db_target import DB_HELP, db_arg
from thalex_modular.deployment.ray.cluster import (
    DeploymentState,
    process_alive,
    start_local_head,
    state_path,
    stop_process,
    wait_for_port,
)
from thalex_modular.deployment.ray.names import CONTROLLER, NAMESPACE
from thalex_modular.deployment.snapshots import InstrumentSnapshot, InstrumentState
from thalex_modular.deployment.status_cli import (
    DeployError,
    init_ray,
    quiet_logging,
    status_command,
    status_line,
    stop_command,
)

__all__ = ["register"]

log = logging.getLogger(__name__)
_EMULATOR_START_TIMEOUT_S = 60.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``deploy``, ``status`` and ``stop`` verbs."""
    deploy = subparsers.add_parser("deploy", help="run instruments as Ray actors (one per instrument)")
    deploy.add_argument("--mode", choices=["shadow", "live"], required=True)
    deploy.add_argument("--network", choices=["local", "test", "prod"], required=True)
    deploy.add_argument("--instruments", required=True, help="comma-separated, e.g. BTC-PERPETUAL,ETH-PERPETUAL")
    deploy.add_argument("--address", default=None,
                        help="join this Ray cluster (auto, HOST:PORT, ray://HOST:PORT); default: start a local head")
    deploy.add_argument("--config", type=Path, default=None, help="TOML, YAML or JSON run config (every instrument)")
    deploy.add_argument("--db", default=None, type=db_arg, help=f"session records: {DB_HELP}")
    deploy.add_argument("--record-market-data", action="store_true",
                        help="persist the tickers and public trades each instrument sees, beside its own orders")
    deploy.add_argument("--emulator-url", default=None, help="the emulator's websocket URL for --network local")
    deploy.add_argument("--emulator-keys", type=Path, default=None,
                        help="keys file for an emulator deploy starts (live on --network local)")
    deploy.add_argument("--wait-s", type=float, default=120.0, help="how long to wait for every instrument to quote")
    deploy.add_argument("--no-dashboard", action="store_true", help="start the local Ray head without its dashboard")
    deploy.add_argument("--api-host", default=None,
                        help="the API and dashboard's address (default 127.0.0.1; off loopback every endpoint needs "
                             "the token)")
    deploy.add_argument("--api-port", type=int, default=None, help="the API and dashboard's port (default 8480)")
    deploy.add_argument("--no-api", action="store_true", help="no API and dashboard")
    deploy.add_argument("--api-cpus", default=None, metavar="LIST",
                        help="pin the API replica to these CPUs of its node, e.g. 1 or 2-3 (placement.api_cpus)")
    deploy.add_argument("--instrument-cpus", default=None, metavar="LIST",
                        help="pin every instrument actor to these CPUs, e.g. 0 (placement.instrument_cpus)")
    deploy.add_argument("--api-resource", default=None, metavar="NAME",
                        help="the API replica asks Ray for 1 of this custom resource: it goes on a node started "
                             "with it (placement.api_resources)")
    deploy.set_defaults(handler=deploy_command)
    status = subparsers.add_parser("status", help="one line per deployed instrument")
    status.add_argument("--json", action="store_true", help="machine-readable")
    status.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    status.add_argument("--interval-s", type=float, default=2.0, help="refresh period with --watch")
    status.set_defaults(handler=status_command)
    stop = subparsers.add_parser("stop", help="cancel every order, stop the actors (and what deploy started)")
    stop.add_argument("--timeout-s", type=float, default=30.0, help="how long the instruments get to cancel")
    stop.set_defaults(handler=stop_command)


# -- deploy -------------------------------------------------------------------------------------------------------


class _Created:
    """What this deploy created besides the processes in its state (only that is undone on a failure)."""

    def __init__(self) -> None:
        self.controller = False
        self.api = False
        self.state_saved = False


def deploy_command(args: argparse.Namespace) -> int:
    quiet_logging()
    started = DeploymentState(address="", namespace=NAMESPACE, mode=args.mode, network=args.network,
                              instruments=[], started_ns=time.time_ns())
    created = _Created()
    try:
        return _deploy(args, started, created)
    except DeployError as exc:
        print(f"platform deploy: {exc}", file=sys.stderr)
        _undo(started, created)
        return exc.code
    except KeyboardInterrupt:
        print("platform deploy: interrupted; stopping what was started", file=sys.stderr)
        _undo(started, created)
        return 1


def _deploy(args: argparse.Namespace, started: DeploymentState, created: _Created) -> int:
    from thalex_modular.deployment.deployment_book import DeploySpec

    _refuse_a_second_deployment()
    instruments = [name.strip() for name in args.instruments.split(",") if name.strip()]
    flags = {"mode": args.mode, "network": args.network, "instrument": instruments[0] if instruments else None,
             "connection.emulator_url": args.emulator_url, "api.host": args.api_host, "api.port": args.api_port,
             "placement.api_cpus": args.api_cpus, "placement.instrument_cpus": args.instrument_cpus,
             "placement.api_resources": None if args.api_resource is None else {args.api_resource: 1.0}}
    try:
        config = load_run_config(args.config, os.environ, flags)
        db, db_env = _store_target(args.db, args.address)
        spec = DeploySpec.of(config, instruments, db=db, record_market_data=args.record_market_data)
    except (ConfigError, ValueError) as exc:
        raise DeployError(str(exc)) from None
    if args.address is None:
        _check_placement(config)
    head_env = {**_live_environment(config), **db_env}
    started.instruments = list(spec.instruments)
    if config.network.value == "local":
        _ensure_emulator(config, args.emulator_keys, started)
    _check_venue(config, instruments)
    _compile_once()
    ray = _connect(args, started, head_env)
    from thalex_modular.deployment.ray.controller import Controller

    try:
        ray.get_actor(CONTROLLER, namespace=NAMESPACE)
    except ValueError:
        pass
    else:
        raise DeployError(f"the cluster at {started.address} already runs a deployment (its Controller exists); "
                          "`platform stop` it first")
    controller = ray.remote(Controller).options(
        name=CONTROLLER, namespace=NAMESPACE, lifetime="detached", max_restarts=-1, num_cpus=0, max_concurrency=1000,
    ).remote(spec, NAMESPACE, CONTROLLER)
    created.controller = True
    try:
        ray.get(controller.deploy.remote(), timeout=120)
    except ray.exceptions.RayError as exc:  # e.g. the store refused the Persistence actor: say why, undo the rest
        cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) else exc
        raise DeployError(f"the deployment did not start: {cause}") from None
    started.save()
    created.state_saved = True
    print(f"platform deploy: {config.mode.value} on {config.network.value} ({config.url}): "
          f"{', '.join(spec.instruments)}; state in {state_path()}", flush=True)
    if not args.no_api:
        _start_api(config, started, created, db)
    code = _wait_until_quoting(controller, args.wait_s)
    if started.dashboard_url:
        print(f"ray dashboard {started.dashboard_url}", flush=True)
    if code:
        print("platform deploy: the deployment keeps running; `platform status` follows it, `platform stop` ends it",
              file=sys.stderr)
    return code


def _start_api(config: RunConfig, started: DeploymentState, created: _Created, db: str | None) -> None:
    """The API and dashboard on Ray Serve, reading the Controller; its token in a 0600 file (never printed)."""
    from thalex_modular.deployment.api.auth import TokenError, is_loopback
    from thalex_modular.deployment.api.serve_app import start_deployment_api

    host = config.api.host
    if not is_loopback(host):
        print(f"platform deploy: warning: the API listens on {host}, not loopback: every endpoint needs the token, "
              "and it travels in clear text unless a TLS proxy is in front", file=sys.stderr, flush=True)
    created.api = True
    try:
        url, path = start_deployment_api(config.api, CONTROLLER, NAMESPACE, state_path().parent, db,
                                         config.placement)
    except TokenError as exc:
        raise DeployError(str(exc)) from None
    except Exception as exc:  # the port taken, Serve failing to start: the deployment is undone
        raise DeployError(f"the API did not start on {host}:{config.api.port}: {exc}", code=1) from None
    started.api_url = url
    started.save()
    print(f"platform deploy: dashboard {url}/ (API {url}/api/v1, schema {url}/openapi.json; "
          f"token in {path})", flush=True)


def _check_placement(config: RunConfig) -> None:
    """A local head runs everything on this machine: its CPU lists must name CPUs it has (a cluster's nodes check
    their own when the actors start)."""
    from thalex_modular.deployment.placement import PlacementError, check_cpus

    try:
        check_cpus(config.placement.api_cpus, "placement.api_cpus (--api-cpus)")
        check_cpus(config.placement.instrument_cpus, "placement.instrument_cpus (--instrument-cpus)")
    except PlacementError as exc:
        raise DeployError(str(exc)) from None


def _refuse_a_second_deployment() -> None:
    try:
        state = DeploymentState.load()
    except ValueError as exc:
        raise DeployError(str(exc)) from None
    if state is None:
        return
    if state.head_pid is not None and not process_alive(state.head_pid):
        DeploymentState.clear()  # its Ray head is gone: a leftover of a deployment that ended without `stop`
        return
    raise DeployError(
        f"a deployment is already running ({', '.join(state.instruments)} on {state.address}); "
        "`platform stop` it first"
    )


def _live_environment(config: RunConfig) -> dict[str, str]:
    """Live: the credentials must load here; a local head is started with them in its environment (how the actors
    read them on their node), never as arguments."""
    if config.mode is not RunMode.LIVE:
        return {}
    from thalex_modular.deployment.instrument_runtime import CredentialsMissing, load_credentials
    from thalex_modular.platform.adapters.exchanges.thalex.errors import CredentialsError

    try:
        load_credentials(config.credentials)
    except (CredentialsMissing, CredentialsError) as exc:
        raise DeployError(str(exc)) from None
    creds = config.credentials
    env = {"THALEX_PRIVATE_KEY_PATH": str(creds.private_key_path)}
    if creds.key_id is not None:
        env["THALEX_KEY_ID"] = creds.key_id.get_secret_value()
    if creds.account is not None:
        env["THALEX_ACCOUNT"] = creds.account
    return env


def _store_target(db: str | None, address: str | None) -> tuple[str | None, dict[str, str]]:
    """Where the Persistence actor writes, as (the target it is given, the local head's extra environment).

    A ``--db`` DSN holding a secret never travels as an actor argument (Ray shows arguments in its dashboard and
    logs): a local head gets it in its environment as ``THALEX_DB_DSN`` and the actor is given None; a cluster we join
    must have it in its nodes' environment already. Without ``--db`` the actor reads ``THALEX_DB_DSN`` on its node
    (a local head inherits ours), else the embedded store.

    Raises:
        DeployError: ``--db`` with a password for a cluster that deploy did not start.
    """
    from thalex_modular.platform.adapters.storage.dsn import redact_dsn, secrets_of
    from thalex_modular.platform.adapters.storage.factory import DSN_ENV

    if db is None or not secrets_of(db):
        return db, {}
    if address is not None:
        raise DeployError(f"--db holds a password ({redact_dsn(db)}): on a cluster, set {DSN_ENV} (or PGPASSWORD / "
                          "~/.pgpass) in every node's environment and pass --db without the password, or no --db")
    return None, {DSN_ENV: db}


def _ensure_emulator(config: RunConfig, keys: Path | None, started: DeploymentState) -> None:
    """With ``--network local``: the emulator at the configured URL, started (and later stopped) by us when none
    answers there."""
    url = config.connection.emulator_url
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if wait_for_port(host, port, 0.5):
        return
    if host not in ("127.0.0.1", "localhost"):
        raise DeployError(f"no emulator answers at {url}, and deploy starts one on 127.0.0.1 only")
    log_path = state_path().parent / "emulator.log"
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    command = [sys.executable, "-m", "thalex_modular", "emulator", "--host", host, "--port", str(port)]
    if keys is not None:
        command += ["--keys", str(keys)]
    with open(log_path, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    started.emulator_pid, started.emulator_url = process.pid, url
    if not wait_for_port(host, port, _EMULATOR_START_TIMEOUT_S) or process.poll() is not None:
        raise DeployError(f"the emulator did not start on {url} (log: {log_path})", code=1)
    print(f"platform deploy: started the emulator at {url} (pid {process.pid})", flush=True)


def _check_venue(config: RunConfig, instruments: list[str]) -> None:
    from thalex_modular.deployment.venue_check import VenueError, listed_instruments

    try:
        asyncio.run(listed_instruments(config, instruments))
    except VenueError as exc:
        raise DeployError(str(exc)) from None


def _compile_once() -> None:
    """Compile (or load) the tick path here, once: every actor then loads it from the kernel cache instead of
    compiling in parallel."""
    from thalex_modular.deployment.instrument_runtime import compile_tick_path

    compile_tick_path()


def _connect(args: argparse.Namespace, started: DeploymentState, head_env: dict[str, str]) -> Any:
    if args.address is None:
        head = start_local_head(state_path().parent / "logs", dashboard=not args.no_dashboard, env=head_env)
        started.head_pid, started.address, started.dashboard_url = head.pid, head.address, head.dashboard_url
        print(f"platform deploy: started a local Ray head at {head.address} (pid {head.pid})", flush=True)
    else:
        started.address = args.address
    return init_ray(started.address)


def _wait_until_quoting(controller: Any, wait_s: float) -> int:
    import ray

    deadline = time.monotonic() + wait_s
    status: list[InstrumentSnapshot] = []
    while time.monotonic() < deadline:
        status = ray.get(controller.status.remote(), timeout=30)
        states = {s.state for s in status}
        if states == {InstrumentState.QUOTING}:
            break
        if InstrumentState.SYNCING not in states and all(
            s.state is InstrumentState.ERROR or s.state is InstrumentState.QUOTING for s in status
        ):
            break  # nothing left that may still come up
        time.sleep(0.5)
    for snapshot in status:
        print(status_line(snapshot), flush=True)
    not_quoting = [s for s in status if s.state is not InstrumentState.QUOTING]
    for snapshot in not_quoting:
        print(f"platform deploy: {snapshot.instrument} is not quoting: {snapshot.state.value}"
              f" ({snapshot.reason or 'no reason given'})", file=sys.stderr, flush=True)
    return 1 if not_quoting else 0


def _undo(started: DeploymentState, created: _Created) -> None:
    """Stop what this deploy started, in reverse (nothing of another deployment)."""
    with contextlib.suppress(Exception):
        import ray

        if ray.is_initialized():
            if created.api:
                with contextlib.suppress(Exception):
                    from thalex_modular.deployment.api.serve_app import stop_api

                    stop_api(NAMESPACE)
            if created.controller:
                with contextlib.suppress(Exception):
                    controller = ray.get_actor(CONTROLLER, namespace=NAMESPACE)
                    ray.get(controller.stop.remote(10.0), timeout=40)
                    ray.kill(controller, no_restart=True)
            ray.shutdown()
    if started.head_pid is not None:
        stop_process(started.head_pid)
    if started.emulator_pid is not None:
        stop_process(started.emulator_pid, timeout_s=10.0)
    if created.state_saved:
        DeploymentState.clear()


