"""Fixtures: login keys for two accounts, and a factory starting the REAL emulator in-process on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from exchange_kit import START_S, Account, EmulatorFactory
from thalex_modular.emulator.config import EmulatorConfig
from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Account]]:
    out = tmp_path_factory.mktemp("service-keys")
    result = []
    for number in ("A000000011", "A000000012"):
        sub = out / number
        key = keygen_to_dir(sub, number, shared_keys_json=out / "keys.json")
        result.append(Account(number, key.kid, sub / "private_key.pem", key.private_key_pem))
    return out / "keys.json", result


@pytest_asyncio.fixture
async def start_emulator(accounts: tuple[Path, list[Account]]) -> AsyncIterator[EmulatorFactory]:
    servers: list[EmulatorServer] = []

    async def factory(**overrides: object) -> EmulatorServer:
        base: dict[str, object] = {
            "port": 0,
            "keys_file": accounts[0],
            "start_time_s": START_S,
            "seed": 7,
            "control_enabled": True,
        }
        base.update(overrides)
        server = build_server(EmulatorConfig.model_validate(base))
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()
