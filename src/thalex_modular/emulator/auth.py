"""``public/login`` token verification: an RS512 JWT whose ``kid`` header names a registered key and whose
``iat`` claim (Unix seconds, int or float) lies within a tolerance of the emulator's clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from thalex_modular.emulator.keys import ApiKey
from thalex_modular.emulator.protocol import AUTHENTICATION_FAILED, RpcError

__all__ = ["Authenticator", "make_token"]


class Authenticator:
    """Verifies login tokens against ``kid -> ApiKey``.

    Args:
        keys: the registry from :func:`thalex_modular.emulator.keys.load_keys`.
        iat_tolerance_s: accepted |now - iat| in seconds (Thalex does not publish its value; default 60 s).
    """

    def __init__(self, keys: Mapping[str, ApiKey], iat_tolerance_s: float = 60.0) -> None:
        if iat_tolerance_s <= 0:
            raise ValueError(f"invalid `iat_tolerance_s` <= 0, was {iat_tolerance_s}")
        self._keys = dict(keys)
        self._public: dict[str, RSAPublicKey] = {}
        for kid, key in self._keys.items():
            public = load_pem_public_key(key.public_key_pem.encode())
            if not isinstance(public, RSAPublicKey):
                raise ValueError(f"invalid key `{kid}`: public key must be RSA")
            self._public[kid] = public
        self._tolerance_s = iat_tolerance_s

    def revoke(self, kid: str) -> bool:
        """Refuse ``kid`` from now on (a key revoked by its owner); True when it was registered."""
        self._public.pop(kid, None)
        return self._keys.pop(kid, None) is not None

    def verify(self, token: str, now_s: float) -> ApiKey:
        """Return the key that signed ``token``.

        Raises:
            RpcError: code 19 "authentication failed: <reason>".
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise RpcError(AUTHENTICATION_FAILED, f"authentication failed: malformed token ({exc})") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._public:
            raise RpcError(AUTHENTICATION_FAILED, f"authentication failed: unknown kid {kid!r:.40}")
        if header.get("alg") != "RS512":
            raise RpcError(AUTHENTICATION_FAILED, f"authentication failed: alg must be RS512, was {header.get('alg')}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._public[kid], algorithms=["RS512"], options={"verify_iat": False, "require": ["iat"]}
            )
        except jwt.PyJWTError as exc:
            raise RpcError(AUTHENTICATION_FAILED, f"authentication failed: {exc}") from None
        iat = claims["iat"]
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise RpcError(AUTHENTICATION_FAILED, f"authentication failed: `iat` must be a number, was {iat!r:.40}")
        if abs(now_s - iat) > self._tolerance_s:
            raise RpcError(
                AUTHENTICATION_FAILED,
                f"authentication failed: `iat` off by more than {self._tolerance_s} s, was {now_s - iat:.1f} s",
            )
        return self._keys[kid]


def make_token(kid: str, private_key_pem: str, iat_s: float) -> str:
    """Build a login token the way the official client does (RS512, ``kid`` header, ``iat`` claim)."""
    return jwt.encode({"iat": iat_s}, private_key_pem, algorithm="RS512", headers={"kid": kid})
