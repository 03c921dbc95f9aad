"""The README's main command as a user runs it: ``bash scripts/run.sh`` deploys (a local Ray head, and the emulator
that deploy starts) and reaches a working dashboard; meanwhile ``platform status / deploy`` answer as a user runs them,
and Ctrl-C (SIGINT to its process group, as a terminal sends it) runs ``platform stop``, which stops everything deploy
started. One deployment serves both stories: each start and stop of a local cluster costs about a minute."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from test_deploy_cli import _processes_with

from thalex_modular.deployment.ray.cluster import free_port, process_alive, wait_for_port
from thalex_modular.platform.adapters.storage.factory import open_storage

ROOT = Path(__file__).parents[2]
INSTRUMENTS = ("BTC-PERPETUAL", "ETH-PERPETUAL")


def platform(*args: str, state_dir: Path, timeout_s: float = 180.0) -> subprocess.CompletedProcess[str]:
    """``platform ARGS`` as a user runs it, on the deployment in ``state_dir``."""
    return subprocess.run([sys.executable, "-m", "thalex_modular", *args], capture_output=True, text=True,
                          env={**os.environ, "THALEX_STATE_DIR": str(state_dir)}, timeout=timeout_s)


class Lines:
    """The lines a process prints, read by a thread (the test waits for conditions, not for fixed times)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.lines: list[str] = []
        self._stdout = process.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stdout:
            self.lines.append(line)

    def wait_for(self, found: Callable[[list[str]], bool], timeout_s: float) -> bool:
        """True once ``found(lines)`` holds, False after ``timeout_s`` or when the output ended without it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if found(list(self.lines)):
                return True
            if not self._thread.is_alive():
                return found(list(self.lines))
            time.sleep(0.1)
        return False

    def text(self, timeout_s: float) -> str:
        self._thread.join(timeout_s)
        return "".join(self.lines)


def test_run_sh_serves_the_dashboard_status_answers_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    # Arrange: no emulator on its port (deploy starts one), no Ray head (deploy starts one), the sessions stored in
    # the store named by --db (run.sh passes its options to deploy)
    emulator_port, api_port = free_port(), free_port()
    store = tmp_path / "store.duckdb"
    env = {**os.environ, "THALEX_STATE_DIR": str(tmp_path), "EMULATOR_PORT": str(emulator_port),
           "API_PORT": str(api_port)}
    process = subprocess.Popen(["bash", "scripts/run.sh", "--db", f"duckdb://{store}"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = Lines(process)
    state: dict[str, object] = {}
    try:
        # Act: run.sh deploys and prints the dashboard's URL
        assert output.wait_for(lambda lines: any(line.startswith("run: dashboard: ") for line in lines), 240), \
            "".join(output.lines)
        dashboard = next(line for line in output.lines if line.startswith("run: dashboard: ")).split()[2]
        assert dashboard == f"http://127.0.0.1:{api_port}/", "".join(output.lines)
        deployed = "".join(output.lines)
        assert "BTC-PERPETUAL quoting" in deployed and "ETH-PERPETUAL quoting" in deployed
        state_file = tmp_path / "deployment.json"
        state = json.loads(state_file.read_text())
        assert oct(state_file.stat().st_mode & 0o777) == "0o600"
        head_pid, emulator_pid = state["head_pid"], state["emulator_pid"]
        assert process_alive(head_pid) and process_alive(emulator_pid)  # type: ignore[arg-type]
        address = str(state["address"])
        assert address.startswith("127.0.0.1:") and address != "127.0.0.1:6379"
        # the API: on loopback, its token in a 0600 file and nowhere in what deploy printed
        assert state["api_url"] == f"http://127.0.0.1:{api_port}" and f"dashboard {state['api_url']}/" in deployed
        token_file = tmp_path / "api_token"
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        token = token_file.read_text().strip()
        assert len(token) >= 32 and token not in deployed
        page = httpx.get(dashboard, timeout=10)
        assert page.status_code == 200 and "plotly.min.js" in page.text
        instruments = httpx.get(f"{dashboard}api/v1/instruments", timeout=10).json()
        assert {i["instrument"]: i["state"] for i in instruments} == dict.fromkeys(INSTRUMENTS, "quoting")
        with httpx.Client(base_url=str(state["api_url"]), timeout=10) as client:
            assert client.get("/api/v1/health").json()["instruments"] == 2
            assert client.post("/api/v1/control/kill").status_code == 401
            assert client.get("/api/v1/config", headers={"Authorization": f"Bearer {token}"}).json()[
                "instruments"] == list(INSTRUMENTS)

        # status, as text and JSON
        status = platform("status", state_dir=tmp_path)
        assert status.returncode == 0, status.stderr
        assert [line.split()[:2] for line in status.stdout.splitlines()] == [[i, "quoting"] for i in INSTRUMENTS]
        status = platform("status", "--json", state_dir=tmp_path)
        report = json.loads(status.stdout)
        assert {i["instrument"] for i in report["instruments"]} == set(INSTRUMENTS)
        assert report["account"]["instruments"] == 2

        # a second deploy while one runs: refused, nothing changed
        again = platform("deploy", "--mode", "shadow", "--network", "local", "--instruments", ",".join(INSTRUMENTS),
                         "--emulator-url", f"ws://127.0.0.1:{emulator_port}/ws/api/v2", "--api-port", str(api_port),
                         "--db", f"duckdb://{store}", state_dir=tmp_path)
        assert again.returncode == 2 and "already running" in again.stderr
        assert process_alive(head_pid)  # type: ignore[arg-type]

        # `platform status --watch` is following
        def watching(lines: list[str]) -> bool:
            after = "".join(lines).partition("run: following the deployment")[2]
            return all(f"\n{name} quoting" in after for name in INSTRUMENTS)

        assert output.wait_for(watching, 60), "".join(output.lines)
        # Act: Ctrl-C
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            if (tmp_path / "deployment.json").exists():  # the head and the emulator run in their own sessions
                platform("stop", state_dir=tmp_path)
    text = output.text(timeout_s=10)
    # Assert: `platform stop` cancelled every order; nothing of ours is left: the Ray head, the emulator, the API
    for name in INSTRUMENTS:
        assert f"platform stop: {name}: every order cancelled" in text, text
    assert process.returncode == 130
    assert token not in text
    assert not process_alive(state["head_pid"]) and not process_alive(state["emulator_pid"])  # type: ignore[arg-type]
    gcs_port = str(state["address"]).split(":")[1]
    assert _processes_with(f"--gcs_server_port={gcs_port}") == []
    assert _processes_with(f"--port={gcs_port}") == []
    assert not wait_for_port("127.0.0.1", api_port, 0.5) and not wait_for_port("127.0.0.1", emulator_port, 0.5)
    assert not (tmp_path / "deployment.json").exists()
    status = platform("status", state_dir=tmp_path)
    assert status.returncode == 2 and "no deployment is running" in status.stderr
    # the sessions were persisted to the store named by --db, closed by the stop
    asyncio.run(_orders_stored(store))


async def _orders_stored(store: Path) -> None:
    storage = await open_storage(store)
    try:
        for instrument in INSTRUMENTS:
            assert await storage.read_orders("shadow", instrument, 0, 2**62), instrument
    finally:
        await storage.close()
