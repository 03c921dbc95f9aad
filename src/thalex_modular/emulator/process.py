"""Run `platform emulator` in its own process (benchmarks, and tests where client and exchange must not share an
event loop: a client that blocks its loop must not block the exchange's clock and watchdogs too)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

#: The control token's file in the work directory of an :func:`emulator_process` started with ``control``.
CONTROL_TOKEN_FILE: Final = "emulator-control-token"


def control_token_of(workdir: Path) -> str:
    """The control token of the emulator process started in ``workdir``."""
    return (workdir / CONTROL_TOKEN_FILE).read_text().strip()


@asynccontextmanager
async def emulator_process(
    workdir: Path, keys_json: Path, config: dict[str, Any], *, control: bool = False
) -> AsyncIterator[str]:
    """Start the emulator on a free port with ``config`` (written to ``workdir``); yield its websocket URL once it
    printed ``emulator ready``, and terminate it on exit. With ``control``, the control token is in
    ``workdir / CONTROL_TOKEN_FILE`` (read it with :func:`control_token_of`)."""
    config_path = workdir / "emulator.json"
    config_path.write_text(json.dumps(config))
    cmd = [sys.executable, "-m", "thalex_modular", "emulator", "--port", "0", "--keys", str(keys_json),
           "--config", str(config_path),
           *(["--control", "--control-token-file", str(workdir / CONTROL_TOKEN_FILE)] if control else [])]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)
        while line.startswith("emulator control API on"):
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)
        if not line.startswith("emulator ready "):
            raise RuntimeError(f"emulator did not start: {line!r}")
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
