"""Fixtures: every storage test runs against both adapters (embedded DuckDB and real PostgreSQL).

PostgreSQL tests use a fresh schema per test (``t_<session>_<n>``), dropped afterwards, so runs never collide; what
is database-wide (extensions) gets a fresh database of the same name, and a role without privileges a fresh role.
They are skipped, with the reason, only when the server at 127.0.0.1:5432 is unreachable.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # storage_kit importable from this directory's tests

from storage_kit import PG_DSN, Backend, Store, StoreFactory

_SESSION = uuid.uuid4().hex[:8]
_counter = itertools.count()
_pg_reachable: list[bool] = []



def pg_execute(sql: str) -> None:
    """Run one statement on the test server from synchronous code (fixture setup/teardown)."""

    async def run() -> None:
        conn = await asyncpg.connect(PG_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def pg_reachable() -> bool:
    if not _pg_reachable:
        try:
            pg_execute("SELECT 1")
            _pg_reachable.append(True)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            _pg_reachable.append(False)
    return _pg_reachable[0]


def _fresh(prefix: str, create: str, drop: str) -> Iterator[str]:
    """Create a uniquely named server object (``{name}`` in ``create``/``drop``), yield its name, drop it after."""
    if not pg_reachable():
        pytest.skip(f"PostgreSQL at {PG_DSN} is unreachable")
    name = f"{prefix}_{_SESSION}_{next(_counter)}"
    pg_execute(create.format(name=name))
    yield name
    pg_execute(drop.format(name=name))


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, existing schema on the test server; dropped at teardown."""
    yield from _fresh("t", "CREATE SCHEMA {name}", "DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh database on the test server (for what is database-wide, e.g. extensions); its DSN. Dropped after."""
    for name in _fresh("t", "CREATE DATABASE {name}", "DROP DATABASE IF EXISTS {name} WITH (FORCE)"):
        yield f"{PG_DSN.rsplit('/', 1)[0]}/{name}"


@pytest.fixture
def pg_role() -> Iterator[str]:
    """A fresh login role without any privilege beyond PUBLIC's (no superuser); dropped after."""
    yield from _fresh("r", "CREATE ROLE {name} LOGIN", "DROP OWNED BY {name} CASCADE; DROP ROLE IF EXISTS {name}")


@pytest.fixture(params=["embedded", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "postgres":
        return Backend("postgres", tmp_path / "unused", request.getfixturevalue("pg_schema"))
    return Backend("embedded", tmp_path / "store" / "store.duckdb")


@pytest.fixture
async def store_factory(backend: Backend) -> AsyncIterator[StoreFactory]:
    """Makes opened stores sharing the backend's location; closes them at teardown."""
    opened: list[Store] = []

    async def make() -> Store:
        store = backend.make()
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    return await store_factory()
