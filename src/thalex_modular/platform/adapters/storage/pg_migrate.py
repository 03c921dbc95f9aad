"""Applying migrations on PostgreSQL, and choosing the time layout once.

The layout (``timescale`` or ``native``) is chosen when the store is created and recorded in
``storage_meta.time_layout``; every later migration reads it from there and never tries the extension again, so a
store laid out for plain PostgreSQL never gets TimescaleDB installed by a later version. On a fresh store the
extension is tried inside a savepoint: a failed ``CREATE EXTENSION`` (listed but not preloaded, no privilege)
rolls back to it and the store is laid out natively, instead of aborting the whole migration transaction.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Final

import asyncpg  # type: ignore[import-untyped]

from . import schema
from .migrations import Migration, pending

log = logging.getLogger(__name__)
TIMESCALE_EXTENSION: Final = "timescaledb"
_IDENTIFIER: Final = re.compile(r"[a-z_][a-z0-9_]*")


def check_extension_name(name: str) -> str:
    """Refuse an extension name that is not a plain lower-case identifier (it is spliced into DDL)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"invalid `timescale_extension`: must be a lower-case identifier, was {name!r}")
    return name


async def recorded_layout(conn: asyncpg.Connection) -> str | None:
    """``storage_meta.time_layout`` of the current schema, or None on a store not laid out yet."""
    if await conn.fetchval("SELECT to_regclass('storage_meta') IS NULL"):
        return None
    value = await conn.fetchval("SELECT value FROM storage_meta WHERE key = 'time_layout'")
    return None if value is None else str(value)


async def try_extension(conn: asyncpg.Connection, extension: str) -> bool:
    """Create ``extension`` if the server lists it, inside a savepoint; False (native layout) when it fails."""
    listed = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)", extension)
    if not listed:
        return False
    try:
        async with conn.transaction():  # a savepoint: a failure here must not abort the migration transaction
            await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
    except asyncpg.PostgresError as exc:  # not in shared_preload_libraries, no privilege, ...
        log.warning("extension %s is listed but cannot be created (%s): plain PostgreSQL layout", extension, exc)
        return False
    return True


async def apply_pending(conn: asyncpg.Connection, extension: str) -> tuple[list[Migration], str]:
    """Apply every pending migration in one transaction under a per-schema advisory lock.

    Returns:
        the migrations applied now, and the store's layout.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
        await conn.execute(schema.MIGRATIONS_TABLE_SQL)
        applied = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        todo = pending(applied)
        layout = await recorded_layout(conn)
        if layout is None and todo:
            layout = "timescale" if await try_extension(conn, extension) else "native"
        for migration in todo:
            log.info("applying migration %d (%s), %s layout", migration.version, migration.name, layout)
            for statement in migration.postgres(layout == "timescale"):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)",
                migration.version, migration.name, time.time_ns(),
            )
    return todo, await recorded_layout(conn) or ""
