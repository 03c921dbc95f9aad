"""Issue 19 items 5 and 8: what was accepted without a word is a clear error (exit 2, nothing created or replaced),
and what is written is what a user expects (no float noise, no Python dicts)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_kit import Cli, no_traceback

TRADES = ("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
          "deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,t1,buy,37000.5,0.1\n"
          "deribit,BTC-PERPETUAL,1700000001000000,1700000001000100,t2,sell,37001.5,0.2\n")


def a_store(cli: Cli, tmp_path: Path) -> Path:
    source = tmp_path / "trades.csv"
    source.write_text(TRADES)
    data_dir = tmp_path / "data"
    assert cli("data", "import", "--kind", "trades", str(source), "--data-dir", str(data_dir)).returncode == 0
    return data_dir


def test_emulator_keys_naming_a_missing_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    result = cli("emulator", "--port", "0", "--keys", str(tmp_path / "keys.jsn"))
    no_traceback(result)
    assert result.returncode == 2 and f"keys_file: no such file {tmp_path / 'keys.jsn'}" in result.stderr
    assert "emulator ready" not in result.stdout


def test_export_from_a_misspelt_data_dir_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    a_store(cli, tmp_path)
    result = cli("data", "export", "--kind", "trades", "--out", str(tmp_path / "t.csv"),
                 "--data-dir", str(tmp_path / "dta"))
    no_traceback(result)
    assert result.returncode == 2 and f"no store at {tmp_path / 'dta' / 'store.duckdb'}" in result.stderr
    assert not (tmp_path / "dta").exists() and not (tmp_path / "t.csv").exists()


def test_export_of_an_unknown_instrument_names_what_is_stored(cli: Cli, tmp_path: Path) -> None:
    data_dir = a_store(cli, tmp_path)
    result = cli("data", "export", "--kind", "trades", "--out", str(tmp_path / "t.csv"), "--data-dir", str(data_dir),
                 "--instrument", "BTC-PERPETUAL", "--instrument", "BTC-PERP")
    no_traceback(result)
    assert result.returncode == 2
    assert "`--instrument`: BTC-PERP has no trades in" in result.stderr and "(stored: BTC-PERPETUAL)" in result.stderr
    assert not (tmp_path / "t.csv").exists()


def test_keygen_keeps_a_key_unless_forced_and_then_revokes_the_old_one(cli: Cli, tmp_path: Path) -> None:
    # Arrange
    keys = tmp_path / "keys"
    assert cli("emulator", "keygen", "--out", str(keys)).returncode == 0
    old_kid = (keys / "key_id").read_text().strip()
    private = (keys / "private_key.pem").read_bytes()
    # Act
    again = cli("emulator", "keygen", "--out", str(keys))
    # Assert: refused, the key untouched
    no_traceback(again)
    assert again.returncode == 2 and "refusing to overwrite a key" in again.stderr and "--force" in again.stderr
    assert (keys / "private_key.pem").read_bytes() == private
    # Act: forced
    forced = cli("emulator", "keygen", "--out", str(keys), "--force")
    # Assert: a new key, and the replaced one no longer accepted (removed from keys.json), said so
    assert forced.returncode == 0
    new_kid = (keys / "key_id").read_text().strip()
    accepted = [k["kid"] for k in json.loads((keys / "keys.json").read_text())["keys"]]
    assert accepted == [new_kid] != [old_kid]
    assert f"replaced key id {old_kid}" in forced.stderr


def test_exported_numbers_carry_no_float_noise(cli: Cli, tmp_path: Path) -> None:
    # Arrange: two trades in one minute; their volume 0.1 + 0.2 is 0.30000000000000004 in binary floating point
    data_dir = a_store(cli, tmp_path)
    out = tmp_path / "bars.csv"
    # Act
    result = cli("data", "export", "--kind", "ohlcv_1m", "--out", str(out), "--data-dir", str(data_dir), "--json")
    # Assert
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 1
    header, row = out.read_text().splitlines()
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert values["volume"] == "0.3" and values["open"] == "37000.5" and values["close"] == "37001.5"


def test_demo_prints_figures_not_python_objects(cli: Cli) -> None:
    result = cli("demo", "--events", "3000", "--seed", "3", timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert "{" not in result.stdout and "risk_denials=" in result.stdout
    as_json = cli("demo", "--events", "3000", "--seed", "3", "--json", timeout_s=120)
    summary = json.loads(as_json.stdout)
    assert summary["tickers"] == 3000 and isinstance(summary["risk_denials_by_limit"], dict)
    assert f"total_pnl_usd={summary['total_pnl_usd']:+.2f}" in result.stdout  # the same run, the same figures
