"""``platform status`` / ``stop``: find the running deployment again (its state file, its Ray cluster, its Controller),
report on it, or stop it (the API, every instrument's kill switch and cancels, the actors, and the Ray head and
emulator if ``platform deploy`` started them). Also what ``deploy`` shares with them: joining the cluster, a
status line, the CLI's error type."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import msgspec

from thalex_modular.deployment.ray.cluster import (
    DeploymentState,
    process_alive,
    state_path,
    stop_process,
    wait_for_port,
)
from thalex_modular.deployment.ray.names import CONTROLLER, NAMESPACE
from thalex_modular.deployment.snapshots import InstrumentSnapshot

__all__ = ["DeployError", "attach", "init_ray", "quiet_logging", "status_command", "status_line", "stop_command"]


class DeployError(Exception):
    """A deploy step failed; ``code`` is the exit code (2: bad input, nothing running; 1: a failure)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def init_ray(address: str) -> Any:
    """Join the cluster at ``address`` (a local head on loopback stays on loopback: RAY_NOTES).

    Raises:
        DeployError: nothing answers there (checked before Ray would wait minutes for it).
    """
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    if address != "auto" and parts.hostname is not None and parts.port is not None:
        if parts.hostname in ("127.0.0.1", "localhost"):
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before ray is imported: loopback node address
        if not wait_for_port(parts.hostname, parts.port, 5.0):
            raise DeployError(f"cannot join the Ray cluster at {address}: nothing answers there")
    import ray

    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # ConnectionError, TimeoutError, RuntimeError: all mean the cluster is not there
        raise DeployError(f"cannot join the Ray cluster at {address}: {exc}") from None
    return ray


# -- status ------------------------------------------------------------------------------------------------------


def status_command(args: argparse.Namespace) -> int:
    quiet_logging()
    try:
        state, controller = attach()
    except DeployError as exc:
        print(f"platform status: {exc}", file=sys.stderr)
        return exc.code
    import ray

    try:
        while True:
            status = ray.get(controller.status.remote(), timeout=30)
            if args.json:
                account = ray.get(controller.account.remote(), timeout=30)
                print(json.dumps({"address": state.address, "mode": state.mode, "network": state.network,
                                  "instruments": msgspec.to_builtins(status),
                                  "account": msgspec.to_builtins(account)}), flush=True)
            else:
                for snapshot in status:
                    print(status_line(snapshot), flush=True)
            if not args.watch:
                return 0
            time.sleep(args.interval_s)
    except KeyboardInterrupt:
        return 0


def status_line(s: InstrumentSnapshot) -> str:
    latency = ""
    if s.tick_to_quote_p50_ms is not None and s.tick_to_quote_p99_ms is not None:
        latency = f" tick_to_quote_ms={s.tick_to_quote_p50_ms:.2f}/{s.tick_to_quote_p99_ms:.2f}"
    age = "" if s.last_tick_age_ms is None else f" last_tick_ms={s.last_tick_age_ms:.0f}"
    reason = "" if s.reason is None else f" ({s.reason})"
    return (
        f"{s.instrument} {s.state.value}{reason} position={s.position:+.4f} pnl_usd={s.pnl_usd:+.2f} "
        f"fees_usd={s.fees_usd:.2f} open_quotes={s.open_quotes} fills={s.fills}{age}{latency}"
    )


def attach() -> tuple[DeploymentState, Any]:
    """The running deployment's state and its Controller.

    Raises:
        DeployError: none runs, or its cluster or Controller cannot be reached.
    """
    try:
        state = DeploymentState.load()
    except ValueError as exc:
        raise DeployError(str(exc)) from None
    if state is None:
        raise DeployError(f"no deployment is running (no state in {state_path()})")
    if state.head_pid is not None and not process_alive(state.head_pid):
        raise DeployError(f"the deployment's Ray head (pid {state.head_pid}) is gone; `platform stop` clears it")
    ray = init_ray(state.address)
    try:
        controller = ray.get_actor(CONTROLLER, namespace=NAMESPACE)
    except Exception as exc:
        raise DeployError(f"no Controller in the deployment on {state.address}: {exc}", code=1) from None
    return state, controller


# -- stop ---------------------------------------------------------------------------------------------------------


def stop_command(args: argparse.Namespace) -> int:
    quiet_logging()
    try:
        state = DeploymentState.load()
    except ValueError as exc:
        print(f"platform stop: {exc}", file=sys.stderr)
        return 2
    if state is None:
        print(f"platform stop: no deployment is running (no state in {state_path()})", file=sys.stderr)
        return 2
    code = 0
    try:
        _, controller = attach()
    except DeployError as exc:
        print(f"platform stop: {exc}; stopping what deploy started", file=sys.stderr)
        code = 1
    else:
        import ray

        if state.api_url is not None:
            from thalex_modular.deployment.api.serve_app import stop_api

            stop_api(NAMESPACE)
            print(f"platform stop: API at {state.api_url} stopped", flush=True)
        report = ray.get(controller.stop.remote(args.timeout_s), timeout=args.timeout_s + 30)
        for instrument, remaining in report.items():
            if remaining == 0:
                print(f"platform stop: {instrument}: every order cancelled", flush=True)
            else:
                code = 1
                what = "unknown (its actor did not answer)" if remaining < 0 else f"{remaining} still open"
                print(f"platform stop: {instrument}: orders {what}; cancel-on-disconnect pulls them as the session "
                      "ends", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            ray.kill(controller, no_restart=True)
        ray.shutdown()
    if state.head_pid is not None:
        ended = stop_process(state.head_pid)
        print(f"platform stop: Ray head (pid {state.head_pid}) {'stopped' if ended else 'did not stop'}", flush=True)
    if state.emulator_pid is not None:
        stop_process(state.emulator_pid, timeout_s=10.0)
        print(f"platform stop: emulator (pid {state.emulator_pid}) stopped", flush=True)
    DeploymentState.clear()
    return code


def quiet_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    for name in ("ray", "websockets"):
        logging.getLogger(name).setLevel(logging.WARNING)
