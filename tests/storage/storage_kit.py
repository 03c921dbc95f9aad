"""Shared pieces of the storage tests: backends, store types, record generators."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thalex_modular.platform.adapters.storage import EmbeddedStorage, PostgresStorage
from thalex_modular.platform.domain.storage import TradeRecord

PG_DSN = os.environ.get("THALEX_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
Store = EmbeddedStorage | PostgresStorage
StoreFactory = Callable[[], Awaitable[Store]]

T0 = 1_700_000_000 * 10**9


def random_trades(n: int, seed: int = 1, name: str = "BTC-PERPETUAL", start_ns: int = T0) -> list[TradeRecord]:
    """n trades over about n/3 seconds, with some equal timestamps (seq > 0) and tick-rounded prices."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(0, 700_000_000, n)
    gaps[rng.random(n) < 0.1] = 0  # same-nanosecond trades
    ts = start_ns + np.cumsum(gaps)
    price = np.round(100_000 + np.cumsum(rng.normal(0, 5, n)), 1)
    amount = rng.integers(1, 5_000, n) / 1_000
    side = rng.choice([-1, 1], n)
    out: list[TradeRecord] = []
    seq = 0
    for i in range(n):
        seq = seq + 1 if i and ts[i] == ts[i - 1] else 0
        out.append(TradeRecord(name, int(ts[i]), seq, f"{seed}-{i}", float(price[i]), float(amount[i]),
                               int(side[i]), int(ts[i]) + 1_000))
    return out


@dataclass(frozen=True)
class Backend:
    """Where a test's store lives: an embedded file or a PostgreSQL schema."""

    kind: str
    path: Path
    schema: str = ""

    @property
    def dsn(self) -> str:
        """DSN selecting this backend's schema (for the CLI's --db)."""
        return f"{PG_DSN}?search_path={self.schema}"

    def make(self) -> Store:
        if self.kind == "postgres":
            return PostgresStorage(PG_DSN, schema_name=self.schema)
        return EmbeddedStorage(self.path)

    def cli_args(self) -> list[str]:
        return ["--db", self.dsn] if self.kind == "postgres" else ["--data-dir", str(self.path.parent)]
