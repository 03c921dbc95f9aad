"""`platform data record` and `platform data backfill` against the real emulator and both stores."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from storage_kit import PG_DSN, Backend
from test_tardis_cli import cli

from thalex_modular.deployment.cli_errors import UsageError
from thalex_modular.deployment.data_backfill import SETTLE_S, chunk_ranges, source_of
from thalex_modular.deployment.time_args import parse_time_ns
from thalex_modular.emulator.config import EmulatorConfig, RateLimitConfig
from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer
from thalex_modular.platform.domain.clock import seconds_to_ns
from thalex_modular.platform.domain.errors import InvalidValue

LOOP = pytest.mark.asyncio(loop_scope="module")

START_S = 1_733_011_200  # 2024-12-01T00:00Z: emulator sim start; 7 days of 1m history before it
DAY_S = 86_400
NS = 1_000_000_000


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def emulator() -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig.model_validate({
        "port": 0, "start_time_s": float(START_S), "flow_agents": True, "speed": 10.0,  # ~3 perp trades/s
        "rate_limits": RateLimitConfig(enabled=False), "market_step_ms": 50.0,
    })
    server = build_server(config)
    await server.start()
    yield server
    await server.stop()


def net_args(server: EmulatorServer) -> list[str]:
    return ["--network", "local", "--emulator-url", f"ws://127.0.0.1:{server.port}/ws/api/v2"]


async def read_candles(backend: Backend, source: str, name: str, lo_s: int, hi_s: int) -> np.ndarray:
    store = backend.make()
    await store.open()
    try:
        return await store.read_candles_1m(source, name, lo_s * NS, hi_s * NS)
    finally:
        await store.close()


# -- argument parsing ----------------------------------------------------------------------------------------


def parse_time_s(value: str, flag: str) -> int:
    return parse_time_ns(value, flag, "s") // NS


def test_parse_time_accepts_iso_dates_times_and_unix_seconds() -> None:
    assert parse_time_s("2024-11-28", "--from") == START_S - 3 * DAY_S
    assert parse_time_s("2024-11-28T12:30", "--from") == START_S - 3 * DAY_S + 12 * 3600 + 1800
    assert parse_time_s("2024-11-28T13:30+01:00", "--from") == START_S - 3 * DAY_S + 12 * 3600 + 1800
    assert parse_time_s("2024-11-28T12:30:00Z", "--from") == START_S - 3 * DAY_S + 12 * 3600 + 1800
    assert parse_time_s("1733011200", "--to") == START_S
    assert parse_time_s("1733011200000ms", "--to") == START_S
    with pytest.raises(UsageError, match=r"`--from`.*'yesterday'"):
        parse_time_s("yesterday", "--from")


def test_chunks_cover_the_range_in_whole_minutes() -> None:
    assert chunk_ranges(90, 2 * DAY_S + 30, DAY_S) == [(60, DAY_S + 60), (DAY_S + 60, 2 * DAY_S + 60)]
    with pytest.raises(InvalidValue, match=r"`chunk_s`.*was 90"):
        chunk_ranges(0, DAY_S, 90)
    with pytest.raises(InvalidValue, match=r"`--to`.*was 0"):
        chunk_ranges(60, 0, DAY_S)
    assert source_of("BTC-PERPETUAL") == "mark" and source_of("BTCUSD") == "index"


@LOOP
async def test_bad_from_exits_2_naming_the_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = await cli(["data", "backfill", "--network", "local", "--instrument", "BTC-PERPETUAL",
                      "--from", "2024-13-45", "--to", "2024-11-30", "--data-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "--from" in err and "'2024-13-45'" in err
    assert not (tmp_path / "store.duckdb").exists()  # refused before touching the store


# -- backfill ------------------------------------------------------------------------------------------------


@LOOP
async def test_backfill_is_chunked_exact_and_resumable(
    emulator: EmulatorServer, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: two days of mark history, well inside the emulator's 7-day history
    lo, hi = START_S - 3 * DAY_S, START_S - DAY_S
    argv = ["data", "backfill", *net_args(emulator), "--instrument", "BTC-PERPETUAL",
            "--from", "2024-11-28", "--to", "2024-11-30T00:00:00", *backend.cli_args()]

    # Act: an interrupted run (one chunk), then a full one, then a rerun
    assert await cli([*argv, "--max-chunks", "1"]) == 0
    after_first = await read_candles(backend, "mark", "BTC-PERPETUAL", lo, hi)
    assert await cli(argv) == 0
    out_resume = capsys.readouterr().out
    assert await cli(argv) == 0
    out_rerun = capsys.readouterr().out

    # Assert: exactly 1440 rows per day, each minute once, sane OHLC; the resume fetched only the rest
    assert len(after_first) == 1440  # the interrupted run stored exactly its first chunk
    assert after_first["ts_ns"][0] == lo * NS
    candles = await read_candles(backend, "mark", "BTC-PERPETUAL", lo, hi)
    assert len(candles) == 2880
    assert np.array_equal(candles["ts_ns"], np.arange(lo, hi, 60) * NS)
    assert np.all(candles["low"] <= np.minimum(candles["open"], candles["close"]))
    assert np.all(candles["high"] >= np.maximum(candles["open"], candles["close"]))
    assert np.all(candles["low"] > 0)
    assert "skipped 1, fetched 1" in out_resume and "added 1440" in out_resume
    assert "skipped 2, fetched 0" in out_rerun and "rows fetched 0, added 0" in out_rerun


@LOOP
async def test_backfill_does_not_ask_again_for_what_the_venue_never_had(
    emulator: EmulatorServer, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: 2-day chunks from 11 days before the emulator's start (its history covers only the last 7) into the
    # venue's present: [-11, -9) and [-9, -7) days lie before the history, [-1, 1) is still running
    lo = START_S - 11 * DAY_S
    argv = ["data", "backfill", *net_args(emulator), "--instrument", "BTC-PERPETUAL", "--from", str(lo),
            "--to", str(START_S + DAY_S), "--chunk-s", str(2 * DAY_S), *backend.cli_args()]

    # Act: a run, then a rerun
    assert await cli(argv) == 0
    first = capsys.readouterr().out
    assert await cli(argv) == 0
    rerun = capsys.readouterr().out

    # Assert: the rerun asks only for the chunk reaching into the venue's present; the others are marked fetched
    assert "chunks 6 (skipped 0, fetched 6)" in first
    assert "chunks 6 (skipped 5, fetched 1)" in rerun
    store = backend.make()
    await store.open()
    try:
        fetched = await store.read_candle_fetches("mark", "BTC-PERPETUAL", 0, 2**62)
        starts = fetched["ts_ns"].tolist()
        assert {lo * NS, (lo + 2 * DAY_S) * NS} <= set(starts)  # before the venue's history
        assert (START_S - DAY_S) * NS not in starts  # the running one
        assert np.all(fetched["end_ns"] - fetched["ts_ns"] == 2 * DAY_S * NS)
        assert np.all(fetched["fetched_ns"] >= START_S * NS)  # venue time, not this machine's clock
        assert len(await store.read_candles_1m("mark", "BTC-PERPETUAL", lo * NS, (lo + 2 * DAY_S) * NS)) == 0
        # of the running chunk, only candles final when fetched: their minute ended SETTLE_S before the venue's time
        running = await store.read_candles_1m("mark", "BTC-PERPETUAL", (START_S - DAY_S) * NS, 2**62)
        assert len(running) >= 1440 - (60 + SETTLE_S) // 60  # the day of history before the start, final
        venue_now_ns = emulator.venue.time.now_ns()
        assert np.all(running["ts_ns"] + (60 + SETTLE_S) * NS <= venue_now_ns)
    finally:
        await store.close()


@LOOP
async def test_backfill_of_an_index_name_reads_index_history(emulator: EmulatorServer, tmp_path: Path) -> None:
    # Arrange: unix-second bounds, 6-hour chunks
    backend = Backend("embedded", tmp_path / "store.duckdb")
    lo = START_S - 2 * DAY_S
    argv = ["data", "backfill", *net_args(emulator), "--instrument", "BTCUSD", "--from", str(lo),
            "--to", str(lo + DAY_S), "--chunk-s", str(6 * 3600), *backend.cli_args()]
    # Act
    assert await cli(argv) == 0
    # Assert: index rows, not mark rows, one per minute
    index = await read_candles(backend, "index", "BTCUSD", lo, lo + DAY_S)
    mark = await read_candles(backend, "mark", "BTCUSD", lo, lo + DAY_S)
    assert len(index) == 1440 and len(mark) == 0
    assert np.all(np.diff(index["ts_ns"]) == 60 * NS)


# -- record --------------------------------------------------------------------------------------------------


@LOOP
async def test_record_stores_trades_and_quotes(
    emulator: EmulatorServer, backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange
    names = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
    argv = ["data", "record", *net_args(emulator), "--instruments", *names, "--duration-s", "3",
            "--spill-dir", str(tmp_path / "spill"), *backend.cli_args()]

    # Act
    code = await cli(argv)

    # Assert: both kinds stored for each instrument, with sane values, nothing left spilled
    assert code == 0
    captured = capsys.readouterr()
    assert "records/s" in captured.err and "spilled 0," in captured.out
    assert not list((tmp_path / "spill").glob("*.spill"))
    store = backend.make()
    await store.open()
    try:
        for name in names:
            quotes = await store.read_quotes(name, 0, 2**62)
            trades = await store.read_trades(name, 0, 2**62)
            assert len(quotes) > 0, name
            both = ~np.isnan(quotes["bid_price"]) & ~np.isnan(quotes["ask_price"])
            assert both.any()
            assert np.all(quotes["bid_price"][both] < quotes["ask_price"][both])
            assert np.all(quotes["mark_price"] > 0)
            assert np.all(quotes["ts_ns"] >= START_S * NS)
            # a perpetual's ticker carries its funding rate (per 24 h, the emulator's convention) and the index
            assert np.all(np.isfinite(quotes["funding_rate_24h"])) and np.all(quotes["index_price"] > 0)
            assert np.all(np.abs(quotes["funding_rate_24h"]) < 0.1)
            assert len(trades) > 0, (name, captured)
            assert np.all(trades["price"] > 0) and np.all(trades["amount"] > 0)
            assert set(np.unique(trades["side"])) <= {-1, 1}
            mid = float(np.nanmedian((quotes["bid_price"] + quotes["ask_price"]) / 2))
            assert math.isclose(float(np.median(trades["price"])), mid, rel_tol=0.05)
        rows = await store.fetch_rows("trades")
        assert all(row[3].startswith("syn-") for row in rows)  # Thalex sends no trade id
    finally:
        await store.close()
    assert "recorded" in captured.out


@LOOP
async def test_record_refuses_an_unreachable_exchange(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = await cli(["data", "record", "--network", "local", "--emulator-url", "http://127.0.0.1:1/x",
                      "--instruments", "BTC-PERPETUAL", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "--emulator-url" in capsys.readouterr().err


@LOOP
async def test_record_starts_with_the_store_down_and_stores_everything_once_it_is_up(
    emulator: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: the embedded store cannot be opened (a file stands where its directory goes) until 1 s into the run
    data_dir = tmp_path / "store"
    data_dir.write_text("in the way")
    spill = tmp_path / "spill"
    argv = ["data", "record", *net_args(emulator), "--instruments", "BTC-PERPETUAL", "--duration-s", "3",
            "--spill-dir", str(spill), "--data-dir", str(data_dir)]

    async def store_comes_up() -> None:
        await asyncio.sleep(1.0)
        data_dir.unlink()

    # Act
    code, _ = await asyncio.gather(cli(argv), store_comes_up())

    # Assert: recorded from the start, the spill replayed, every record in the store
    assert code == 0
    captured = capsys.readouterr()
    assert "the store is unreachable, recording to" in captured.err
    assert not list(spill.glob("*.spill"))
    recorded = re.search(r"recorded (\d+) quotes, (\d+) trades", captured.out)
    assert recorded is not None
    store = Backend("embedded", data_dir / "store.duckdb").make()
    await store.open()
    try:
        assert await store.count("quotes") == int(recorded[1]) > 0
        assert await store.count("trades") == int(recorded[2])
    finally:
        await store.close()


@LOOP
async def test_record_refuses_a_store_that_refuses_it(emulator: EmulatorServer, tmp_path: Path, pg_schema: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # pg_schema: skipped, with the reason, when no PostgreSQL server answers
    dsn = PG_DSN.rsplit("/", 1)[0] + "/no_such_database"
    code = await cli(["data", "record", *net_args(emulator), "--instruments", "BTC-PERPETUAL", "--duration-s", "1",
                      "--spill-dir", str(tmp_path / "spill"), "--db", dsn])
    assert code == 2
    assert 'database "no_such_database" does not exist' in capsys.readouterr().err


@LOOP
async def test_a_restart_stores_the_trades_made_while_nobody_recorded(
    emulator: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: a first recording, then the venue trades unrecorded for two seconds
    argv = ["data", "record", *net_args(emulator), "--instruments", "BTC-PERPETUAL", "--duration-s", "1.5",
            "--data-dir", str(tmp_path)]
    assert await cli(argv) == 0
    backend = Backend("embedded", tmp_path / "store.duckdb")
    first = await read_trades(backend)
    assert len(first) > 0
    await asyncio.sleep(2.0)
    venue = emulator.venue.recent_trades("BTC-PERPETUAL", "single")
    made_in_gap = {(seconds_to_ns(float(r[3])), float(r[0]), float(r[1])) for r in venue  # type: ignore[arg-type]
                   if seconds_to_ns(float(r[3])) > int(first["ts_ns"][-1])}  # type: ignore[arg-type]
    assert made_in_gap
    capsys.readouterr()

    # Act: record again (before, the subscribe snapshot was dropped: the gap's trades were never stored)
    assert await cli(argv) == 0

    # Assert: every trade of the gap is stored once; the summary says how long the gap was and that it is covered
    stored = await read_trades(backend)
    keys = [(int(t["ts_ns"]), float(t["price"]), float(t["amount"])) for t in stored]
    assert made_in_gap <= set(keys) and len(keys) == len(set(keys))
    out = capsys.readouterr().out
    gap = re.search(r"BTC-PERPETUAL: gap of ([\d.]+) s since the newest trade recorded before, covered", out)
    assert gap is not None, out
    assert float(gap[1]) >= 1.0


async def read_trades(backend: Backend) -> np.ndarray:
    store = backend.make()
    await store.open()
    try:
        return await store.read_trades("BTC-PERPETUAL", 0, 2**62)
    finally:
        await store.close()


@LOOP
async def test_record_shows_no_secret_of_its_dsn(
    emulator: EmulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: a DSN with secrets in the userinfo and the query, first unreachable (recording goes on into the spill
    # directory), then refused (no such database)
    secrets = ("pw-user", "pw-query")
    unreachable = f"postgresql://postgres:{secrets[0]}@127.0.0.1:1/test?password={secrets[1]}"
    refused = PG_DSN.replace("postgres@", f"postgres:{secrets[0]}@") + f"_no_such_db?password={secrets[1]}"
    base = ["data", "record", *net_args(emulator), "--instruments", "BTC-PERPETUAL", "--duration-s", "1",
            "--spill-dir", str(tmp_path / "spill")]

    # Act: before, the unreachable store's message and the buffer's warning printed ?password=…
    codes = [await cli([*base, "--db", unreachable]), await cli([*base, "--db", refused])]

    # Assert
    captured = capsys.readouterr()
    shown = captured.out + captured.err + caplog.text
    assert codes == [0, 2] and "the store is unreachable" in shown and "127.0.0.1:1" in shown
    assert not any(secret in shown for secret in secrets), shown
