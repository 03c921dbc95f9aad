"""Issue 19 items 3, 5 and 8 (import): a truncated gzip names the file and the line reached and says how many rows
were kept (exit 1; with --strict none); an empty file reads 0 rows; a UTF-8 BOM header is accepted; crossed quotes
and millisecond timestamps are refused rows; the summary never says `ok` when the exit code is 1."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
from cli_kit import Cli, no_traceback

HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
QUOTES_HEADER = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"
T0_US = 1_700_000_000_000_000


def trade_rows(n: int) -> str:
    return "".join(f"deribit,BTC-PERPETUAL,{T0_US + i * 1000},{T0_US + i * 1000 + 50},t{i},buy,37000.5,0.1\n"
                   for i in range(n))


def stored(store: Path, table: str) -> int:
    if not store.exists():
        return 0
    with duckdb.connect(str(store), read_only=True) as con:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def truncated_gzip(path: Path, rows: int) -> Path:
    whole = gzip.compress((HEADER + trade_rows(rows)).encode())
    path.write_bytes(whole[: len(whole) * 7 // 10])  # cut inside the stream, as an interrupted download
    return path


def test_a_truncated_gzip_keeps_what_came_before_and_says_so(cli: Cli, tmp_path: Path) -> None:
    # Arrange: 120,000 rows, the file cut at 70 %: the first 50,000-row batch is committed before the end is found
    source = truncated_gzip(tmp_path / "trades.csv.gz", 120_000)
    store = tmp_path / "db" / "store.duckdb"
    # Act
    result = cli("data", "import", "--kind", "trades", str(source), "--data-dir", str(store.parent), "--json")
    # Assert: exit 1, the file and line named, the rows kept counted and really in the store
    no_traceback(result)
    assert result.returncode == 1, result.stderr
    assert f"unreadable {source}:" in result.stderr and "the file ends early" in result.stderr
    (report,) = json.loads(result.stdout)["files"]
    assert report["verdict"].startswith("INCOMPLETE") and report["stopped_at_line"] > 50_000
    assert report["rows_added"] == stored(store, "trades") >= 50_000
    assert report["rows_added"] == report["rows_read"] == report["stopped_at_line"] - 2


def test_a_truncated_gzip_with_strict_keeps_nothing(cli: Cli, tmp_path: Path) -> None:
    source = truncated_gzip(tmp_path / "trades.csv.gz", 120_000)
    store = tmp_path / "db" / "store.duckdb"
    result = cli("data", "import", "--strict", "--kind", "trades", str(source), "--data-dir", str(store.parent))
    no_traceback(result)
    assert result.returncode == 1
    assert "REFUSED (--strict): nothing kept" in result.stdout and " ok," not in result.stdout
    assert stored(store, "trades") == 0


def test_an_empty_file_reads_no_rows_and_a_bom_header_is_accepted(cli: Cli, tmp_path: Path) -> None:
    # Arrange
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeff".encode() + (HEADER + trade_rows(3)).encode())
    store = tmp_path / "db" / "store.duckdb"
    # Act
    result = cli("data", "import", "--kind", "trades", str(empty), str(bom), "--data-dir", str(store.parent))
    # Assert: the empty file is refused with 0 rows read (not 1); the BOM file imports; exit 1 and no `ok` for it
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{empty}: REFUSED: nothing kept, rows read 0, added 0, bad 0"
    assert lines[1] == f"{bom}: ok, rows read 3, added 3, bad 0"
    assert "the file is empty" in result.stderr
    assert stored(store, "trades") == 3


def test_millisecond_timestamps_and_crossed_quotes_are_refused_rows(cli: Cli, tmp_path: Path) -> None:
    # Arrange: a trade stamped in ms (it would land in 1970), a crossed quote (bid above ask), one good quote
    trades = tmp_path / "ms.csv"
    trades.write_text(HEADER + "deribit,BTC-PERPETUAL,1700000000000,1700000000050,t1,buy,37000.5,0.1\n")
    quotes = tmp_path / "quotes.csv"
    quotes.write_text(QUOTES_HEADER + f"deribit,BTC-PERPETUAL,{T0_US},{T0_US},1,37000.0,37001.0,1\n"
                      f"deribit,BTC-PERPETUAL,{T0_US + 1},{T0_US + 1},1,37002.0,37001.0,1\n")
    store = tmp_path / "db" / "store.duckdb"
    # Act
    ms = cli("data", "import", "--kind", "trades", str(trades), "--data-dir", str(store.parent))
    crossed = cli("data", "import", "--kind", "quotes", str(quotes), "--data-dir", str(store.parent))
    # Assert
    assert ms.returncode == 1 and f"{trades}:2: timestamp must be µs since the epoch" in ms.stderr
    assert "milliseconds or seconds?" in ms.stderr and "PARTIAL: 1 bad rows skipped" in ms.stdout
    assert crossed.returncode == 1 and f"{quotes}:2: crossed quote: bid_price 37001.0 is above ask_price 37000.0" \
        in crossed.stderr
    assert stored(store, "trades") == 0 and stored(store, "quotes") == 1
