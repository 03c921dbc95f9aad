"""`platform data import` of files it cannot read: one message naming the file and what is wrong, exit 2, nothing
stored or created (every file is checked before the store is opened). A file that breaks further on names the
line and says exactly what was kept (exit 1)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from cli_kit import Cli, no_traceback
from test_import_files import HEADER, stored, trade_rows

DERIVATIVE_TICKER_HEADER = ("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,"
                            "predicted_funding_rate,open_interest,last_price,index_price,mark_price\n")


def good_trades(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text(HEADER + trade_rows(10))
    return path


def bad_file(tmp_path: Path, case: str) -> tuple[Path, str]:
    """A file an import cannot read, and what the error must say about it."""
    if case == "missing":
        return tmp_path / "missing.csv", "no such file"
    if case == "directory":
        path = tmp_path / "trades.csv"
        path.mkdir()
        return path, "is a directory, not a file"
    if case == "not gzip though named .gz":
        path = tmp_path / "trades.csv.gz"
        path.write_bytes(b"\x00\xff\xfe binary, not gzip\n" + bytes(range(256)))
        return path, "named .gz but not gzip-compressed (it starts with bytes 00 ff), and line 1 is not UTF-8 text"
    if case == "gzip cut inside line 1":
        path = tmp_path / "trades.csv.gz"
        path.write_bytes(gzip.compress((HEADER + trade_rows(10)).encode())[:12])
        return path, "the file ends early (truncated?)"
    if case == "damaged gzip":
        path = tmp_path / "trades.csv.gz"
        whole = bytearray(gzip.compress((HEADER + trade_rows(10)).encode()))
        whole[2] = 7  # the compression method: 8 (deflate) is the only one
        path.write_bytes(bytes(whole))
        return path, "not a valid gzip file (Unknown compression method)"
    assert case == "bad UTF-8 in line 1"
    path = tmp_path / "trades.csv"
    path.write_bytes(b"exchange,symbol,timest\xe4mp,local_timestamp,id,side,price,amount\n")
    return path, "line 1 is not UTF-8 text (byte 0xe4 cannot be decoded)"


CASES = ["missing", "directory", "not gzip though named .gz", "gzip cut inside line 1", "damaged gzip",
         "bad UTF-8 in line 1"]


@pytest.mark.parametrize("case", CASES)
def test_an_unreadable_file_is_named_and_nothing_is_stored(cli: Cli, tmp_path: Path, case: str) -> None:
    # Arrange: a good file first, then the bad one: the good one must not be imported either
    good = good_trades(tmp_path)
    bad, reason = bad_file(tmp_path, case)
    store = tmp_path / "db"
    # Act
    result = cli("data", "import", "--kind", "trades", str(good), str(bad), "--data-dir", str(store))
    # Assert
    no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert f"platform data import: cannot read {bad}: {reason}" in result.stderr
    assert "(nothing imported)" in result.stderr and str(good) not in result.stderr
    assert not store.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading a file")
def test_a_file_without_read_permission_is_named(cli: Cli, tmp_path: Path) -> None:
    source = good_trades(tmp_path)
    source.chmod(0)
    try:
        result = cli("data", "import", "--kind", "trades", str(source), "--data-dir", str(tmp_path / "db"))
    finally:
        source.chmod(0o600)
    no_traceback(result)
    assert result.returncode == 2
    assert f"cannot read {source}: permission denied: the file cannot be read by this user" in result.stderr
    assert not (tmp_path / "db").exists()


def test_every_unreadable_file_is_named_at_once_funding_files_too(cli: Cli, tmp_path: Path) -> None:
    # Arrange: a funding file that is a directory, a missing quotes file, and a good funding file
    funding_dir = tmp_path / "derivative_ticker.csv"
    funding_dir.mkdir()
    funding_ok = tmp_path / "dt.csv"
    funding_ok.write_text(DERIVATIVE_TICKER_HEADER)
    quotes = tmp_path / "quotes.csv"
    # Act
    result = cli("data", "import", "--kind", "quotes", "--funding", str(funding_ok), "--funding", str(funding_dir),
                 str(quotes), "--data-dir", str(tmp_path / "db"))
    # Assert
    no_traceback(result)
    assert result.returncode == 2
    assert f"{quotes}: no such file" in result.stderr
    assert f"{funding_dir}: is a directory, not a file" in result.stderr
    assert f"{funding_ok}:" not in result.stderr
    assert not (tmp_path / "db").exists()


def test_a_plain_csv_named_gz_is_read_as_text(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "trades.csv.gz"
    source.write_text(HEADER + trade_rows(10))
    store = tmp_path / "db" / "store.duckdb"
    result = cli("data", "import", "--kind", "trades", str(source), "--data-dir", str(store.parent))
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert stored(store, "trades") == 10


def test_bad_utf8_further_on_names_its_line_and_what_was_kept(cli: Cli, tmp_path: Path) -> None:
    # Arrange: 3,000 rows, a byte that is not UTF-8 in line 2,001 (row 2,000)
    lines = (HEADER + trade_rows(3_000)).encode().split(b"\n")
    lines[2_000] = lines[2_000].replace(b",buy,", b",b\xffy,")
    source = tmp_path / "trades.csv"
    source.write_bytes(b"\n".join(lines))
    store = tmp_path / "db" / "store.duckdb"
    # Act
    result = cli("data", "import", "--kind", "trades", str(source), "--data-dir", str(store.parent), "--json")
    # Assert: exit 1; the bad line named; the rows before the chunk the decoder refused are kept, and counted
    no_traceback(result)
    assert result.returncode == 1, result.stderr
    assert f"unreadable {source}:" in result.stderr
    assert "line 2001 is not UTF-8 text (byte 0xff cannot be decoded); nothing after line" in result.stderr
    (report,) = json.loads(result.stdout)["files"]
    assert report["verdict"].startswith("INCOMPLETE")
    assert 0 < report["rows_added"] == stored(store, "trades") == report["stopped_at_line"] - 2 < 2_000


def test_bad_utf8_further_on_with_strict_keeps_nothing(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "trades.csv"
    source.write_bytes((HEADER + trade_rows(100)).encode() + b"deribit,BTC-PERPETUAL,\xff\n")
    store = tmp_path / "db" / "store.duckdb"
    result = cli("data", "import", "--strict", "--kind", "trades", str(source), "--data-dir", str(store.parent))
    no_traceback(result)
    assert result.returncode == 1
    assert "line 102 is not UTF-8 text" in result.stderr and "REFUSED (--strict): nothing kept" in result.stdout
    assert stored(store, "trades") == 0
