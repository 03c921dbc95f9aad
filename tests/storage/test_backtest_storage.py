"""`platform backtest` on both stores: chunked reads replay exactly what an in-memory replay does, the feed
latency measured from the data, the run stored, outputs written, and usage errors exit 2."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path

import numpy as np
import pytest
from storage_kit import Backend, Store

from thalex_modular.deployment import backtest_cli
from thalex_modular.platform.adapters.storage import EmbeddedStorage
from thalex_modular.platform.use_cases.backtest import (
    BacktestConfig,
    HistoryRange,
    NoHistory,
    backtest_from_storage,
    backtest_instrument,
    run_backtest,
)
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, history_records, tick_history

START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
HISTORY = TickHistoryConfig(seed=9, start_ns=START_S * 10**9)
FEED_NS = 2_000_000
EVENTS = 4_000


def _events() -> np.ndarray:
    return np.concatenate(list(tick_history(HISTORY, EVENTS)))


async def _load(store: Store) -> np.ndarray:
    events = _events()
    await store.write(history_records("BTC-PERPETUAL", events, FEED_NS))
    return events


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="platform")
    backtest_cli.register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(["backtest", *argv])
    return int(args.handler(args))


async def cli(argv: list[str]) -> int:
    return await asyncio.to_thread(run_cli, argv)  # the handler runs its own event loop


async def test_chunked_storage_replay_equals_the_in_memory_one(store: Store) -> None:
    # Arrange: history in the store; 20 s windows -> many chunks
    events = await _load(store)
    end_ns = int(events["ts_ns"][-1]) + 1
    history = HistoryRange("BTC-PERPETUAL", HISTORY.start_ns, end_ns, "tick", chunk_ns=20 * 10**9)
    config = BacktestConfig(backtest_instrument("BTC-PERPETUAL"), history)
    chunks: list[int] = []
    # Act
    stored = await backtest_from_storage(store, config, seed=2, on_progress=lambda n, _ts: chunks.append(n),
                                         record_requests=True)
    memory = run_backtest(config, [events], seed=2, feed_latency_ns=FEED_NS, record_requests=True)
    # Assert
    assert len(chunks) > 5 and sum(chunks) == EVENTS
    assert stored.metrics.feed_latency_ms == pytest.approx(FEED_NS / 1e6)
    assert stored.metrics.fills > 0
    assert stored.metrics == memory.metrics
    assert stored.fills.tobytes() == memory.fills.tobytes()
    assert stored.requests.tobytes() == memory.requests.tobytes()


async def test_an_empty_range_is_no_history(store: Store) -> None:
    await _load(store)
    history = HistoryRange("BTC-PERPETUAL", (START_S + 86_400) * 10**9, (START_S + 2 * 86_400) * 10**9)
    with pytest.raises(NoHistory, match="no tick data of BTC-PERPETUAL"):
        await backtest_from_storage(store, BacktestConfig(backtest_instrument("BTC-PERPETUAL"), history))


async def test_cli_runs_reports_and_stores_the_run(backend: Backend, store: Store, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange
    await _load(store)
    out_json, out_html = tmp_path / "bt.json", tmp_path / "bt.html"
    # Act
    code = await cli(["--instrument", "BTC-PERPETUAL", "--from", "2025-01-01", "--to", "2025-01-02", "--seed", "4",
                      "--json", str(out_json), "--report", str(out_html), "--csv", str(tmp_path / "bt"),
                      *backend.cli_args()])
    # Assert
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    last = re.fullmatch(r"events=(\d+) replay_s=\S+ events_per_s=\d+ fills=(\d+) pnl_usd=(-?\d+\.\d\d)", lines[-1])
    assert last is not None and int(last.group(1)) == EVENTS and int(last.group(2)) > 0
    doc = json.loads(out_json.read_text())
    assert doc["metrics"]["fills"] == int(last.group(2))
    assert f"{doc['metrics']['pnl_usd']:.2f}" == last.group(3)
    page = out_html.read_text()
    assert "plotly.js v" in page and not re.search(r"<script[^>]+src=", page)  # opens offline
    assert (tmp_path / "bt.fills.csv").read_text().count("\n") == doc["metrics"]["fills"] + 1
    run = await store.get_run(doc["run_id"])
    assert run is not None and run.metrics is not None and run.metrics["fills"] == doc["metrics"]["fills"]
    assert json.loads(run.config_json)["seed"] == 4


async def test_cli_drivers_give_the_same_run(backend: Backend, store: Store,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange
    await _load(store)
    argv = ["--instrument", "BTC-PERPETUAL", "--from", "2025-01-01", "--to", "2025-01-02", *backend.cli_args()]
    lines = []
    # Act: the default (fast) and the reference driver
    for extra in ([], ["--driver", "reference"]):
        assert await cli([*argv, *extra]) == 0
        lines.append(capsys.readouterr().out.strip().splitlines()[-1])
    # Assert: the same events, fills and PnL (replay_s / events_per_s differ)
    fast, reference = ([part for part in line.split() if not part.startswith(("replay_s=", "events_per_s="))]
                       for line in lines)
    assert fast == reference and fast[1] != "fills=0"


async def test_cli_bar_mode_reads_the_stores_1m_bars(backend: Backend, store: Store,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    await _load(store)
    code = await cli(["--instrument", "BTC-PERPETUAL", "--from", "2025-01-01", "--to", "2025-01-02",
                      "--mode", "bar", *backend.cli_args()])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "mode=bar" in out and out.strip().splitlines()[-1].startswith("events=")


@pytest.mark.parametrize(
    ("argv", "config_text", "message"),
    [
        (["--from", "2025-01-05", "--to", "2025-01-06"], None, "no tick data of BTC-PERPETUAL"),
        (["--instrument", "ETH-PERPETUAL"], None, "unknown instrument 'ETH-PERPETUAL'"),
        (["--instrument", "SOL-PERPETUAL"], None, "unknown instrument 'SOL-PERPETUAL'"),
        ([], '{"strategy": {"gamma": -1}}', "strategy.gamma"),
        (["--to", "2024-12-31"], None, "invalid `--to`"),
    ],
)
async def test_cli_usage_errors_exit_2_with_a_clear_message(
    backend: Backend, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
    config_text: str | None, message: str,
) -> None:
    # Arrange
    await _load(store)
    base = {"--instrument": "BTC-PERPETUAL", "--from": "2025-01-01", "--to": "2025-01-02"}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    args = [part for pair in base.items() for part in pair]
    if config_text is not None:
        (tmp_path / "run.json").write_text(config_text)
        args += ["--config", str(tmp_path / "run.json")]
    # Act
    code = await cli([*args, *backend.cli_args()])
    # Assert
    assert code == 2
    assert message in capsys.readouterr().err


async def test_the_embedded_store_takes_a_memory_limit(tmp_path: Path) -> None:
    # Arrange: what platform backtest opens (DuckDB's buffer pool otherwise keeps every page a replay read)
    store = EmbeddedStorage(tmp_path / "s.duckdb", memory_limit_mb=backtest_cli.EMBEDDED_MEMORY_LIMIT_MB)
    await store.open()
    try:
        # Act
        rows = await store._run(lambda con: con.execute("SELECT current_setting('memory_limit')").fetchall())
    finally:
        await store.close()
    # Assert: DuckDB reports it in its own units (64 MB = 61.0 MiB)
    assert rows[0][0] == "61.0 MiB"
    with pytest.raises(ValueError, match="memory_limit_mb must be > 0"):
        EmbeddedStorage(tmp_path / "t.duckdb", memory_limit_mb=0)
