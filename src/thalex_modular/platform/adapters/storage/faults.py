"""Real faults for the storage write path, for tests and ``benchmarks/storage_faults.py`` (nothing here is mocked).

* :class:`TcpProxy`: a loopback proxy in front of PostgreSQL that can be cut (every connection dropped, new ones
  refused) and restored on the same port.
* :func:`install_fault_trigger` / :func:`set_fault`: a row trigger on a table that raises a chosen SQLSTATE while a
  fault is set (disk full, statement timeout, deadlock, read-only, ...), or only for rows matching a condition (a
  poison record: a permanent refusal).
* :func:`small_tmpfs`: a size-limited tmpfs mounted for the duration (needs root; None otherwise), for a real
  "No space left on device".
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

__all__ = ["TcpProxy", "install_fault_trigger", "set_fault", "small_tmpfs"]


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:``upstream_port`` until closed; can be reopened on the same port."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Drop every connection and refuse new ones."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def install_fault_trigger(conn: asyncpg.Connection, table: str = "trades") -> None:
    """A BEFORE INSERT row trigger on ``table`` (in ``conn``'s schema) raising the SQLSTATE in ``_fault.code`` for
    rows matching ``_fault.condition`` (a SQL expression over ``NEW``; empty = every row), while a row is there."""
    await conn.execute("CREATE TABLE IF NOT EXISTS _fault (code TEXT NOT NULL, condition TEXT NOT NULL)")
    await conn.execute(
        """CREATE OR REPLACE FUNCTION _fault_raise() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f RECORD; hit BOOLEAN;
        BEGIN
            FOR f IN SELECT code, condition FROM _fault LOOP
                hit := f.condition = '';
                IF NOT hit THEN EXECUTE 'SELECT ' || f.condition USING NEW INTO hit; END IF;
                IF hit THEN RAISE EXCEPTION 'injected fault %', f.code USING ERRCODE = f.code; END IF;
            END LOOP;
            RETURN NEW;
        END $$"""
    )
    await conn.execute(f"DROP TRIGGER IF EXISTS _fault_t ON {table}")
    await conn.execute(f"CREATE TRIGGER _fault_t BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION _fault_raise()")


async def set_fault(conn: asyncpg.Connection, code: str | None, condition: str = "") -> None:
    """Make inserts fail with SQLSTATE ``code`` (for rows where ``condition`` holds, written with ``$1`` for the
    row, e.g. ``$1.price < 0``); None clears every fault."""
    await conn.execute("DELETE FROM _fault")
    if code is not None:
        await conn.execute("INSERT INTO _fault VALUES ($1, $2)", code, condition)


@contextlib.contextmanager
def small_tmpfs(mount_point: Path, size_bytes: int) -> Iterator[Path | None]:
    """Mount a tmpfs of ``size_bytes`` at ``mount_point`` (created) for the block; yields None when mounting is
    not permitted (not root), so the caller can skip or fall back to a size cap."""
    mount_point.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(mount_point)],
                       check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        yield None
        return
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True, timeout=10)
