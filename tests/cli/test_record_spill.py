"""Issue 19 items 2 and 10: a spill folder belongs to one store; `data record` says where the data went (store without
secrets, spill folder) at start and in its summary, and how many records are only spilled."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from cli_kit import Cli, no_traceback

UNREACHABLE_DSN = "postgresql://me:s3cret-pw@127.0.0.1:1/market?password=s3cret-q"


def record(cli: Cli, url: str, *store: str, seconds: str = "1.5") -> list[str]:
    return ["data", "record", "--network", "local", "--emulator-url", url, "--instruments", "BTC-PERPETUAL",
            "--duration-s", seconds, *store]


def spill_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.spill")}


def test_records_only_spilled_are_reported_and_stay_with_their_store(cli: Cli, emulator_url: str) -> None:
    # Arrange / Act: a PostgreSQL store that does not answer: everything goes to its spill folder
    down = cli(*record(cli, emulator_url, "--db", UNREACHABLE_DSN, "--json"))

    # Assert: the start line and the summary name the store (no secret) and the spill folder; JSON says how many
    # records are only spilled
    no_traceback(down)
    assert down.returncode == 0, down.stderr
    assert "s3cret" not in down.stdout + down.stderr
    assert "into postgresql://me@127.0.0.1:1/market" in down.stderr
    summary = json.loads(down.stdout)
    spill_dir = Path(summary["spill_dir"])
    assert summary["store"] == "postgresql://me@127.0.0.1:1/market"
    assert summary["only_spilled"] == summary["quotes"] + summary["trades"] > 0 and summary["written"] == 0
    assert spill_dir.parent == cli.default_data_dir / "record-spill"
    assert (spill_dir / "STORE").read_text().strip() == summary["store"]
    kept = spill_files(spill_dir)
    assert kept

    # Act: the next recorder writes to another store (the embedded default) with the default spill location
    other = cli(*record(cli, emulator_url))

    # Assert: it has a spill folder of its own; the first store's spill is untouched; the embedded store holds only
    # what this run recorded (before: the other store's quotes were replayed into it)
    assert other.returncode == 0, other.stderr
    assert f"into embedded {cli.default_data_dir / 'store.duckdb'}" in other.stdout
    assert "only in the spill folder" not in other.stdout
    assert spill_files(spill_dir) == kept
    recorded = next(line for line in other.stdout.splitlines() if line.startswith("recorded ")).split()
    with duckdb.connect(str(cli.default_data_dir / "store.duckdb"), read_only=True) as con:
        quotes = con.execute("SELECT count(*) FROM quotes").fetchall()[0][0]
    assert quotes == int(recorded[1])


def test_a_spill_folder_of_another_store_is_refused(cli: Cli, emulator_url: str, tmp_path: Path) -> None:
    # Arrange: a spill folder filled for the unreachable PostgreSQL store
    spill = tmp_path / "spill"
    down = cli(*record(cli, emulator_url, "--db", UNREACHABLE_DSN, "--spill-dir", str(spill), seconds="1"))
    assert down.returncode == 0, down.stderr
    assert f"{spill}" in down.stdout and "only in the spill folder" in down.stdout
    kept = spill_files(spill)
    store = tmp_path / "embedded" / "store.duckdb"

    # Act: a recorder of another store is pointed at it
    refused = cli(*record(cli, emulator_url, "--data-dir", str(store.parent), "--spill-dir", str(spill)))

    # Assert: exit 2 naming the owner (without secrets); nothing replayed, no store created
    no_traceback(refused)
    assert refused.returncode == 2, refused.stderr
    assert "holds the spill of another store (postgresql://me@127.0.0.1:1/market)" in refused.stderr
    assert "s3cret" not in refused.stderr
    assert spill_files(spill) == kept and not store.exists()
