"""API keys for the emulator: RSA key generation and the ``keys.json`` registry the server loads.

``keys.json`` layout (our choice; Thalex keeps keys server side)::

    {"keys": [{"kid": "K3F9...", "account_number": "A000000001", "public_key_pem": "-----BEGIN PUBLIC KEY-----..."}]}

``kid`` is what a client puts in the JWT header; ``account_number`` is the account that key logs in to by default.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "ApiKey", "GeneratedKey", "add_key", "generate_key", "keygen_to_dir", "load_keys", "private_dir", "remove_key",
    "write_new_file",
]

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
    """Add (or replace, by kid) ``key`` in the ``keys.json`` at ``path``, creating the file if needed (written to a
    new file, then renamed over it: a symlink at ``path`` is replaced, never followed)."""
    keys = load_keys(path)
    keys[key.kid] = key
    _write_keys(path, keys)


def _write_keys(path: Path, keys: dict[str, ApiKey]) -> None:
    payload = {"keys": [{"kid": k.kid, "account_number": k.account_number, "public_key_pem": k.public_key_pem}
                        for k in keys.values()]}
    write_new_file(path, json.dumps(payload, indent=2) + "\n", 0o644, replace=True)


def remove_key(path: Path, kid: str) -> bool:
    """Remove key ``kid`` from the ``keys.json`` at ``path``; True when it was there."""
    keys = load_keys(path)
    if keys.pop(kid, None) is None:
        return False
    _write_keys(path, keys)
    return True


def private_dir(path: Path) -> None:
    """Make ``path`` a directory only its owner can enter (created 0700), or refuse an existing one that is not.

    Raises:
        PermissionError: ``path`` is a symlink, belongs to another user, or group/others may access it (naming the
            mode).
    """
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise PermissionError(f"key directory {path} must be a real directory, not a symlink or a file")
    if st.st_uid != os.geteuid():
        raise PermissionError(f"key directory {path} belongs to uid {st.st_uid}, not to us ({os.geteuid()})")
    if st.st_mode & 0o077:
        raise PermissionError(
            f"key directory {path} has mode {stat.S_IMODE(st.st_mode):04o}: group or others may access it; "
            "use a private directory (chmod 700)"
        )


def write_new_file(path: Path, text: str, mode: int, *, replace: bool) -> None:
    """Write ``text`` to ``path`` created with ``mode`` from the first byte (a fresh file, exclusive, never through
    a symlink), then move it into place: over an existing file only when ``replace``.

    Raises:
        FileExistsError: ``path`` exists (a file or a symlink) and ``replace`` is False.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)  # replaces a symlink itself, never its target
        else:
            os.link(tmp, path, follow_symlinks=False)  # fails if anything (even a dangling symlink) is there
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def keygen_to_dir(
    out_dir: Path, account_number: str = DEFAULT_ACCOUNT, shared_keys_json: Path | None = None, *, force: bool = False
) -> GeneratedKey:
    """Write ``private_key.pem`` (0600 from its creation), ``public_key.pem``, ``key_id`` and add the key to
    ``keys.json`` in ``out_dir`` (a 0700 directory, created if missing) and, when given, to ``shared_keys_json``
    (one keys file for several accounts).

    Raises:
        FileExistsError: ``out_dir`` already holds a private key and ``force`` is False.
        PermissionError: ``out_dir`` is not a private directory of ours (see :func:`private_dir`).
    """
    private_dir(out_dir)
    private_path = out_dir / "private_key.pem"
    if not force and os.path.lexists(private_path):
        raise FileExistsError(f"{private_path} exists: refusing to overwrite a key (use --force to replace it)")
    key = generate_key()
    write_new_file(private_path, key.private_key_pem, 0o600, replace=force)
    write_new_file(out_dir / "public_key.pem", key.public_key_pem, 0o644, replace=True)
    write_new_file(out_dir / "key_id", key.kid + "\n", 0o644, replace=True)
    api_key = ApiKey(key.kid, account_number, key.public_key_pem)
    add_key(out_dir / "keys.json", api_key)
    if shared_keys_json is not None and shared_keys_json != out_dir / "keys.json":
        add_key(shared_keys_json, api_key)
    return key
