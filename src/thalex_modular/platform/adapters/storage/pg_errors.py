"""asyncpg's errors → the port's two kinds: :class:`StorageUnavailable` (retry later: an outage) and
:class:`StorageError` (a retry of the same thing fails the same way).

Transient, besides lost connections: a full disk or memory on the server (SQLSTATE class 53), a statement timeout or
an administrator's cancel (57014), a server shutting down or starting (57P01-57P03), a deadlock or serialization
failure (40P01, 40001), a lock timeout (55P03), a server that turned read-only after a failover (25006) and I/O
errors (58). A writer retries these (or spills and replays); a permanent error refuses that one batch only.
"""

from __future__ import annotations

import asyncio
from typing import Final

import asyncpg  # type: ignore[import-untyped]

from thalex_modular.platform.domain.storage import StorageError, StorageUnavailable

from .dsn import redact_dsn, scrub

#: SQLSTATE classes whose every code is transient.
TRANSIENT_CLASSES: Final = frozenset({"08", "53", "58"})
#: Single transient SQLSTATEs.
TRANSIENT_CODES: Final = frozenset({
    "57014",  # query_canceled (statement_timeout, pg_cancel_backend)
    "57P01", "57P02", "57P03", "57P05",  # admin / crash shutdown, cannot connect now, idle session timeout
    "40001", "40P01", "40003",  # serialization failure, deadlock, statement completion unknown
    "55P03", "55006",  # lock not available (lock_timeout), object in use
    "25006", "25P03",  # read-only transaction (after a failover), idle-in-transaction timeout
})
#: Client-side errors that mean the connection is gone or busy (not a bad batch, not a bad configuration).
_CLIENT_UNAVAILABLE: Final = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.InternalClientError,
)
#: Client-side errors a retry cannot fix: a value the driver cannot encode, a bad connection setting.
_CLIENT_PERMANENT: Final = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.ClientConfigurationError,
    asyncpg.exceptions.UnsupportedClientFeatureError,
    asyncpg.exceptions.UnsupportedServerFeatureError,
    OverflowError,
    TypeError,
    ValueError,
)


def is_transient(sqlstate: str | None) -> bool:
    """Whether a server error with this SQLSTATE may succeed when retried later."""
    return sqlstate is not None and (sqlstate[:2] in TRANSIENT_CLASSES or sqlstate in TRANSIENT_CODES)


def storage_error(exc: BaseException, dsn: str, what: str) -> StorageError | None:
    """The port's error for ``exc`` raised while doing ``what`` on the server at ``dsn`` (shown redacted), or None
    when ``exc`` is none of the driver's (a bug: let it through)."""
    where = f"PostgreSQL at {redact_dsn(dsn)}"
    text = scrub(repr(exc), dsn)
    if isinstance(exc, asyncpg.PostgresError):
        code = exc.sqlstate
        if is_transient(code):
            return StorageUnavailable(f"{where}: {what}: transient error {code}: {text}")
        return StorageError(f"{where}: {what}: error {code}: {text}")
    if isinstance(exc, _CLIENT_PERMANENT):  # before InterfaceError: DataError is one
        return StorageError(f"{where}: {what}: {text}")
    if isinstance(exc, (*_CLIENT_UNAVAILABLE, asyncpg.exceptions.InterfaceError)):
        return StorageUnavailable(f"{where}: {what}: {text}")
    return None
