"""``platform emulator keygen`` and ``platform emulator`` as a real subprocess: ready line, login, clean SIGINT."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from emu_client import Credentials, RpcClient

from thalex_modular.emulator.runtime import SimTime


def test_sim_time_runs_speed_times_faster() -> None:
    mono = [1_000]
    clock = SimTime(start_ns=5_000_000_000, speed=10.0, mono_ns=lambda: mono[0])
    assert clock.now_ns() == 5_000_000_000
    mono[0] += 1_000_000  # 1 ms of wall time
    assert clock.now_ns() == 5_010_000_000
    with pytest.raises(ValueError, match="speed"):
        SimTime(0, 0.0)


async def test_cli_keygen_serve_login_and_sigint(tmp_path: Path) -> None:
    keygen = subprocess.run(
        [sys.executable, "-m", "thalex_modular", "emulator", "keygen", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    kid = (tmp_path / "key_id").read_text().strip()
    assert kid in keygen.stdout
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "thalex_modular",
        "emulator",
        "--port",
        "0",
        "--speed",
        "5",
        "--keys",
        str(tmp_path / "keys.json"),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("emulator ready ws://127.0.0.1:") and line.rstrip().endswith("/ws/api/v2")
        url = line.split()[-1]
        cred = Credentials(kid, (tmp_path / "private_key.pem").read_text(), "A000000001")
        client = await RpcClient.open(url)
        assert (await client.result("public/login", token=cred.token())) == {"account_number": "A000000001"}
        await client.result("private/set_cancel_on_disconnect", timeout_secs=10)
        mark = (await client.result("public/ticker", instrument_name="BTC-PERPETUAL"))["mark_price"]
        await client.result("private/buy", instrument_name="BTC-PERPETUAL", amount=0.01, price=float(int(mark * 0.9)))
        proc.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(proc.stdout.read(), 30)).decode()
        assert "emulator stopped" in rest
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await client.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_cli_rejects_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("speed: -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "thalex_modular", "emulator", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "speed" in result.stderr
