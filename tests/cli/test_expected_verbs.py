"""Issue 19 item 9: `--version`, `instruments`, `config example`, one config format family, `export --kind candles_1m`,
ISO 8601 and epoch-with-unit times, `--log-file` and `--json`."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from cli_kit import PLATFORM, Cli, no_traceback

from thalex_modular.deployment.config import RunConfig, load_run_config


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("platform (thalex-modular) ")


def test_instruments_lists_ticks_and_minimum_sizes(cli: Cli, emulator_url: str) -> None:
    # Act
    table = cli("instruments", "--network", "local", "--emulator-url", emulator_url, "--kind", "perpetual")
    as_json = cli("instruments", "--network", "local", "--emulator-url", emulator_url, "--json")
    # Assert: a table of the perpetuals only; JSON of every kind with the same columns
    assert table.returncode == 0, table.stderr
    header, *rows, total = table.stdout.splitlines()
    assert header.split() == ["name", "kind", "tick_size_usd", "volume_tick_size", "min_order_amount", "expiry_utc"]
    assert {row.split()[0] for row in rows} >= {"BTC-PERPETUAL", "ETH-PERPETUAL"}
    assert all(row.split()[1] == "perpetual" for row in rows) and total.startswith(f"{len(rows)} instruments on ")
    listed = json.loads(as_json.stdout)["instruments"]
    assert {i["kind"] for i in listed} == {"perpetual", "future", "option"}
    btc = next(i for i in listed if i["name"] == "BTC-PERPETUAL")
    assert float(btc["tick_size_usd"]) > 0 and float(btc["min_order_amount"]) > 0


def test_config_example_covers_every_section_with_the_defaults(cli: Cli, tmp_path: Path) -> None:
    # Act
    result = cli("config", "example")
    # Assert: every section of the run config, commented, and loading it gives the defaults
    assert result.returncode == 0
    parsed = tomllib.loads(result.stdout)
    sections = {name for name, field in RunConfig.model_fields.items() if isinstance(field.default_factory, type)}
    assert sections <= set(parsed) and "credentials" in sections
    assert result.stdout.count("#") > 50
    example = tmp_path / "example.toml"
    example.write_text(result.stdout)
    assert load_run_config(example) == RunConfig()


def test_one_config_family_for_every_verb(cli: Cli, tmp_path: Path) -> None:
    # Arrange: one run config and one emulator config, each as TOML, YAML and JSON
    run = {"mode": "shadow", "instrument": "ETH-PERPETUAL", "strategy": {"gamma": 0.01}}
    files = {"run.toml": 'mode = "shadow"\ninstrument = "ETH-PERPETUAL"\n[strategy]\ngamma = 0.01\n',
             "run.yaml": yaml.safe_dump(run), "run.json": json.dumps(run)}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    emulator = tmp_path / "emulator.toml"
    emulator.write_text("port = 0\nseed = 3\n[rate_limits]\nenabled = false\n")
    # Act / Assert: `config check` (the loader of run and deploy) takes all three
    for name in files:
        checked = cli("config", "check", str(tmp_path / name))
        assert checked.returncode == 0 and "ok (shadow ETH-PERPETUAL" in checked.stdout, checked.stderr
    # the emulator takes TOML too (before: YAML or JSON only)
    proc = subprocess.Popen([str(PLATFORM), "emulator", "--config", str(emulator)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli.env())
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().startswith("emulator ready ws://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0


#: The day before yesterday (UTC): inside the emulator's candle history, which ends at its start (wall time).
DAY = datetime.combine(datetime.now(UTC).date() - timedelta(days=2), datetime.min.time(), UTC)
DAY_S = int(DAY.timestamp())


@pytest.mark.parametrize(("start", "end"), [
    (DAY.strftime("%Y-%m-%dT%H:%MZ"), f"{(DAY_S + 86_400) * 1000}ms"),
    (f"{DAY_S}s", (DAY + timedelta(days=1)).astimezone(timezone(timedelta(hours=1))).isoformat()),
])
def test_backfill_then_export_candles_with_iso_and_epoch_times(cli: Cli, emulator_url: str, tmp_path: Path,
                                                               start: str, end: str) -> None:
    # Arrange: one day of 1m mark candles (written two ways)
    data_dir = tmp_path / "data"
    log = tmp_path / "platform.log"
    backfill = cli("data", "backfill", "--network", "local", "--emulator-url", emulator_url, "--instrument",
                   "BTC-PERPETUAL", "--from", start, "--to", end, "--data-dir", str(data_dir), "--json",
                   "--log-file", str(log))
    assert backfill.returncode == 0, backfill.stderr
    summary = json.loads(backfill.stdout)
    assert summary["rows_added"] == 1440 and summary["store"] == f"embedded {data_dir / 'store.duckdb'}"
    assert "backfill mark BTC-PERPETUAL: chunks 1" in log.read_text()  # the summary, in the log file too
    out = tmp_path / "candles.csv"
    # Act: the first hour, as ISO 8601 and as epoch seconds
    exported = cli("data", "export", "--kind", "candles_1m", "--instrument", "BTC-PERPETUAL", "--from",
                   DAY.strftime("%Y-%m-%dT%H:%M:%SZ"), "--to", f"{DAY_S + 3600}s", "--out", str(out),
                   "--data-dir", str(data_dir))
    # Assert
    no_traceback(exported)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 60 and rows[0]["ts_ns"] == str(DAY_S * 10**9)
    assert all(float(r["low"]) <= float(r["close"]) <= float(r["high"]) for r in rows)


def test_a_time_without_unit_or_in_the_wrong_unit_is_refused(cli: Cli, tmp_path: Path) -> None:
    result = cli("data", "export", "--kind", "trades", "--from", "1732752000000", "--out", str(tmp_path / "x.csv"))
    no_traceback(result)
    assert result.returncode == 2 and "argument --from" in result.stderr
    assert "read as ns is 1970-01-01" in result.stderr and "not between 1990 and 2200" in result.stderr
    assert not cli.default_data_dir.exists()
