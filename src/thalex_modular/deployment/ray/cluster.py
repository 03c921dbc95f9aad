"""The Ray cluster a deployment runs on: a local head that outlives ``platform deploy`` (RAY_NOTES: ``ray start
--head --block`` in its own session, loopback only, free ports, never Redis's 6379; stopped by its PID, never
``ray stop``), or an existing cluster joined by address; and the deployment's state file, which ``status`` and
``stop`` read to find it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

__all__ = [
    "DeploymentState",
    "LocalHead",
    "free_port",
    "process_alive",
    "start_local_head",
    "state_path",
    "stop_process",
    "wait_for_port",
]

_STATE_DIR_ENV = "THALEX_STATE_DIR"
_HEAD_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LocalHead:
    """A Ray head started by ``platform deploy``: its GCS address (``127.0.0.1:<port>``), process and dashboard."""

    address: str
    pid: int
    dashboard_url: str | None
    log_path: str


@dataclass
class DeploymentState:
    """What ``status`` and ``stop`` need to find a deployment again (the state file, mode 0600, no secrets)."""

    address: str
    namespace: str
    mode: str
    network: str
    instruments: list[str]
    started_ns: int
    head_pid: int | None = None  # set when deploy started the head (stop stops it)
    dashboard_url: str | None = None
    emulator_pid: int | None = None  # set when deploy started the emulator (stop stops it)
    emulator_url: str | None = None
    api_url: str | None = None

    def save(self, path: Path | None = None) -> Path:
        path = path or state_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out, indent=2)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: Path | None = None) -> DeploymentState | None:
        """The saved state, None when there is none.

        Raises:
            ValueError: the file exists but cannot be read (the message names it).
        """
        path = path or state_path()
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(
                f"deployment state file {path} is unreadable ({exc}); delete it if no deployment runs"
            ) from None

    @staticmethod
    def clear(path: Path | None = None) -> None:
        with contextlib.suppress(FileNotFoundError):
            (path or state_path()).unlink()


def state_path() -> Path:
    """Where the deployment's state lives: ``$THALEX_STATE_DIR`` or the user's state directory."""
    base = os.environ.get(_STATE_DIR_ENV) or platformdirs.user_state_dir("thalex-modular")
    return Path(base) / "deployment.json"


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    """True once ``host:port`` accepts a TCP connection, False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def start_local_head(log_dir: Path, *, dashboard: bool = True, env: dict[str, str] | None = None) -> LocalHead:
    """Start a Ray head on loopback with free ports, in its own session so it outlives this process.

    Raises:
        RuntimeError: the head did not come up (the message says where its log is).
    """
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    port, client_port, dashboard_port = free_port(), free_port(), free_port()
    ray_cli = Path(sys.executable).with_name("ray")
    command = [
        str(ray_cli) if ray_cli.exists() else "ray", "start", "--head", "--block", f"--port={port}",
        "--node-ip-address=127.0.0.1", f"--ray-client-server-port={client_port}", "--disable-usage-stats",
        f"--include-dashboard={'true' if dashboard else 'false'}",
    ]
    if dashboard:
        command += ["--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}"]
    log_path = log_dir / "ray-head.log"
    environment = {**os.environ, **(env or {}), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=environment)
    if not wait_for_port("127.0.0.1", port, _HEAD_START_TIMEOUT_S) or process.poll() is not None:
        stop_process(process.pid)
        raise RuntimeError(f"the local Ray head did not start (log: {log_path})")
    return LocalHead(f"127.0.0.1:{port}", process.pid,
                     f"http://127.0.0.1:{dashboard_port}" if dashboard else None, str(log_path))


def process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(pid: int, timeout_s: float = 45.0) -> bool:
    """SIGTERM ``pid`` (a Ray head drains for up to 30 s first), SIGKILL after ``timeout_s``; True when it ended."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return not process_alive(pid)
