"""Where numba caches the compiled kernels: a directory named by a hash of every kernel module's source.

Numba's own cache checks only the file of the function it compiled: a kernel that calls a kernel of another module
(the reconcile calls the risk decision) keeps the callee's old code after that module changed, until its own file
changes. For risk code that is not acceptable. The cache therefore lives in ``<base>/<hash>``, the hash covering the
source of every module that defines a kernel: any change to any of them compiles afresh (about 10 s, once), and
identical sources share one cache across processes, checkouts and Ray workers. ``<base>`` is ``NUMBA_CACHE_DIR`` when
set, else the user's cache directory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

__all__ = ["kernel_cache_dir", "use_kernel_cache_dir"]

_PACKAGE = Path(__file__).resolve().parent
_MARKER = b"@kernel"
_ENV = "NUMBA_CACHE_DIR"
_SET_BY_US = "THALEX_KERNEL_CACHE_DIR"


def kernel_cache_dir(base: str | None = None) -> str:
    """The cache directory for the kernel sources as they are now."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        source = path.read_bytes()
        if _MARKER in source:
            digest.update(path.relative_to(_PACKAGE).as_posix().encode())
            digest.update(source)
    root = base or os.path.join(platformdirs.user_cache_dir("thalex-modular"), "numba")
    return os.path.join(root, digest.hexdigest()[:16])


def use_kernel_cache_dir() -> None:
    """Point numba at :func:`kernel_cache_dir` (before any kernel is compiled; idempotent)."""
    if os.environ.get(_SET_BY_US) and os.environ.get(_ENV) == os.environ[_SET_BY_US]:
        return  # already set in this process (or inherited by a worker from its parent, the same sources)
    path = kernel_cache_dir(os.environ.get(_ENV))
    os.environ[_ENV] = os.environ[_SET_BY_US] = path
