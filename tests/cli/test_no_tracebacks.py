"""Issue 19 item 7: mistakes end in one message and exit 2, never a traceback (only with --debug)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cli_kit import Cli, no_traceback


@pytest.mark.parametrize("url", ["http://127.0.0.1:8490/ws/api/v2", "not-a-url", "ws://:80/x"])
def test_a_bad_emulator_url_is_a_usage_error(cli: Cli, url: str) -> None:
    result = cli("run", "--mode", "shadow", "--network", "local", "--emulator-url", url, "--duration-s", "1")
    no_traceback(result)
    assert result.returncode == 2
    assert "connection.emulator_url" in result.stderr and "expected ws://HOST:PORT/PATH" in result.stderr
    assert repr(url) in result.stderr


def test_an_emulator_port_in_use_is_named(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("emulator", "--port", str(port))
    no_traceback(result)
    assert result.returncode == 2 and f"port {port} on 127.0.0.1 is already in use" in result.stderr


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.yaml", "speed: [1\nseed: 2\n", "invalid YAML"),
    ("bad.toml", "speed = \n", "invalid TOML"),
    ("bad.ini", "speed=1\n", "unknown extension '.ini'"),
    ("ok.yaml", "speed: -1\n", "speed: Input should be greater than 0 (was -1)"),
])
def test_a_bad_emulator_config_is_named(cli: Cli, tmp_path: Path, name: str, text: str, message: str) -> None:
    config = tmp_path / name
    config.write_text(text)
    result = cli("emulator", "--config", str(config))
    no_traceback(result)
    assert result.returncode == 2 and message in result.stderr
    assert f"config file {config}" in result.stderr or name == "ok.yaml"  # a bad value names its field instead


@pytest.mark.parametrize(("flag", "value"), [("--sigma-annual", "nan"), ("--sigma-annual", "inf"),
                                             ("--sigma-annual", "-1"), ("--seed", "-1")])
def test_demo_refuses_values_it_cannot_simulate(cli: Cli, flag: str, value: str) -> None:
    result = cli("demo", "--events", "100", flag, value)
    no_traceback(result)
    assert result.returncode == 2 and f"invalid `{flag}`" in result.stderr and value in result.stderr


def test_export_out_into_a_missing_folder_or_onto_a_folder_is_refused(cli: Cli, tmp_path: Path) -> None:
    # Arrange: a store holding something
    source = tmp_path / "t.csv"
    source.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
                      "deribit,BTC-PERPETUAL,1700000000000000,1700000000000100,t1,buy,37000.5,0.1\n")
    assert cli("data", "import", "--kind", "trades", str(source)).returncode == 0
    # Act
    missing = cli("data", "export", "--kind", "trades", "--out", str(tmp_path / "nope" / "t.csv"))
    folder = cli("data", "export", "--kind", "trades", "--out", str(tmp_path))
    # Assert
    for result in (missing, folder):
        no_traceback(result)
        assert result.returncode == 2
    assert f"the folder {tmp_path / 'nope'} does not exist" in missing.stderr
    assert f"{tmp_path} is a directory" in folder.stderr
    assert not (tmp_path / "nope").exists()


def test_debug_shows_the_traceback(cli: Cli) -> None:
    result = cli("demo", "--seed", "-1", "--debug")
    assert result.returncode == 2 and "Traceback" in result.stderr and "invalid `--seed`" in result.stderr
