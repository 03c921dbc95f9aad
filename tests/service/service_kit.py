"""Shared test types of tests/service (importable as ``service_kit``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from thalex_modular.emulator.server import EmulatorServer

START_S = 1_733_011_200.0  # 2024-12-01T00:00:00Z: fixed sim start, reproducible market


@dataclass(frozen=True)
class Account:
    """A registered emulator key: the account, the key id, the private key file and its PEM."""

    account: str
    kid: str
    key_path: Path
    private_key_pem: str


EmulatorFactory = Callable[..., Awaitable[EmulatorServer]]
