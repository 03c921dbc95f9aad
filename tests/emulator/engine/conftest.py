"""Fixtures for the exchange-core tests; helpers live in ``engine_kit`` (importable from this directory)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine_kit import Env


@pytest.fixture
def env() -> Env:
    return Env()
