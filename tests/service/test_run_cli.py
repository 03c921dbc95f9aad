"""`platform run` end to end on the emulator: shadow runs and stops with exit 0; live without a key exits 2."""

from __future__ import annotations

import argparse
import asyncio
import io
import json

from exchange_kit import EmulatorFactory
from thalex_modular.deployment import run_cli
from thalex_modular.deployment.config import load_run_config


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_cli.register(parser.add_subparsers())
    return parser.parse_args(["run", *argv])


async def test_shadow_run_prints_status_and_stops_cleanly(start_emulator: EmulatorFactory) -> None:
    server = await start_emulator(speed=2.0)
    config = load_run_config(None, {}, {"mode": "shadow", "network": "local", "duration_s": 1.5,
                                        "status_interval_s": 0.5, "connection.emulator_url": server.url})
    out = io.StringIO()
    code = await run_cli.run(config, out)
    text = out.getvalue()
    assert code == 0
    assert "[shadow] BTC-PERPETUAL position=" in text and "regime=" in text and "open_quotes=" in text
    assert "stopped" in text and text.rstrip().splitlines()[-1].count("open_quotes=0") == 1


async def test_json_prints_the_final_status_as_one_object(start_emulator: EmulatorFactory) -> None:
    server = await start_emulator(speed=2.0)
    config = load_run_config(None, {}, {"mode": "shadow", "network": "local", "duration_s": 1.0,
                                        "connection.emulator_url": server.url})
    summary = io.StringIO()
    code = await run_cli.run(config, io.StringIO(), summary=summary)
    doc = json.loads(summary.getvalue())
    assert code == 0 and doc["exit_code"] == 0
    assert doc["instrument"] == "BTC-PERPETUAL" and doc["mode"] == "shadow" and doc["open_quotes"] == 0
    assert {"position", "realised_pnl_usd", "fees_usd", "fills"} <= doc.keys()
    assert parse(["--mode", "shadow", "--network", "local", "--json"]).json is True


async def test_stop_event_ends_a_run(start_emulator: EmulatorFactory) -> None:
    server = await start_emulator()
    config = load_run_config(None, {}, {"mode": "shadow", "network": "local", "connection.emulator_url": server.url})
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.8, stop.set)
    assert await run_cli.run(config, io.StringIO(), stop) == 0


async def test_live_without_credentials_is_a_clear_error(start_emulator: EmulatorFactory) -> None:
    server = await start_emulator()
    config = load_run_config(None, {}, {"mode": "live", "network": "local", "connection.emulator_url": server.url})
    out = io.StringIO()
    assert await run_cli.run(config, out) == 2
    assert "THALEX_KEY_ID" in out.getvalue() and "THALEX_PRIVATE_KEY_PATH" in out.getvalue()
    assert all(session.account is None for session in server.sessions)  # never connected to log in


def test_cli_flags_are_parsed() -> None:
    args = parse(["--mode", "shadow", "--network", "local", "--instrument", "ETH-PERPETUAL", "--duration-s", "3"])
    assert (args.mode, args.network, args.instrument, args.duration_s) == ("shadow", "local", "ETH-PERPETUAL", 3.0)
    assert args.handler is run_cli.run_command
