"""Issue 13 item 13: the emulator's control API, when on, needs the control token and refuses browser pages.

Before, any connection could call ``emulator/*`` (set faults, drop every session, pin tickers) without logging in,
whatever page opened it: a browser page on the same machine could drive the exchange.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from emu_client import RpcClient, make_config

from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer


@pytest_asyncio.fixture
async def server(key_files: tuple[Path, list[object]]) -> AsyncIterator[EmulatorServer]:
    started = build_server(make_config(key_files[0], control_origins=("http://127.0.0.1:9000",)))
    await started.start()
    yield started
    await started.stop()


async def test_control_methods_need_the_token(server: EmulatorServer) -> None:
    client = await RpcClient.open(server.url)
    try:
        # without the token: refused (before: accepted from anyone)
        refused = await client.call("emulator/set_faults", reject_share=1.0)
        assert refused["error"]["code"] == 7 and "emulator/authenticate" in refused["error"]["message"]
        assert server.faults.config.reject_share == 0.0
        # a wrong token: refused, and still not authorized
        wrong = await client.call("emulator/authenticate", token="guess")
        assert wrong["error"]["code"] == 19
        assert (await client.call("emulator/status"))["error"]["code"] == 7
        # the token: accepted
        assert await client.result("emulator/authenticate", token=server.control_token) == {"control": True}
        assert (await client.result("emulator/set_faults", reject_share=0.5))["reject_share"] == 0.5
    finally:
        await client.close()


async def test_a_browser_page_cannot_use_the_control_api(server: EmulatorServer) -> None:
    # a browser always sends Origin on a websocket handshake; a script cannot leave it out
    page = await RpcClient.open(server.url, origin="http://evil.example")
    allowed = await RpcClient.open(server.url, origin="http://127.0.0.1:9000")
    try:
        refused = await page.call("emulator/authenticate", token=server.control_token)
        assert refused["error"]["code"] == 19 and "browser" in refused["error"]["message"]
        assert (await page.call("emulator/drop_connections"))["error"]["code"] == 7
        assert await allowed.result("emulator/authenticate", token=server.control_token) == {"control": True}
        # the exchange API itself stays open to pages, as Thalex's is
        assert "mark_price" in await page.result("public/ticker", instrument_name="BTC-PERPETUAL")
    finally:
        await page.close()
        await allowed.close()


async def test_with_the_control_api_off_it_does_not_exist(key_files: tuple[Path, list[object]]) -> None:
    off = build_server(make_config(key_files[0], control_enabled=False))
    await off.start()
    client = await RpcClient.open(off.url)
    try:
        assert off.control_token is None
        assert (await client.call("emulator/authenticate", token="x"))["error"]["code"] == 31
    finally:
        await client.close()
        await off.stop()


async def test_the_cli_keeps_the_token_in_a_private_file_and_never_prints_it(
    tmp_path: Path, key_files: tuple[Path, list[object]]
) -> None:
    # Arrange
    token_file = tmp_path / "private" / "token"
    cmd = [sys.executable, "-m", "thalex_modular", "emulator", "--port", "0", "--keys", str(key_files[0]),
           "--control", "--control-token-file", str(token_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        lines = [await asyncio.to_thread(proc.stdout.readline) for _ in range(2)]
        url = lines[1].split()[-1]
        token = token_file.read_text().strip()

        # Assert: a fresh token, 0600 in a 0700 directory, named but not shown; it opens the control API
        assert lines[0].startswith("emulator control API on") and str(token_file) in lines[0]
        assert token not in "".join(lines) and len(token) >= 32
        assert token_file.stat().st_mode & 0o777 == 0o600 and token_file.parent.stat().st_mode & 0o777 == 0o700
        client = await RpcClient.open(url)
        assert await client.result("emulator/authenticate", token=token) == {"control": True}
        await client.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert token not in err

    # a token file others may read is refused
    token_file.chmod(0o644)
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "mode 0644" in refused.stderr and token not in refused.stderr + refused.stdout
