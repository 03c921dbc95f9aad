"""Choose and open a store: PostgreSQL when a DSN is given (or ``THALEX_DB_DSN`` is set), else the embedded one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import platformdirs

from .embedded import STORE_FILE_NAME, EmbeddedStorage
from .postgres import PostgresStorage

DSN_ENV: Final = "THALEX_DB_DSN"
APP_NAME: Final = "thalex-modular"


def default_data_dir() -> Path:
    """The user's data directory for this app (``platformdirs.user_data_dir("thalex-modular")``)."""
    return Path(platformdirs.user_data_dir(APP_NAME))


EMBEDDED_SCHEME: Final = "duckdb://"


def is_dsn(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def make_storage(
    target: str | Path | None = None,
    *,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    embedded_memory_limit_mb: int | None = None,
) -> PostgresStorage | EmbeddedStorage:
    """Build (not open) a store.

    Args:
        target: a ``postgresql://`` DSN, or a path to an embedded store file (plain or ``duckdb:///path``), or None.
        data_dir: directory of the embedded store when ``target`` is None (default: :func:`default_data_dir`).
        env: where to look up ``THALEX_DB_DSN`` when ``target`` is None (default: ``os.environ``).
        embedded_memory_limit_mb: the embedded store's DuckDB memory limit (None: DuckDB's default).
    """
    if target is None:
        target = (os.environ if env is None else env).get(DSN_ENV) or None
    if isinstance(target, str) and is_dsn(target):
        return PostgresStorage(target)
    if isinstance(target, str) and target.startswith(EMBEDDED_SCHEME):
        target = target[len(EMBEDDED_SCHEME):]
    if target is not None:
        return EmbeddedStorage(Path(target), embedded_memory_limit_mb)
    return EmbeddedStorage((data_dir or default_data_dir()) / STORE_FILE_NAME, embedded_memory_limit_mb)


async def open_storage(
    target: str | Path | None = None,
    *,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> PostgresStorage | EmbeddedStorage:
    """:func:`make_storage` then ``open()`` (connect and migrate)."""
    storage = make_storage(target, data_dir=data_dir, env=env)
    await storage.open()
    return storage
