"""The CSV files an import reads (plain or gzip, UTF-8): opening them, and saying plainly why one cannot be read.

:func:`check_readable` is the import's check before anything is stored: the file exists, is a regular file we may
read, and its first line can be read (through gzip when it starts with gzip's magic bytes) and decoded.
:func:`describe` names what a reading error means; :func:`stopped_reading` does so for an error after some lines
were read, with the line it concerns.
"""

from __future__ import annotations

import csv
import gzip
import io
import stat
import zlib
from pathlib import Path
from typing import Final, TextIO

__all__ = ["UNREADABLE", "UnreadableFile", "check_readable", "describe", "open_text", "stopped_reading"]

GZIP_MAGIC: Final = b"\x1f\x8b"
#: What opening or reading a damaged or truncated file raises (gzip's end of stream, bad deflate data, bad UTF-8,
#: bad CSV, the file system).
UNREADABLE: Final = (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError, csv.Error, OSError)
_HEADER_LIMIT: Final = 65_536  # bytes of line 1 checked (a header is ~100)


class UnreadableFile(Exception):
    """A file an import cannot read; the message names the file and why."""


def open_text(path: Path) -> TextIO:
    """Open a CSV file, transparently gunzipping it when it starts with the gzip magic bytes.

    Raises:
        OSError: the file cannot be opened (:func:`describe` says why).
    """
    return io.TextIOWrapper(_open_bytes(path)[1], encoding="utf-8-sig", newline="")


def _open_bytes(path: Path) -> tuple[bytes, gzip.GzipFile | io.BufferedReader]:
    """(its first two bytes, the file's bytes: gunzipped when those are gzip's magic)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    return magic, gzip.open(path, "rb") if magic == GZIP_MAGIC else path.open("rb")


def check_readable(path: Path) -> None:
    """Check that ``path`` can be imported from: a regular file we may read whose first line reads and decodes.
    Reads at most the first line.

    Raises:
        UnreadableFile: it cannot, naming the file and why (missing, a directory, permission denied, not gzip
            though named .gz, a damaged gzip, line 1 not UTF-8).
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise UnreadableFile(f"{path}: {describe(exc)}") from None
    if stat.S_ISDIR(mode):
        raise UnreadableFile(f"{path}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise UnreadableFile(f"{path}: not a regular file (a pipe, socket or device)")
    magic = b""
    try:
        magic, raw = _open_bytes(path)
        with raw:
            first = raw.readline(_HEADER_LIMIT)
        first.decode("utf-8-sig")
    except UNREADABLE as exc:
        reason = f"line 1 {describe(exc)}" if isinstance(exc, UnicodeDecodeError) else describe(exc)
        if path.name.endswith(".gz") and magic != GZIP_MAGIC and isinstance(exc, UnicodeDecodeError):
            reason = f"named .gz but not gzip-compressed (it starts with bytes {magic.hex(' ')}), and {reason}"
        raise UnreadableFile(f"{path}: {reason}") from None


def describe(exc: BaseException) -> str:
    """What a reading error means, in words (no file name: the caller has it)."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied: the file cannot be read by this user"
    if isinstance(exc, EOFError):
        return "the file ends early (truncated?)"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a valid gzip file ({exc})"
    if isinstance(exc, zlib.error):
        return f"damaged gzip data ({exc})"
    if isinstance(exc, UnicodeDecodeError):
        return f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} cannot be decoded)"
    if isinstance(exc, csv.Error):
        return f"is not CSV ({exc})"
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or exc})"
    return f"unreadable ({type(exc).__name__}: {exc})"


def stopped_reading(exc: BaseException, lines_read: int) -> str:
    """Why reading stopped after ``lines_read`` whole lines. A text decoder fails on a chunk of several lines at
    once: for bad UTF-8 the line holding the bad byte is named (the lines before it in that chunk were not read)."""
    if isinstance(exc, UnicodeDecodeError) and isinstance(exc.object, bytes | bytearray):
        line = lines_read + 1 + exc.object.count(b"\n", 0, exc.start)
        cause = f"line {line} {describe(exc)}"
    else:
        cause = describe(exc)
    return f"{cause}; nothing after line {lines_read} was read"
