"""Fixtures: login keys for two accounts, and a factory starting the REAL emulator in-process on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from exchange_kit import Account, EmulatorFactory, emulators
from thalex_modular.emulator.keys import keygen_to_dir


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
    async with emulators(accounts[0], control_enabled=True) as factory:
        yield factory
