"""Storage adapters: PostgreSQL/TimescaleDB (asyncpg) and the embedded DuckDB default."""

from .buffer import WriteBuffer
from .embedded import EmbeddedStorage
from .factory import DSN_ENV, default_data_dir, make_storage, open_storage
from .postgres import PostgresStorage

__all__ = [
    "DSN_ENV",
    "EmbeddedStorage",
    "PostgresStorage",
    "WriteBuffer",
    "default_data_dir",
    "make_storage",
    "open_storage",
]
