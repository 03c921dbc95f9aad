"""Where a study lives: in memory (default), a journal file, or an SQL database (RDB URL).

* no ``--storage``: in memory, gone when the sweep ends;
* ``journal:PATH`` or a path ending in ``.journal``/``.log``: an append-only journal file (no server needed;
  a killed sweep resumes from it);
* ``sqlite:///PATH``, ``postgresql://…``: Optuna's RDB storage (SQLAlchemy; PostgreSQL through psycopg 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

__all__ = ["StorageUrlError", "open_storage", "shown"]

JOURNAL_PREFIX: Final = "journal:"
JOURNAL_SUFFIXES: Final = (".journal", ".log")
RDB_SCHEMES: Final = ("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")


class StorageUrlError(ValueError):
    """A ``--storage`` value that names no storage this sweep can use."""


def shown(url: str | None) -> str:
    """The storage as it may be printed: no password."""
    if url is None:
        return "memory"
    from thalex_modular.platform.adapters.storage.dsn import redact_dsn

    return redact_dsn(url) if "://" in url else url


def open_storage(url: str | None) -> Any:
    """The Optuna storage of ``url`` (None: in memory).

    Raises:
        StorageUrlError: an unknown form (the message lists the accepted ones).
    """
    import optuna

    if url is None:
        return optuna.storages.InMemoryStorage()
    if url.startswith(JOURNAL_PREFIX) or (url.endswith(JOURNAL_SUFFIXES) and "://" not in url):
        path = Path(url.removeprefix(JOURNAL_PREFIX)).expanduser()
        if not path.parent.is_dir():
            raise StorageUrlError(f"invalid `--storage`: the journal's folder {path.parent} does not exist")
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if url.startswith(RDB_SCHEMES):
        rdb = url
        for scheme in ("postgresql://", "postgres://"):
            if url.startswith(scheme):
                rdb = "postgresql+psycopg://" + url[len(scheme):]
        return optuna.storages.RDBStorage(rdb, heartbeat_interval=None)
    raise StorageUrlError(
        f"invalid `--storage`: expected journal:PATH (or a PATH ending in .journal/.log), sqlite:///PATH or "
        f"postgresql://…, was {shown(url)!r}"
    )
