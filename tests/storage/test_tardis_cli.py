"""`platform data import|export` on both stores: bad rows with file and line, --strict, double import, gzip."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import math
from pathlib import Path

import pytest
from storage_kit import Backend

from thalex_modular.deployment import data_cli
from thalex_modular.deployment.cli_errors import run_handler
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
    assert lines[0] == "instrument_name,ts_ns,bid_price,bid_amount,ask_price,ask_amount,mark_price"
    assert lines[1] == "BTC-PERPETUAL,1700000000000000000,37000.0,2.5,37001.0,1.5,nan"
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
