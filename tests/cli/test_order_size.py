"""Issue 19 item 4: a quote size the instrument cannot take is refused at start with the instrument's minimum in the
message (before: an option quoted 0.01 under a 0.1 minimum, status `quoting=yes`, no order ever), or raised to the
minimum when the config says so."""

from __future__ import annotations

import json
from pathlib import Path

from cli_kit import Cli, no_traceback


def an_option(cli: Cli, url: str) -> dict[str, str]:
    listed = cli("instruments", "--network", "local", "--emulator-url", url, "--kind", "option", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)["instruments"][0]  # type: ignore[no-any-return]


def test_levels_below_the_minimum_are_refused_at_start(cli: Cli, emulator_url: str) -> None:
    # Arrange: the default levels (0.01, 0.02, 0.03) on an option whose minimum is larger
    option = an_option(cli, emulator_url)
    assert float(option["min_order_amount"]) > 0.03
    # Act
    result = cli("run", "--mode", "shadow", "--network", "local", "--emulator-url", emulator_url,
                 "--instrument", option["name"], "--duration-s", "30")
    # Assert: exit 2 before quoting, naming the field, the value and the instrument's minimum
    no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert f"{option['name']}: min_order_amount is {option['min_order_amount']}" in result.stderr
    assert "strategy.level_amounts_underlying[0] = 0.01" in result.stderr
    assert "round_up_to_min_amount" in result.stderr and "quoting" not in result.stderr


def test_levels_are_raised_to_the_minimum_when_the_config_says_so(cli: Cli, emulator_url: str, tmp_path: Path) -> None:
    # Arrange
    option = an_option(cli, emulator_url)
    config = tmp_path / "run.yaml"
    config.write_text("strategy:\n  round_up_to_min_amount: true\nstatus_interval_s: 0.5\n")
    # Act
    result = cli("run", "--mode", "shadow", "--network", "local", "--emulator-url", emulator_url,
                 "--instrument", option["name"], "--duration-s", "2", "--config", str(config), timeout_s=120)
    # Assert: it runs, and says what it assumed
    assert result.returncode == 0, result.stderr
    assert f"raised to the instrument's min_order_amount {option['min_order_amount']}" in result.stderr
    assert "platform run: stopped;" in result.stderr


def test_an_instrument_the_venue_does_not_list_is_refused_at_start(cli: Cli, emulator_url: str) -> None:
    result = cli("run", "--mode", "shadow", "--network", "local", "--emulator-url", emulator_url,
                 "--instrument", "BTC-PERPETUAL-TYPO", "--duration-s", "30")
    no_traceback(result)
    assert result.returncode == 2 and "not listed on" in result.stderr and "BTC-PERPETUAL-TYPO" in result.stderr
    assert "BTC-PERPETUAL" in result.stderr.split("perpetuals listed:")[1]
