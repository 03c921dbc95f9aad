"""Issue 19 item 1: `--db` accepts PostgreSQL DSNs and explicit embedded paths only; anything else exits 2 and creates
nothing (before: `--db garbage` made ./garbage, `--db mysql://…` a `mysql:` folder, and both reported success)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from cli_kit import Cli, no_traceback

TRADES = ("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
          "deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,t1,buy,37000.5,0.1\n"
          "deribit,BTC-PERPETUAL,1700000001000000,1700000001000100,t2,sell,37001.0,0.2\n")


def trades_file(folder: Path) -> Path:
    path = folder / "trades.csv.gz"
    path.write_bytes(gzip.compress(TRADES.encode()))
    return path


def created(cli: Cli) -> list[str]:
    """Everything in the working folder and the data home (the default store's folder)."""
    return sorted(str(p) for root in (cli.cwd, cli.data_home) if root.exists() for p in root.rglob("*"))


@pytest.mark.parametrize("db", ["garbage", "mysql://me:hunter2@127.0.0.1/db", "sqlite:///x.db", "duckdb://"])
def test_a_db_that_is_no_store_is_refused_and_nothing_is_created(cli: Cli, tmp_path: Path, db: str) -> None:
    # Arrange
    source = trades_file(tmp_path)
    # Act
    result = cli("data", "import", "--kind", "trades", str(source), "--db", db)
    # Assert: a usage error naming the flag and what is accepted; no folder, no file, no secret shown
    no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "argument --db:" in result.stderr and "duckdb:///" in result.stderr
    assert "postgresql://" in result.stderr or db == "duckdb://"  # that one is told the path it lacks
    assert "hunter2" not in result.stderr
    assert created(cli) == []


def test_the_environment_dsn_is_checked_the_same_way(cli: Cli, tmp_path: Path) -> None:
    result = cli("data", "import", "--kind", "trades", str(trades_file(tmp_path)), env={"THALEX_DB_DSN": "garbage"})
    no_traceback(result)
    assert result.returncode == 2 and "THALEX_DB_DSN" in result.stderr and "'garbage'" in result.stderr
    assert created(cli) == []


def test_an_explicit_embedded_path_is_a_store(cli: Cli, tmp_path: Path) -> None:
    # Arrange
    store = tmp_path / "stores" / "mine.duckdb"
    store.parent.mkdir()
    # Act
    imported = cli("data", "import", "--kind", "trades", str(trades_file(tmp_path)), "--db", f"duckdb://{store}")
    exported = cli("data", "export", "--kind", "trades", "--out", str(tmp_path / "out.csv"), "--db", f"duckdb://{store}")
    # Assert: the rows went to that file (and back out), nowhere else
    assert imported.returncode == 0, imported.stderr
    assert f"into embedded {store}" in imported.stdout
    assert store.is_file() and created(cli) == []
    assert exported.returncode == 0, exported.stderr
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 3


def test_db_and_data_dir_together_are_refused(cli: Cli, tmp_path: Path) -> None:
    result = cli("data", "import", "--kind", "trades", str(trades_file(tmp_path)), "--db",
                 f"duckdb://{tmp_path}/a.duckdb", "--data-dir", str(tmp_path / "b"))
    assert result.returncode == 2 and "--data-dir" in result.stderr and "--db" in result.stderr
    assert not (tmp_path / "a.duckdb").exists() and not (tmp_path / "b").exists()


def test_deploy_checks_its_db_with_the_same_rule(cli: Cli) -> None:
    result = cli("deploy", "--mode", "shadow", "--network", "local", "--instruments", "BTC-PERPETUAL", "--db",
                 "mysql://x/y")
    no_traceback(result)
    assert result.returncode == 2 and "--db" in result.stderr and "postgresql://" in result.stderr
    assert created(cli) == []


@pytest.mark.parametrize(("flags", "needle"), [
    (("--db", "garbage"), "'garbage'"),
    (("--db", "mysql://me:hunter2@127.0.0.1/db"), "mysql://me@127.0.0.1/db"),
    (("--data-dir", "typo-folder"), "no store at"),
])
def test_backtest_refuses_a_store_it_cannot_read_and_creates_none(cli: Cli, flags: tuple[str, str],
                                                                   needle: str) -> None:
    result = cli("backtest", "--instrument", "BTC-PERPETUAL", "--from", "2025-01-01", "--to", "2025-01-02", *flags)
    no_traceback(result)
    assert result.returncode == 2 and needle in result.stderr, result.stderr
    assert "hunter2" not in result.stderr
    assert created(cli) == []
