"""The API's bearer token: where it comes from, the file ``platform deploy`` creates for it, and the check.

Order: the config's ``api.token`` → ``THALEX_API_TOKEN`` → the token file (``api.token_file``, default ``api_token``
next to the deployment's state file). ``platform deploy`` resolves it once and makes sure the token file holds it
(created with mode 0600, a fresh random token when none is configured); the API replica reads only that file, so the
token is never an actor argument (Ray keeps those in its GCS), a flag, a log line or printed output.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from thalex_modular.deployment.config import ApiSettings

__all__ = ["ENV_API_TOKEN", "TokenError", "bearer_matches", "ensure_token_file", "is_loopback", "read_token",
           "token_file"]

ENV_API_TOKEN: Final = "THALEX_API_TOKEN"
_TOKEN_BYTES: Final = 32


class TokenError(ValueError):
    """The token file is unusable (the message names it and why; never the token)."""


def token_file(settings: ApiSettings, state_dir: Path) -> Path:
    """Where the token lives: ``api.token_file``, else ``api_token`` in the deployment's state directory."""
    return settings.token_file if settings.token_file is not None else state_dir / "api_token"


def ensure_token_file(settings: ApiSettings, environ: Mapping[str, str], path: Path) -> Path:
    """Make ``path`` hold the API token (mode 0600) and return it: the configured token, else ``THALEX_API_TOKEN``,
    else the file's own token when it has one, else a new random one.

    Raises:
        TokenError: the file cannot be written, or exists with a mode that lets others read it.
    """
    configured = settings.token.get_secret_value() if settings.token is not None else environ.get(ENV_API_TOKEN)
    if not configured and path.exists():
        read_token(path)  # checks its mode and that it holds a token
        return path
    token = configured or secrets.token_urlsafe(_TOKEN_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise TokenError(f"API token file {path}: {exc.strerror or exc}") from None
    return path


def read_token(path: Path) -> str:
    """The token in ``path``.

    Raises:
        TokenError: missing, empty, or readable by others than its owner.
    """
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text().strip()
    except OSError as exc:
        raise TokenError(f"API token file {path}: {exc.strerror or exc}") from None
    if mode & 0o077:
        raise TokenError(f"API token file {path} has mode {mode:o}; it must be readable by its owner only (0600)")
    if not text:
        raise TokenError(f"API token file {path} is empty")
    return text


def bearer_matches(authorization: str | None, token: str) -> bool:
    """True when the ``Authorization`` header is ``Bearer <token>`` (compared in constant time)."""
    if authorization is None:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    return host == "localhost" or host == "::1" or host.startswith("127.")
