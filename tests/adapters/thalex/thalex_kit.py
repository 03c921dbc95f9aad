"""Test kit for the Thalex adapter tests: emulator config, a wall clock and a recording sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from thalex_modular.emulator.config import EmulatorConfig, RateLimitConfig
from thalex_modular.platform.domain.entities import OrderUpdate, Ticker, Trade
from thalex_modular.platform.domain.events import RequestRejected

ACCOUNT = "A000000001"
OTHER_ACCOUNT = "A000000002"
START_S = 1_733_011_200.0  # fixed sim start: reproducible catalogue


@dataclass(frozen=True)
class KeyFiles:
    keys_json: Path
    key_id: str
    private_key_path: Path
    other_key_id: str  # a second account (the counterparty in fill tests)
    other_private_key_path: Path


def emulator_config(keys_json: Path, **overrides: object) -> EmulatorConfig:
    """Free port, fixed start, no flow agents, rate limits off unless overridden, control API on."""
    base: dict[str, object] = {
        "port": 0,
        "keys_file": keys_json,
        "start_time_s": START_S,
        "flow_agents": False,
        "rate_limits": RateLimitConfig(enabled=False),
        "control_enabled": True,
        "market_step_ms": 50.0,
    }
    base.update(overrides)
    return EmulatorConfig.model_validate(base)


class WallClock:
    """The wall clock (int ns): the adapter's Clock in integration tests."""

    def now_ns(self) -> int:
        return time.time_ns()


@dataclass
class Recorder:
    """Collects everything a gateway / feed delivers; :meth:`wait_for` polls a predicate with a deadline."""

    answers: list[OrderUpdate | RequestRejected] = field(default_factory=list)
    tickers: list[Ticker] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    downs: list[str] = field(default_factory=list)

    def __call__(self, answer: OrderUpdate | RequestRejected) -> None:
        self.answers.append(answer)

    def on_ticker(self, ticker: Ticker) -> None:
        self.tickers.append(ticker)

    def on_trade(self, trade: Trade) -> None:
        self.trades.append(trade)

    def on_feed_down(self, reason: str) -> None:
        self.downs.append(reason)

    def updates(self, client_order_id: int) -> list[OrderUpdate]:
        return [a for a in self.answers if isinstance(a, OrderUpdate) and a.client_order_id == client_order_id]

    def rejections(self) -> list[RequestRejected]:
        return [a for a in self.answers if isinstance(a, RequestRejected)]

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)
