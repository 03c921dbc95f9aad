"""Compiled numeric kernels: numba's ``njit`` when it is installed and enabled, the plain function otherwise.

A kernel is written once, in the subset of Python that numba compiles (scalars, numpy arrays, loops). The
decorated object runs compiled; :func:`python_twin` returns the same source uncompiled, so a test can prove the
two equal on the same inputs (STYLE: numba only for an isolated kernel a benchmark demands, with a pure-Python
twin). ``THALEX_NO_JIT=1`` runs every kernel uncompiled (debugging, or a platform without numba wheels).

Compiled kernels are cached on disk next to their module (``cache=True``), so only the first process after an
install pays the compile time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["COMPILED", "kernel", "python_twin"]

F = TypeVar("F", bound=Callable[..., Any])

_njit: Callable[..., Any] | None
try:
    if os.environ.get("THALEX_NO_JIT", "") not in ("", "0"):
        raise ImportError("THALEX_NO_JIT is set")
    from numba import njit as _njit
except ImportError:
    _njit = None

COMPILED: bool = _njit is not None
"""True when kernels run compiled."""


def kernel(fn: F) -> F:
    """Compile ``fn`` with numba (nopython, cached, no GIL held) when available; else return it unchanged."""
    if _njit is None:
        return fn
    compiled: F = _njit(cache=True, nogil=True)(fn)
    return compiled


def python_twin(fn: F) -> F:
    """The uncompiled function behind a :func:`kernel` (the function itself when nothing was compiled)."""
    twin: F = getattr(fn, "py_func", fn)
    return twin
