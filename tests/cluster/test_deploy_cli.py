"""`platform deploy / status / stop` as a user runs them, in subprocesses: a local Ray head and the emulator that
deploy starts and stop stops (nothing of ours left running), and every bad input a clear error with exit code 2 and
nothing started."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx

from exchange_kit import EmulatorFactory
from thalex_modular.deployment.ray.cluster import free_port, process_alive, wait_for_port
from thalex_modular.platform.adapters.storage.factory import open_storage


async def platform(*args: str, state_dir: Path, env: dict[str, str] | None = None,
                   timeout_s: float = 180.0) -> tuple[int, str, str]:
    """Run ``platform ARGS`` like a user (a subprocess; this test's event loop keeps serving meanwhile)."""
    environment = {**os.environ, "THALEX_STATE_DIR": str(state_dir), **(env or {})}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "thalex_modular", *args, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _processes_with(text: str) -> list[int]:
    """PIDs whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def test_deploy_status_stop_as_a_user_runs_them_leave_nothing_running(tmp_path: Path) -> None:
    # Arrange: no emulator on the URL (deploy starts one), no Ray head (deploy starts one)
    url = f"ws://127.0.0.1:{free_port()}/ws/api/v2"
    store = tmp_path / "store.duckdb"
    api_port = free_port()
    deploy = ("deploy", "--mode", "shadow", "--network", "local", "--instruments", "BTC-PERPETUAL,ETH-PERPETUAL",
              "--emulator-url", url, "--no-dashboard", "--db", f"duckdb://{store}", "--api-port", str(api_port))
    try:
        # Act: deploy
        code, out, err = await platform(*deploy, state_dir=tmp_path)
        assert code == 0, err
        assert "BTC-PERPETUAL quoting" in out and "ETH-PERPETUAL quoting" in out
        state = json.loads((tmp_path / "deployment.json").read_text())
        assert oct((tmp_path / "deployment.json").stat().st_mode & 0o777) == "0o600"
        head_pid, emulator_pid = state["head_pid"], state["emulator_pid"]
        assert process_alive(head_pid) and process_alive(emulator_pid)
        assert state["address"].startswith("127.0.0.1:") and state["address"] != "127.0.0.1:6379"
        # the API: on loopback, its token in a 0600 file and nowhere in what deploy printed
        assert state["api_url"] == f"http://127.0.0.1:{api_port}" and f"dashboard {state['api_url']}/" in out
        token_file = tmp_path / "api_token"
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        token = token_file.read_text().strip()
        assert len(token) >= 32 and token not in out + err
        async with httpx.AsyncClient(base_url=state["api_url"]) as client:
            assert (await client.get("/api/v1/health")).json()["instruments"] == 2
            assert (await client.post("/api/v1/control/kill")).status_code == 401
            assert (await client.get("/api/v1/config", headers={"Authorization": f"Bearer {token}"})).json()[
                "instruments"] == ["BTC-PERPETUAL", "ETH-PERPETUAL"]

        # status, as text and JSON
        code, out, err = await platform("status", state_dir=tmp_path)
        assert code == 0, err
        assert [line.split()[:2] for line in out.splitlines()] == [["BTC-PERPETUAL", "quoting"],
                                                                   ["ETH-PERPETUAL", "quoting"]]
        code, out, _ = await platform("status", "--json", state_dir=tmp_path)
        report = json.loads(out)
        assert {i["instrument"] for i in report["instruments"]} == {"BTC-PERPETUAL", "ETH-PERPETUAL"}
        assert report["account"]["instruments"] == 2

        # a second deploy while one runs: refused, nothing changed
        code, _, err = await platform(*deploy, state_dir=tmp_path)
        assert code == 2 and "already running" in err
        assert process_alive(head_pid)

        # Act: stop
        code, out, err = await platform("stop", state_dir=tmp_path)
        # Assert: every order cancelled, the head and the emulator deploy started are gone, no Ray process of ours
        assert code == 0, err
        assert "BTC-PERPETUAL: every order cancelled" in out and "ETH-PERPETUAL: every order cancelled" in out
        assert not process_alive(head_pid) and not process_alive(emulator_pid)
        gcs_port = state["address"].split(":")[1]
        assert _processes_with(f"--gcs_server_port={gcs_port}") == []
        assert _processes_with(f"--port={gcs_port}") == []
        assert not (tmp_path / "deployment.json").exists()
        assert not wait_for_port("127.0.0.1", api_port, 0.5)  # the API is gone with it
        code, _, err = await platform("status", state_dir=tmp_path)
        assert code == 2 and "no deployment is running" in err
        # the sessions were persisted to the store named by --db, closed by the stop
        storage = await open_storage(store)
        try:
            for instrument in ("BTC-PERPETUAL", "ETH-PERPETUAL"):
                assert await storage.read_orders("shadow", instrument, 0, 2**62), instrument
        finally:
            await storage.close()
    finally:
        state_file = tmp_path / "deployment.json"
        if state_file.exists():
            await platform("stop", state_dir=tmp_path)


async def test_bad_input_is_a_clear_error_exit_2_with_nothing_started(
    tmp_path: Path, start_emulator: EmulatorFactory
) -> None:
    server = await start_emulator()
    base = ("deploy", "--mode", "shadow", "--network", "local", "--emulator-url", server.url, "--no-dashboard")
    heads_before = _processes_with("ray start --head")
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[risk]\nmax_position_underlying = -1\n")
    no_credentials = {"THALEX_KEY_ID": "", "THALEX_PRIVATE_KEY_PATH": ""}
    cases = [
        ((*base, "--instruments", "BTC-PERPETUAL,BTC-NOPE"), {}, "BTC-NOPE"),
        ((*base, "--instruments", "BTC-PERPETUAL", "--address", "127.0.0.1:1"), {}, "127.0.0.1:1"),
        ((*base, "--instruments", "BTC-PERPETUAL", "--config", str(bad_config)), {}, "risk.max_position_underlying"),
        ((*base, "--instruments", "BTC-PERPETUAL,BTC-PERPETUAL"), {}, "more than once"),
        # placement: CPUs this machine lacks, or not a CPU list
        ((*base, "--instruments", "BTC-PERPETUAL", "--api-cpus", "4095"), {},
         "placement.api_cpus (--api-cpus): CPU 4095 is not available on this machine"),
        ((*base, "--instruments", "BTC-PERPETUAL", "--instrument-cpus", "0-x"), {},
         "placement.instrument_cpus: Value error, not a CPU list: '0-x'"),
        (("deploy", "--mode", "live", "--network", "local", "--emulator-url", server.url, "--instruments",
          "BTC-PERPETUAL"), no_credentials, "THALEX_KEY_ID"),
        # a password never travels to a cluster as an argument, nor is it shown
        ((*base, "--instruments", "BTC-PERPETUAL", "--address", "127.0.0.1:1", "--db",
          "postgresql://me:s3cret@127.0.0.1:5432/test"), {}, "THALEX_DB_DSN"),
        # a store that refuses the Persistence actor fails the deploy, which removes what it started
        ((*base, "--instruments", "BTC-PERPETUAL", "--db", "postgresql://127.0.0.1:5432/no_such_database_here"), {},
         "no_such_database_here"),
        (("stop",), {}, "no deployment is running"),
        (("status",), {}, "no deployment is running"),
    ]
    for args, env, needle in cases:
        code, _, err = await platform(*args, state_dir=tmp_path, env=env)
        assert code == 2, (args, err)
        assert needle in err, (args, err)
        assert "Traceback" not in err and "s3cret" not in err
        assert not (tmp_path / "deployment.json").exists()
        assert _processes_with("ray start --head") == heads_before
