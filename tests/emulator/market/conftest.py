from __future__ import annotations

import pytest

from thalex_modular.emulator.market import MarketConfig, MarketModel


@pytest.fixture(scope="module")
def config() -> MarketConfig:
    return MarketConfig(seed=7)


@pytest.fixture
def model(config: MarketConfig) -> MarketModel:
    return MarketModel(config)
