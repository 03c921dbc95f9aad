"""Issue 19 item 6: a venue that does not answer is named with the cause and the retry policy within seconds (before:
`run` took 31 s and gave an empty reason; `record` and `backfill` printed `TimeoutError: ` after 10.8 s, no URL).

The subprocess timeout (15 s, startup included) is the bound: the old behaviour could not pass it."""

from __future__ import annotations

import pytest
from cli_kit import UNREACHABLE_URL, Cli, no_traceback

VERBS = {
    "run": ["run", "--mode", "shadow", "--network", "local", "--instrument", "BTC-PERPETUAL", "--duration-s", "5"],
    "record": ["data", "record", "--network", "local", "--instruments", "BTC-PERPETUAL", "--duration-s", "5"],
    "backfill": ["data", "backfill", "--network", "local", "--instrument", "BTC-PERPETUAL", "--from", "2024-11-28",
                 "--to", "2024-11-29"],
    "instruments": ["instruments", "--network", "local"],
}


@pytest.mark.parametrize("verb", list(VERBS))
def test_an_unreachable_venue_is_named_with_cause_and_retry_policy(cli: Cli, verb: str) -> None:
    # Act
    result = cli(*VERBS[verb], "--emulator-url", UNREACHABLE_URL, timeout_s=15)
    # Assert: exit 1, URL, cause, what is retried; nothing stored or spilled
    no_traceback(result)
    assert result.returncode == 1, result.stderr
    assert f"cannot reach {UNREACHABLE_URL}: connection refused by 127.0.0.1:1" in result.stderr
    assert "checked once at start, not retried" in result.stderr and "doubling up to" in result.stderr
    assert not cli.default_data_dir.exists()
