"""Fixtures of the `platform` command tests (see cli_kit): a Cli per test, one real emulator per module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # cli_kit importable from this directory's tests

from cli_kit import PLATFORM, Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return Cli(cwd, tmp_path / "xdg")


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real emulator (``platform emulator --port 0``), its websocket URL; stopped with SIGINT after the module."""
    home = tmp_path_factory.mktemp("emulator")
    env = {k: v for k, v in os.environ.items() if not k.startswith("THALEX_")} | {"XDG_DATA_HOME": str(home)}
    proc = subprocess.Popen([str(PLATFORM), "emulator", "--port", "0", "--speed", "5"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("emulator ready ws://127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
        yield line.split()[-1]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
