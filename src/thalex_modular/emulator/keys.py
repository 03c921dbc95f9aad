"""API keys for the emulator: RSA key generation and the ``keys.json`` registry the server loads.

``keys.json`` layout (our choice; Thalex keeps keys server side)::

    {"keys": [{"kid": "K3F9...", "account_number": "A000000001", "public_key_pem": "-----BEGIN PUBLIC KEY-----..."}]}

``kid`` is what a client puts in the JWT header; ``account_number`` is the account that key logs in to by default.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["ApiKey", "GeneratedKey", "add_key", "generate_key", "keygen_to_dir", "load_keys"]

DEFAULT_ACCOUNT = "A000000001"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A registered public key: ``kid`` (JWT header), default ``account_number`` and the PEM public key."""

    kid: str
    account_number: str
    public_key_pem: str


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    """A fresh key pair: the private key PEM (traditional ``BEGIN RSA PRIVATE KEY``, as Thalex issues) and its id."""

    kid: str
    private_key_pem: str
    public_key_pem: str


def generate_key(key_size_bits: int = 2048) -> GeneratedKey:
    """Generate an RSA key pair and a random key id (``K`` + 16 hex digits)."""
    if key_size_bits < 2048:
        raise ValueError(f"invalid `key_size_bits` < 2048, was {key_size_bits}")
    private = rsa.generate_private_key(public_exponent=65537, key_size=key_size_bits)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return GeneratedKey(kid="K" + secrets.token_hex(8).upper(), private_key_pem=private_pem, public_key_pem=public_pem)


def load_keys(path: Path) -> dict[str, ApiKey]:
    """Read ``keys.json`` into ``kid -> ApiKey``; a missing file is an empty registry.

    Raises:
        ValueError: the file is not the documented layout (names the entry and field).
    """
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"invalid keys file {path}: expected an object with a `keys` list")
    keys: dict[str, ApiKey] = {}
    for i, entry in enumerate(entries):
        for field in ("kid", "account_number", "public_key_pem"):
            if not isinstance(entry, dict) or not isinstance(entry.get(field), str):
                raise ValueError(f"invalid keys file {path}: entry {i} lacks string `{field}`")
        keys[entry["kid"]] = ApiKey(entry["kid"], entry["account_number"], entry["public_key_pem"])
    return keys


def add_key(path: Path, key: ApiKey) -> None:
    """Add (or replace, by kid) ``key`` in the ``keys.json`` at ``path``, creating the file if needed."""
    keys = load_keys(path)
    keys[key.kid] = key
    payload = {
        "keys": [
            {"kid": k.kid, "account_number": k.account_number, "public_key_pem": k.public_key_pem}
            for k in keys.values()
        ]
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def keygen_to_dir(
    out_dir: Path, account_number: str = DEFAULT_ACCOUNT, shared_keys_json: Path | None = None
) -> GeneratedKey:
    """Write ``private_key.pem`` (mode 0600), ``public_key.pem``, ``key_id`` and add the key to ``keys.json``
    in ``out_dir`` and, when given, to ``shared_keys_json`` (one keys file for several accounts)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    private_path = out_dir / "private_key.pem"
    private_path.write_text(key.private_key_pem)
    private_path.chmod(0o600)
    (out_dir / "public_key.pem").write_text(key.public_key_pem)
    (out_dir / "key_id").write_text(key.kid + "\n")
    api_key = ApiKey(key.kid, account_number, key.public_key_pem)
    add_key(out_dir / "keys.json", api_key)
    if shared_keys_json is not None and shared_keys_json != out_dir / "keys.json":
        add_key(shared_keys_json, api_key)
    return key
