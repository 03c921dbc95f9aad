"""Showing a PostgreSQL DSN without its secrets.

A DSN can carry a password in three places: the userinfo (``postgresql://user:secret@host/db``), a query parameter
(``?password=secret``, ``?sslpassword=secret``) or, in libpq's keyword form, ``password=secret``. Every place that
shows a DSN (errors, logs, progress lines) goes through :func:`redact_dsn`; text that may quote a DSN's parts (a
driver's error message) goes through :func:`scrub`, which removes each secret value wherever it appears.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

#: Query / keyword parameters whose value is a secret (libpq's names, and anything that says password or token).
_SECRET_PARAM: Final = re.compile(r"pass|secret|token|key$", re.IGNORECASE)
_KEYWORD_PAIR: Final = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
_MASK: Final = "***"


def _is_secret(name: str) -> bool:
    """``sslkey`` and ``passfile`` name files, not secrets, but hiding a path costs nothing."""
    return bool(_SECRET_PARAM.search(name))


def redact_dsn(dsn: str) -> str:
    """The DSN with every secret part dropped: the password of the userinfo and every secret parameter.

    ``postgresql://me:pw@db:5432/x?password=pw&sslmode=require`` → ``postgresql://me@db:5432/x?sslmode=require``.
    A DSN that cannot be parsed is not shown at all (its text may hold a secret anywhere).
    """
    if "://" not in dsn:
        return _redact_keywords(dsn)
    try:
        parts = urlsplit(dsn)
        parts.port  # noqa: B018 - raises ValueError on a malformed port, which a printable DSN must not have
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_secret(k)]
    except ValueError:
        return f"{dsn.split('://', 1)[0]}://<unparsable DSN, not shown>"
    netloc = parts.netloc.rsplit("@", 1)
    host = netloc[-1]
    user = netloc[0].split(":", 1)[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit((parts.scheme, user + host, parts.path, urlencode(query), ""))


def _redact_keywords(dsn: str) -> str:
    kept = _KEYWORD_PAIR.sub(lambda m: "" if _is_secret(m.group(1)) else m.group(0), dsn)
    return " ".join(kept.split())


def secrets_of(dsn: str) -> list[str]:
    """The secret values a DSN holds (raw and percent-decoded), longest first; for :func:`scrub`."""
    found: set[str] = set()
    if "://" in dsn:
        rest = dsn.split("://", 1)[1]
        authority, query = re.split(r"[/?]", rest, maxsplit=1)[0], rest.partition("?")[2]
        # asyncpg splits the userinfo at the first "@", a URL parser at the last: a password holding "@" counts both
        for userinfo in {authority.partition("@")[0], authority.rpartition("@")[0]}:
            if "@" in authority and ":" in userinfo:
                found.add(userinfo.split(":", 1)[1])
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            if _is_secret(name):
                found.add(value)
    else:
        found |= {m.group(2).strip("'") for m in _KEYWORD_PAIR.finditer(dsn) if _is_secret(m.group(1))}
    found |= {unquote(s) for s in found}
    return sorted((s for s in found if s), key=len, reverse=True)


def scrub(text: str, dsn: str) -> str:
    """``text`` with every secret of ``dsn`` replaced by ``***`` (for a driver's error text, which may quote it)."""
    for secret in secrets_of(dsn):
        text = text.replace(secret, _MASK)
    return text
