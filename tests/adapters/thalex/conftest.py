"""Fixtures: a login key for the emulator and a running emulator on a free loopback port (one per module)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from thalex_kit import ACCOUNT, OTHER_ACCOUNT, KeyFiles, emulator_config

from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer
from thalex_modular.platform.adapters.exchanges.thalex import ThalexCredentials


@pytest.fixture(scope="session")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    out = tmp_path_factory.mktemp("thalex-keys")
    key = keygen_to_dir(out, account_number=ACCOUNT)
    other = keygen_to_dir(out / "other", OTHER_ACCOUNT, shared_keys_json=out / "keys.json")  # one keys.json for both
    return KeyFiles(out / "keys.json", key.kid, out / "private_key.pem", other.kid, out / "other" / "private_key.pem")


@pytest.fixture(scope="session")
def credentials(key_files: KeyFiles) -> ThalexCredentials:
    return ThalexCredentials.from_pem_file(key_files.key_id, key_files.private_key_path)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def emulator(key_files: KeyFiles) -> AsyncIterator[EmulatorServer]:
    server = build_server(emulator_config(key_files.keys_json))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def other_credentials(key_files: KeyFiles) -> ThalexCredentials:
    return ThalexCredentials.from_pem_file(key_files.other_key_id, key_files.other_private_key_path)
