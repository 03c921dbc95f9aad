"""Kernels inlined into their caller (numba ``inline="always"``), with the same pure-Python twin as ``@kernel``.

A compiled call passing arrays costs about 6 ns per array even without reference counting (measured: ``deliver``
with 16 arrays and nothing to deliver took 290 ns); the replay loop's per-event steps pass dozens. Its small
steps are inlined (one function, no calls); the rest are called only when they have something to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from thalex_modular.platform.domain.jit import COMPILED

F = TypeVar("F", bound=Callable[..., Any])


def inline_kernel(fn: F) -> F:
    """``@kernel``, inlined at every call site when compiled."""
    if not COMPILED:
        return fn
    from numba import njit

    compiled: Any = njit(cache=True, nogil=True, inline="always")(fn)
    return compiled  # type: ignore[no-any-return]
