"""Which store a verb writes to or reads from: ``--db``, ``THALEX_DB_DSN`` or ``--data-dir``, checked before use.

Accepted ``--db`` values (and ``THALEX_DB_DSN``):

* ``postgresql://…`` or ``postgres://…``: PostgreSQL;
* ``duckdb:///abs/path/store.duckdb`` (three slashes: an absolute path) or ``duckdb://rel/path.duckdb``: an embedded
  store at that path.

Anything else (a bare word, ``mysql://…``) is refused with exit 2 before anything is created: a typo must not become
a new DuckDB file. Without ``--db`` the embedded store lives in ``--data-dir`` (default: the user's data directory).
A verb that only reads (``export``) asks for an existing store: a misspelt path is an error, not an empty store.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from thalex_modular.platform.adapters.storage.dsn import redact_dsn, scrub
from thalex_modular.platform.adapters.storage.embedded import STORE_FILE_NAME, EmbeddedStorage
from thalex_modular.platform.adapters.storage.factory import DSN_ENV, EMBEDDED_SCHEME, default_data_dir, is_dsn
from thalex_modular.platform.adapters.storage.postgres import PostgresStorage

from .cli_errors import UsageError

__all__ = ["DB_HELP", "StoreTarget", "check_db", "db_arg", "render_dsn", "resolve_store"]

DB_HELP: Final = (f"postgresql://… DSN, or duckdb:///PATH for an embedded store file (default: env {DSN_ENV}; "
                  "else the embedded store in --data-dir)")


def render_dsn(dsn: str) -> str:
    """A DSN as it may be shown: the password and every secret parameter dropped."""
    return redact_dsn(dsn)


def check_db(value: str, source: str = "--db") -> str:
    """``value`` when it is an accepted store target (see the module doc).

    Raises:
        UsageError: naming ``source`` and what is accepted; a DSN is shown without its secrets.
    """
    if is_dsn(value):
        return value
    if value.startswith(EMBEDDED_SCHEME):
        if not value[len(EMBEDDED_SCHEME):].strip():
            raise UsageError(f"invalid `{source}`: {EMBEDDED_SCHEME} needs a path, e.g. duckdb:///tmp/store.duckdb")
        return value
    shown = render_dsn(value) if "://" in value else repr(value)
    raise UsageError(
        f"invalid `{source}`: expected postgresql://… (or postgres://…) or duckdb:///PATH for an embedded store, "
        f"was {shown}"
    )


def db_arg(value: str) -> str:
    """An argparse ``type=`` for ``--db``: a refused value is a usage error (exit 2) naming the flag."""
    try:
        return check_db(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("invalid `--db`: ")) from None


@dataclass(frozen=True, slots=True)
class StoreTarget:
    """A checked store target: a PostgreSQL DSN or an embedded store's file."""

    dsn: str | None
    path: Path | None

    @property
    def shown(self) -> str:
        """Where the data go, without secrets: ``postgresql://me@host/db`` or ``embedded /path/store.duckdb``."""
        return render_dsn(self.dsn) if self.dsn is not None else f"embedded {self.path}"

    @property
    def key(self) -> str:
        """A short stable name of this store (its redacted DSN or absolute path hashed): names its spill folder."""
        identity = render_dsn(self.dsn) if self.dsn is not None else str(Path(str(self.path)).resolve())
        return hashlib.sha256(identity.encode()).hexdigest()[:16]

    def scrub(self, text: str) -> str:
        """``text`` (a driver's error) with every secret of this store's DSN masked."""
        return text if self.dsn is None else scrub(text, self.dsn)

    def make(self) -> PostgresStorage | EmbeddedStorage:
        """The store (not opened)."""
        if self.dsn is not None:
            return PostgresStorage(self.dsn)
        assert self.path is not None
        return EmbeddedStorage(self.path)


def resolve_store(
    db: str | None, data_dir: Path | None, *, must_exist: bool = False, env: Mapping[str, str] | None = None
) -> StoreTarget:
    """The store of ``--db``, else the embedded store in ``data_dir``, else ``THALEX_DB_DSN``, else the embedded
    store in the user's data directory.

    Args:
        must_exist: the verb only reads: an embedded store file that does not exist is an error.

    Raises:
        UsageError: a refused ``--db``/``THALEX_DB_DSN``, ``--db`` together with ``--data-dir``, or (``must_exist``)
            no store at the path.
    """
    environ = os.environ if env is None else env
    source = "--db"
    if db is not None and data_dir is not None:
        raise UsageError("`--data-dir` and `--db` name two stores; give one")
    if db is None and data_dir is None and environ.get(DSN_ENV):  # an explicit --data-dir wins over the env
        db, source = environ[DSN_ENV], DSN_ENV
    if db is not None:
        check_db(db, source)
        if is_dsn(db):
            return StoreTarget(db, None)
        path = Path(db[len(EMBEDDED_SCHEME):]).expanduser()
        if path.is_dir():
            path = path / STORE_FILE_NAME
    else:
        path = (data_dir if data_dir is not None else default_data_dir()) / STORE_FILE_NAME
    if must_exist and not path.is_file():
        flag = "--data-dir" if db is None else source
        raise UsageError(f"no store at {path} (from `{flag}`): nothing to read; check the path")
    return StoreTarget(None, path)
