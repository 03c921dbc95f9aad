"""Issue 13 item 11: a DSN's secrets never reach an error, a log line or the terminal.

Before, ``_redact`` dropped ``user:pass@`` but not ``?password=…``: ``data record`` printed the password on stderr
and the write buffer logged it. Each place a DSN is shown is tried here with secrets in every position.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from storage_kit import PG_DSN, random_trades
from test_outage import started_buffer, wait_for
from test_tardis_cli import cli

from thalex_modular.platform.adapters.storage import PostgresStorage
from thalex_modular.platform.adapters.storage.dsn import redact_dsn, scrub
from thalex_modular.platform.adapters.storage.faults import TcpProxy
from thalex_modular.platform.domain.storage import StorageError, StorageUnavailable

SECRETS = ("pw-in-userinfo", "pw-in-query", "sslpw-in-query")
SERVER = PG_DSN.rsplit("/", 1)[0].split("@", 1)[1]  # host:port of the test server


def dsn(host_port: str = SERVER, database: str = "test") -> str:
    """A DSN holding a secret in the userinfo and in two query parameters (the test server trusts us anyway)."""
    return (f"postgresql://postgres:{SECRETS[0]}@{host_port}/{database}"
            f"?password={SECRETS[1]}&sslpassword={SECRETS[2]}&application_name=t13")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} shown in: {text}"


@pytest.mark.parametrize(("raw", "shown"), [
    ("postgresql://me:pw@db:5432/x?password=pw2&sslmode=require", "postgresql://me@db:5432/x?sslmode=require"),
    ("postgres://me:p%40ss@db/x", "postgres://me@db/x"),
    ("postgresql://me:pa@ss@db/x", "postgresql://me@db/x"),  # an unencoded "@" in the password
    ("postgresql://db/x?PassWord=pw&sslpassword=k&search_path=s", "postgresql://db/x?search_path=s"),
    ("postgresql://me:pw@db:notaport/x", "postgresql://<unparsable DSN, not shown>"),
    ("host=db user=me password='p w' dbname=x", "host=db user=me dbname=x"),
])
def test_every_secret_part_is_dropped(raw: str, shown: str) -> None:
    assert redact_dsn(raw) == shown
    assert scrub(f"failed: {raw}", raw).count("***") >= 1


async def test_open_errors_show_no_secret() -> None:
    # unreachable (a closed port), refused (no such database), unparsable (a bad port)
    for target, kind in ((dsn("127.0.0.1:1"), StorageUnavailable), (dsn(database="no_such_db_t13"), StorageError),
                         (dsn("127.0.0.1:notaport"), StorageError)):
        store = PostgresStorage(target, timeout_s=2.0)
        with pytest.raises(kind) as caught:
            await store.open()
        assert_no_secret(str(caught.value) + repr(caught.value) + repr(store) + store.location)


async def test_errors_of_an_open_store_show_no_secret(pg_schema: str) -> None:
    # Arrange: an open store whose connection is then cut (a proxy)
    proxy = TcpProxy(int(SERVER.rsplit(":", 1)[1]))
    await proxy.open()
    store = PostgresStorage(dsn(f"127.0.0.1:{proxy.port}"), schema_name=pg_schema, timeout_s=2.0)
    await store.open()
    await proxy.close()
    # Act / Assert
    with pytest.raises(StorageUnavailable) as caught:
        await store.write(random_trades(10))
    assert_no_secret(str(caught.value))
    await store.close()


async def test_the_write_buffer_log_shows_no_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    buffer = started_buffer(PostgresStorage(dsn("127.0.0.1:1"), timeout_s=1.0), tmp_path)
    for t in random_trades(10):
        buffer.append(t)
    await wait_for(lambda: buffer.spilled == 10)
    await buffer.stop()
    assert "storage unavailable" in caplog.text
    assert_no_secret(caplog.text)


@pytest.mark.parametrize("verb", ["import", "export", "backfill"])
async def test_data_verbs_refused_by_the_store_show_no_secret(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "t.csv"
    source.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
    argv = {
        "import": ["data", "import", "--kind", "trades", str(source)],
        "export": ["data", "export", "--kind", "trades", "--out", str(tmp_path / "out.csv")],
        "backfill": ["data", "backfill", "--network", "local", "--emulator-url", "ws://127.0.0.1:1/ws/api/v2",
                     "--instrument", "BTC-PERPETUAL", "--from", "2024-11-28", "--to", "2024-11-29"],
    }[verb]
    code = await cli([*argv, "--db", dsn(database="no_such_db_t13")])
    captured = capsys.readouterr()
    if verb == "backfill":  # the venue is probed first: its refusal ends the run before the store is opened
        assert code == 1 and "cannot reach ws://127.0.0.1:1/ws/api/v2" in captured.err
    else:
        assert code == 2 and "no_such_db_t13" in captured.err
    assert_no_secret(captured.out + captured.err + caplog.text)
