"""Issue 13 item 12: ``platform emulator keygen`` writes the private key 0600 from its creation, exclusively, never
through a symlink, in a 0700 directory, and refuses to overwrite a key without ``--force``.

Before: the key was written (0644 under the usual umask, every byte in place) and then chmodded; a symlink at
``private_key.pem`` was followed (the key went into its target, which was then chmodded); an existing key was
silently replaced.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thalex_modular.emulator.keys import keygen_to_dir

_watch: dict[str, Any] = {"dir": None, "seen": []}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Notes the mode and size of a private key file at each chmod / link / rename of it (audit hooks cannot be
    removed: inert unless a test set a directory to watch)."""
    watched = _watch["dir"]
    if watched is None or event not in ("os.chmod", "os.link", "os.rename") or not args:
        return
    source = os.fsdecode(args[0]) if isinstance(args[0], (str, bytes, os.PathLike)) else ""
    if source.startswith(watched) and "private_key.pem" in os.path.basename(source):
        st = os.stat(source, follow_symlinks=False)
        _watch["seen"].append((event, st.st_mode & 0o777, st.st_size))


sys.addaudithook(_audit)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: a file created without an explicit mode would be world-readable."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[list[tuple[str, int, int]]]:
    _watch["dir"], _watch["seen"] = str(tmp_path), []
    yield _watch["seen"]
    _watch["dir"] = None


def test_the_private_key_is_never_readable_by_others(tmp_path: Path, open_umask: None,
                                                     watched: list[tuple[str, int, int]]) -> None:
    # Act
    key = keygen_to_dir(tmp_path / "keys")

    # Assert: whenever the key's bytes were on disk (moved into place), its mode was already 0600; never chmodded
    assert watched and all(event != "os.chmod" for event, _, _ in watched)
    assert all(mode == 0o600 and size == len(key.private_key_pem) for _, mode, size in watched), watched
    assert (tmp_path / "keys" / "private_key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700


def test_a_symlink_in_place_of_the_key_is_never_followed(tmp_path: Path) -> None:
    # Arrange: private_key.pem is a symlink to a file of the user's
    out = tmp_path / "keys"
    out.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o644)
    (out / "private_key.pem").symlink_to(victim)

    # Act / Assert: refused as an existing key; with --force the link itself is replaced
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        keygen_to_dir(out)
    keygen_to_dir(out, force=True)
    assert victim.read_text() == "precious" and victim.stat().st_mode & 0o777 == 0o644
    assert not (out / "private_key.pem").is_symlink()
    assert "BEGIN RSA PRIVATE KEY" in (out / "private_key.pem").read_text()


def test_an_existing_key_is_kept_unless_forced(tmp_path: Path) -> None:
    # Arrange
    out = tmp_path / "keys"
    first = keygen_to_dir(out)

    # Act / Assert: the CLI refuses, naming the file and the flag; the key is unchanged
    run = [sys.executable, "-m", "thalex_modular", "emulator", "keygen", "--out", str(out)]
    refused = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "private_key.pem exists" in refused.stderr and "--force" in refused.stderr
    assert (out / "private_key.pem").read_text() == first.private_key_pem
    forced = subprocess.run([*run, "--force"], capture_output=True, text=True, timeout=60)
    assert forced.returncode == 0
    assert (out / "private_key.pem").read_text() != first.private_key_pem
    assert (out / "private_key.pem").stat().st_mode & 0o777 == 0o600


def test_a_directory_others_can_enter_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with pytest.raises(PermissionError, match="mode 0755"):
        keygen_to_dir(shared)
    (tmp_path / "link").symlink_to(tmp_path / "private", target_is_directory=True)
    (tmp_path / "private").mkdir(mode=0o700)
    with pytest.raises(PermissionError, match="not a symlink"):
        keygen_to_dir(tmp_path / "link")
    assert not list(shared.iterdir()) and not list((tmp_path / "private").iterdir())
