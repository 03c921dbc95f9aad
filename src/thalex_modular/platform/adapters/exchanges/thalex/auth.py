"""Login credentials and the ``public/login`` token: an RS512 JWT with the key id in the ``kid`` header and the
issue time in the ``iat`` claim (Unix seconds), signed with the API key's RSA private key (DIGEST 2).

The private key is read from a PEM file and never logged: ``repr``/``str`` of :class:`ThalexCredentials` redact it,
and errors name the path, never the content.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .errors import CredentialsError

__all__ = ["ENV_ACCOUNT", "ENV_KEY_ID", "ENV_PRIVATE_KEY_PATH", "ThalexCredentials", "make_login_token"]

ENV_KEY_ID = "THALEX_KEY_ID"
ENV_PRIVATE_KEY_PATH = "THALEX_PRIVATE_KEY_PATH"
ENV_ACCOUNT = "THALEX_ACCOUNT"


@dataclass(frozen=True, slots=True)
class ThalexCredentials:
    """An API key: its id (``kid``), its RSA private key, and optionally the sub-account to log in to.

    Build it with :meth:`from_pem_file` or :meth:`from_env`; the key is parsed once and checked to be RSA.
    """

    key_id: str
    _private_key: RSAPrivateKey = field(repr=False)
    account: str | None = None

    def __post_init__(self) -> None:
        if not self.key_id:
            raise CredentialsError("invalid `key_id`: must not be empty")

    def __repr__(self) -> str:
        return f"ThalexCredentials(key_id={self.key_id!r}, private_key=<redacted>, account={self.account!r})"

    __str__ = __repr__

    @classmethod
    def from_pem(cls, key_id: str, pem: bytes, account: str | None = None, source: str = "PEM") -> ThalexCredentials:
        """Parse a PEM private key (PKCS#1 ``BEGIN RSA PRIVATE KEY`` as Thalex issues it, or PKCS#8).

        Raises:
            CredentialsError: not a PEM RSA private key (the message names ``source``, not the content).
        """
        try:
            key = load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise CredentialsError(f"invalid `private_key` from {source}: not an unencrypted PEM key ({exc})") from None
        if not isinstance(key, RSAPrivateKey):
            raise CredentialsError(f"invalid `private_key` from {source}: must be RSA, was {type(key).__name__}")
        return cls(key_id, key, account)

    @classmethod
    def from_pem_file(cls, key_id: str, path: Path | str, account: str | None = None) -> ThalexCredentials:
        """Read the private key from ``path``.

        Raises:
            CredentialsError: the file is missing or unreadable, or holds no RSA private key.
        """
        path = Path(path).expanduser()
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise CredentialsError(f"invalid `private_key_path`: cannot read {path} ({exc.strerror})") from None
        return cls.from_pem(key_id, pem, account, source=str(path))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ThalexCredentials:
        """``THALEX_KEY_ID`` + ``THALEX_PRIVATE_KEY_PATH`` (+ optional ``THALEX_ACCOUNT``).

        Raises:
            CredentialsError: a variable is missing (named in the message) or the key file is unusable.
        """
        env = os.environ if environ is None else environ
        missing = [name for name in (ENV_KEY_ID, ENV_PRIVATE_KEY_PATH) if not env.get(name)]
        if missing:
            raise CredentialsError(f"missing credentials: set {' and '.join(missing)} (live trading needs a key)")
        return cls.from_pem_file(env[ENV_KEY_ID], env[ENV_PRIVATE_KEY_PATH], env.get(ENV_ACCOUNT) or None)

    def token(self, iat_s: float) -> str:
        """The login JWT issued at ``iat_s`` (Unix seconds, float like the official client)."""
        return make_login_token(self.key_id, self._private_key, iat_s)


def make_login_token(key_id: str, private_key: RSAPrivateKey, iat_s: float) -> str:
    """RS512 JWT with header ``{"kid": key_id}`` and claims ``{"iat": iat_s}`` (Unix seconds)."""
    return jwt.encode({"iat": iat_s}, private_key, algorithm="RS512", headers={"kid": key_id})
