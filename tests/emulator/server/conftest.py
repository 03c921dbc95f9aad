"""Fixtures: login keys for two accounts and a running emulator on a free loopback port (one per module)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from emu_client import Credentials, make_config

from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Credentials]]:
    out = tmp_path_factory.mktemp("emulator-keys")
    creds = []
    for account in ("A000000001", "A000000002"):
        sub = out / account
        key = keygen_to_dir(sub, account, shared_keys_json=out / "keys.json")  # one keys.json for both accounts
        creds.append(Credentials(key.kid, key.private_key_pem, account))
    return out / "keys.json", creds


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def emulator(key_files: tuple[Path, list[Credentials]]) -> AsyncIterator[EmulatorServer]:
    server: EmulatorServer = build_server(make_config(key_files[0]))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def creds(key_files: tuple[Path, list[Credentials]]) -> list[Credentials]:
    return key_files[1]
