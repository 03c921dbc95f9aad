"""`platform data import|export` on both stores: bad rows with file and line, --strict, double import, gzip, a store
failing in the middle of a file, a file that cannot be opened."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import math
from pathlib import Path

import asyncpg
import pytest
from storage_kit import PG_DSN, Backend

from thalex_modular.deployment import data_cli
from thalex_modular.deployment.cli_errors import run_handler
from thalex_modular.platform.adapters.storage import PostgresStorage
from thalex_modular.platform.adapters.storage.faults import install_fault_trigger, set_fault
from thalex_modular.platform.adapters.storage.tardis import import_files
from thalex_modular.platform.domain.storage import synthetic_trade_id

TRADES = """exchange,symbol,timestamp,local_timestamp,id,side,price,amount
deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,t1,buy,37000.5,0.1
deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,,sell,37000.0,0.2
deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,,sell,37000.0,0.2
deribit,BTC-PERPETUAL,1700000061000000,1700000061000100,t4,unknown,37010.0,0.3
"""
BAD_ROWS = """deribit,BTC-PERPETUAL,notatime,1700000000000100,t5,buy,37000.5,0.1
deribit,BTC-PERPETUAL,1700000062000000,1700000062000100,t6,buy,-1,0.1
deribit,BTC-PERPETUAL,1700000062000000,1700000062000100,t7,sideways,1,0.1
deribit,BTC-PERPETUAL,1700000062000000
"""
QUOTES = """exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount
deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,1.5,37001.0,37000.0,2.5
deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,,,37000.0,2.0
deribit,BTC-PERPETUAL,1700000001000000,1700000001000100,,,,
"""


def run_cli(argv: list[str]) -> int:
    """The data verbs as `platform` runs them (argparse errors and refusals become exit codes), in process."""
    parser = argparse.ArgumentParser(prog="platform")
    data_cli.register(parser.add_subparsers(dest="verb", required=True))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a refused argument: argparse printed why
        return int(exc.code or 0)
    return run_handler(args.handler, args)


async def cli(argv: list[str]) -> int:
    return await asyncio.to_thread(run_cli, argv)  # the handler runs its own event loop


async def counts(backend: Backend, table: str) -> int:
    store = backend.make()
    await store.open()
    try:
        return await store.count(table)
    finally:
        await store.close()


async def test_import_reports_bad_rows_and_is_idempotent(backend: Backend, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange: 4 good rows, 4 bad ones (lines 6-9), gzip-compressed
    path = tmp_path / "deribit_trades_2023-11-14_BTC-PERPETUAL.csv.gz"
    path.write_bytes(gzip.compress((TRADES + BAD_ROWS).encode()))
    # Act
    code = await cli(["data", "import", "--format", "tardis", "--kind", "trades", str(path), *backend.cli_args()])
    # Assert
    err = capsys.readouterr().err
    assert code == 1
    for line in (6, 7, 8, 9):
        assert f"{path}:{line}:" in err
    assert "timestamp must be an integer" in err and "price must be finite and > 0" in err
    assert "side must be one of" in err and "expected 8 columns, got 3" in err and "rows/s" in err
    assert await counts(backend, "trades") == 4
    # importing again adds nothing
    assert await cli(["data", "import", "--kind", "trades", str(path), *backend.cli_args()]) == 1
    assert "added 0" in capsys.readouterr().out
    assert await counts(backend, "trades") == 4
    store = backend.make()
    await store.open()
    trades = await store.read_trades("BTC-PERPETUAL", 0, 2**62)
    bars = await store.read_ohlcv_1m("BTC-PERPETUAL", 0, 2**62)
    await store.close()
    assert trades["side"].tolist() == [1, -1, -1, 0]
    assert trades["ts_ns"][0] == 1_700_000_000_000_000_000  # µs → ns
    assert bars["trades"].tolist() == [3, 1]


async def test_strict_refuses_whole_file(backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(TRADES + BAD_ROWS)
    good = tmp_path / "good.csv"
    good.write_text(TRADES)
    code = await cli(["data", "import", "--kind", "trades", "--strict", str(bad), str(good), *backend.cli_args()])
    out = capsys.readouterr()
    assert code == 1
    assert f"{bad}: REFUSED (--strict)" in out.out and f"{bad}:6:" in out.err
    assert f"{good}: ok, rows read 4, added 4" in out.out  # same rows as bad.csv's good ones: now stored once
    assert await counts(backend, "trades") == 4


async def test_quotes_import_and_export_csv(backend: Backend, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text(QUOTES)
    assert await cli(["data", "import", "--kind", "quotes", str(path), *backend.cli_args()]) == 1
    assert f"{path}:4: bid_price and ask_price are both empty" in capsys.readouterr().err
    out = tmp_path / "quotes_out.csv"
    assert await cli(["data", "export", "--kind", "quotes", "--out", str(out), *backend.cli_args()]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == ("instrument_name,ts_ns,bid_price,bid_amount,ask_price,ask_amount,mark_price,funding_rate_24h,"
                        "index_price,local_ns")
    # Tardis's local_timestamp is our receive time: a backtest replays the quote then
    assert lines[1] == "BTC-PERPETUAL,1700000000000000000,37000.0,2.5,37001.0,1.5,nan,nan,nan,1700000000000100000"
    assert lines[2].startswith("BTC-PERPETUAL,1700000000000000000,37000.0,2.0,nan,nan")
    assert len(lines) == 3


async def test_export_parquet_without_pyarrow_says_so(backend: Backend, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("duckdb")
    try:
        import pyarrow  # noqa: F401
        pytest.skip("pyarrow is installed: the missing-dependency message cannot be shown")
    except ImportError:
        pass
    code = await cli(["data", "export", "--kind", "trades", "--format", "parquet", "--out",
                      str(tmp_path / "t.parquet"), *backend.cli_args()])
    assert code == 2
    assert "Parquet export needs pyarrow, which is not installed" in capsys.readouterr().err


def test_wrong_header_is_reported_on_line_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "q.csv"
    path.write_text(QUOTES)
    code = run_cli(["data", "import", "--kind", "trades", str(path), "--data-dir", str(tmp_path / "db")])
    assert code == 1
    assert f"{path}:1: header must be exchange,symbol,timestamp" in capsys.readouterr().err


def test_synthetic_ids_are_deterministic_and_distinct() -> None:
    a = synthetic_trade_id("BTC-PERPETUAL", 1, 37000.0, 0.2, -1, 0)
    assert a == synthetic_trade_id("BTC-PERPETUAL", 1, 37000.0, 0.2, -1, 0)
    assert a != synthetic_trade_id("BTC-PERPETUAL", 1, 37000.0, 0.2, -1, 1)
    assert a.startswith("syn-") and len(a) == 44
    assert not math.isnan(float(len(a)))


DERIVATIVE_TICKER = """exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,\
open_interest,last_price,index_price,mark_price
deribit,BTC-PERPETUAL,1699999999000000,1699999999000100,1700006400000000,0.0001,0.00012,1000,37000,36990.5,37000.2
deribit,BTC-PERPETUAL,1700000000500000,1700000000500100,,-0.0003,,,,,
deribit,BTC-PERPETUAL,1700000000700000,1700000000700100,,,,,,36995.0,
"""
FUNDED_QUOTES = """exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount
deribit,BTC-PERPETUAL,1699999998000000,1699999998000100,1.0,37001.0,37000.0,1.0
deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,1.0,37002.0,37000.0,1.0
deribit,BTC-PERPETUAL,1700000000600000,1700000000600100,1.0,37003.0,37000.0,1.0
deribit,BTC-PERPETUAL,1700000000700000,1700000000700100,1.0,37004.0,37000.0,1.0
"""


async def _stored_funding(backend: Backend) -> list[tuple[float, float]]:
    store = backend.make()
    await store.open()
    try:
        quotes = await store.read_quotes("BTC-PERPETUAL", 0, 2**62)
    finally:
        await store.close()
    return list(zip(quotes["funding_rate_24h"].tolist(), quotes["index_price"].tolist(), strict=True))


@pytest.mark.parametrize("interval_h", [None, 1.0])
async def test_quotes_import_with_derivative_ticker_funding(backend: Backend, tmp_path: Path, interval_h: float | None,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange: a derivative_ticker file whose rows update the rate and the index apart, and quotes around them
    funding = tmp_path / "deribit_derivative_ticker_2023-11-14_BTC-PERPETUAL.csv.gz"
    funding.write_bytes(gzip.compress(DERIVATIVE_TICKER.encode()))
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(FUNDED_QUOTES)
    extra = [] if interval_h is None else ["--funding-interval-h", str(interval_h)]
    # Act
    code = await cli(["data", "import", "--kind", "quotes", "--funding", str(funding), *extra, str(quotes),
                      *backend.cli_args()])
    # Assert: each quote has the rate (per 24 h: x 24 / the interval, 8 h by default) and index in force at its time
    out = capsys.readouterr().out
    assert code == 0, out
    per_24h = 24.0 / (interval_h or 8.0)
    assert f"{funding} (funding): ok, rows read 3, used 3" in out
    assert f"rates x 24 / {interval_h or 8.0:g} h -> per 24 h" in out
    got = await _stored_funding(backend)
    assert math.isnan(got[0][0]) and math.isnan(got[0][1])  # before the first derivative_ticker row
    assert got[1:] == [(0.0001 * per_24h, 36990.5), (-0.0003 * per_24h, 36990.5), (-0.0003 * per_24h, 36995.0)]


async def test_bad_funding_values_are_named_and_strict_keeps_the_quotes_out(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: bad rates (not a number, a percentage, not finite) and a bad index on lines 5-8
    funding = tmp_path / "dt.csv"
    funding.write_text(DERIVATIVE_TICKER + "deribit,BTC-PERPETUAL,1700000001000000,1,,abc,,,,,\n"
                       "deribit,BTC-PERPETUAL,1700000001000000,1,,1.5,,,,,\n"
                       "deribit,BTC-PERPETUAL,1700000001000000,1,,nan,,,,,\n"
                       "deribit,BTC-PERPETUAL,1700000001000000,1,,,,,,-3,\n")
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(FUNDED_QUOTES)
    argv = ["data", "import", "--kind", "quotes", "--funding", str(funding), str(quotes), *backend.cli_args()]
    # Act: strict first (nothing stored), then not strict (the good rows used)
    strict = await cli([*argv[:4], "--strict", *argv[4:]])
    strict_out = capsys.readouterr()
    assert await counts(backend, "quotes") == 0
    lenient = await cli(argv)
    lenient_out = capsys.readouterr()
    # Assert
    assert strict == 1 and f"{quotes}: REFUSED (--strict): nothing kept" in strict_out.out
    assert lenient == 1 and f"{funding} (funding): PARTIAL: 4 bad rows skipped" in lenient_out.out
    for err in (strict_out.err, lenient_out.err):
        assert f"{funding}:5: funding_rate must be a number, was 'abc'" in err
        assert f"{funding}:6: funding_rate must be a fraction of the index per funding interval (|rate| < 1), " \
               "was '1.5': a percentage?" in err
        assert f"{funding}:7: funding_rate must be finite, was 'nan'" in err
        assert f"{funding}:8: index_price must be > 0, was '-3'" in err
    assert [rate for rate, _ in await _stored_funding(backend)][1:] == [0.0001 * 3.0, -0.0003 * 3.0, -0.0003 * 3.0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--funding-interval-h", "0"], "invalid `--funding-interval-h`: funding interval must be > 0 and <= 168 "
                                        "hours, was 0.0"),
        (["--funding-interval-h", "nan"], "invalid `--funding-interval-h`"),
        (["--kind", "trades"], "invalid `--funding`: derivative_ticker files go with --kind quotes, was --kind trades"),
    ],
)
def test_funding_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                     message: str) -> None:
    funding = tmp_path / "dt.csv"
    funding.write_text(DERIVATIVE_TICKER)
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(FUNDED_QUOTES)
    kind = [] if "--kind" in argv else ["--kind", "quotes"]
    code = run_cli(["data", "import", *kind, *argv, "--funding", str(funding), str(quotes), "--data-dir",
                    str(tmp_path / "store")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "store").exists()


async def test_a_store_failing_mid_file_says_what_was_added_and_a_rerun_adds_the_rest(
    pg_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: 60,000 rows (batches of 50,000); the server refuses every row priced above 40,000 (the last 10,000)
    head, *_ = TRADES.splitlines(keepends=True)
    rows = [f"deribit,BTC-PERPETUAL,{1_700_000_000_000_000 + i * 1_000},{1_700_000_000_000_100 + i * 1_000},t{i},buy,"
            f"{37_000.5 if i < 50_000 else 41_000.5},0.1\n" for i in range(60_000)]
    source = tmp_path / "trades.csv"
    source.write_text(head + "".join(rows))
    backend = Backend("postgres", tmp_path / "unused", pg_schema)
    store = PostgresStorage(PG_DSN, schema_name=pg_schema)
    await store.open()
    await store.close()
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": pg_schema})
    try:
        await install_fault_trigger(conn)
        await set_fault(conn, "23514", "$1.price > 40000")  # check_violation: a refusal no retry fixes
        argv = ["data", "import", "--kind", "trades", str(source), *backend.cli_args()]
        # Act
        failed = await cli(argv)
        err = capsys.readouterr().err
        added_first = await counts(backend, "trades")
        await set_fault(conn, None)
        rerun = await cli(argv)
        out = capsys.readouterr().out
    finally:
        await conn.close()
    # Assert: exit 1 (not 2: something was stored), the file and what was added before named; a rerun adds the rest
    assert failed == 1
    assert f"the store failed importing {source}" in err and f"added before that: {source}: 50000 rows added" in err
    assert "importing the same files again adds only what is missing" in err and "Traceback" not in err
    assert added_first == 50_000
    assert rerun == 0 and f"{source}: ok, rows read 60000, added 10000" in out
    assert await counts(backend, "trades") == 60_000


async def test_a_file_that_cannot_be_opened_gives_nothing(backend: Backend, tmp_path: Path) -> None:
    # Arrange: import_files called directly (the CLI checks files first): a directory where a file should be
    folder = tmp_path / "trades.csv"
    folder.mkdir()
    store = backend.make()
    await store.open()
    try:
        # Act
        (report,) = await import_files(store, [folder], "trades")
    finally:
        await store.close()
    # Assert
    assert report.rows_read == report.rows_added == 0 and report.broken is not None
    assert str(report.broken) == f"{folder}:1: is a directory, not a file; nothing was read"
    assert await counts(backend, "trades") == 0
