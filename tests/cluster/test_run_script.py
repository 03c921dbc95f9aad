"""The README's main command as a user runs it: ``bash scripts/run.sh`` reaches a working dashboard, and Ctrl-C (SIGINT
to its process group, as a terminal sends it) stops everything it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from test_deploy_cli import _processes_with

from thalex_modular.deployment.ray.cluster import free_port, process_alive, wait_for_port

ROOT = Path(__file__).parents[2]


def test_run_sh_serves_the_dashboard_and_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
    emulator_port, api_port = free_port(), free_port()
    env = {**os.environ, "THALEX_STATE_DIR": str(tmp_path), "EMULATOR_PORT": str(emulator_port),
           "API_PORT": str(api_port)}
    process = subprocess.Popen(["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    state: dict[str, object] = {}
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 240
        dashboard = None
        while dashboard is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("run: dashboard: "):
                dashboard = line.split()[2]
        assert dashboard == f"http://127.0.0.1:{api_port}/", "".join(output)
        state = json.loads((tmp_path / "deployment.json").read_text())
        page = httpx.get(dashboard, timeout=10)
        assert page.status_code == 200 and "plotly.min.js" in page.text
        instruments = httpx.get(f"{dashboard}api/v1/instruments", timeout=10).json()
        assert {i["instrument"]: i["state"] for i in instruments} == {"BTC-PERPETUAL": "quoting",
                                                                       "ETH-PERPETUAL": "quoting"}
        time.sleep(3)  # `platform status --watch` is following
        # Act: Ctrl-C
        os.killpg(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
        output.append(rest)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = "".join(output)
    assert "BTC-PERPETUAL quoting" in text  # the status lines
    assert "platform stop: BTC-PERPETUAL: every order cancelled" in text, text
    assert process.returncode == 130
    # Assert: nothing of ours is left: the Ray head, the emulator, the API
    assert not process_alive(state["head_pid"]) and not process_alive(state["emulator_pid"])  # type: ignore[arg-type]
    assert _processes_with(f"--port={str(state['address']).split(':')[1]}") == []
    assert not wait_for_port("127.0.0.1", api_port, 0.5) and not wait_for_port("127.0.0.1", emulator_port, 0.5)
    assert not (tmp_path / "deployment.json").exists()
