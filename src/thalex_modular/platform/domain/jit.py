"""Compiled numeric kernels: numba's ``njit`` when it is installed and enabled, the plain function otherwise.

A kernel is written once, in the subset of Python that numba compiles (scalars, numpy arrays, loops). The
decorated object runs compiled; :func:`python_twin` returns the same source uncompiled, so a test can prove the
two equal on the same inputs (STYLE: numba only for an isolated kernel a benchmark demands, with a pure-Python
twin). ``THALEX_NO_JIT=1`` runs every kernel uncompiled (debugging, or a platform without numba wheels).

Compiled kernels are cached on disk (``cache=True``) in a directory named by a hash of every kernel module's source
(:mod:`thalex_modular.kernel_cache`, set when the package is imported: numba's own cache would keep a callee's old
code after its module changed), so only the first process after a change pays the compile time. Inside that
directory a kernel is found by its module's path in the package, not by the checkout's absolute path
(:mod:`.jit_cache_locator`): a fresh clone of the same sources loads what another clone compiled.

:func:`entry` gives the order path the compiled code of one exact signature, called without numba's per-call type
dispatch. Numba does not check the arguments then, so the signature is written out where the entry is taken, and
``THALEX_CHECK_KERNEL_TYPES=1`` (set by the test suite) makes every call check each argument's numba type first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["COMPILED", "entry", "kernel", "python_twin"]

F = TypeVar("F", bound=Callable[..., Any])

_njit: Callable[..., Any] | None
try:
    if os.environ.get("THALEX_NO_JIT", "") not in ("", "0"):
        raise ImportError("THALEX_NO_JIT is set")
    from numba import njit as _njit
    from numba.core import config as _numba_config

    # numba read NUMBA_CACHE_DIR when it was first imported: if that was before this package set it, set it now
    _config: Any = _numba_config  # untyped
    _config.CACHE_DIR = os.environ.get("NUMBA_CACHE_DIR", _config.CACHE_DIR)
    from thalex_modular.platform.domain.jit_cache_locator import use_package_locator

    use_package_locator()
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


def entry(fn: F, signature: str) -> F:
    """The compiled code of kernel ``fn`` for exactly ``signature`` (numba's notation, e.g.
    ``"int64(int64[:, ::1], float64)"``; ``::1`` = C-contiguous), called without numba's type dispatch: about 0.3 µs
    less per call of 16 arguments warm, more when the code is cold, as on the live order path. Compiles (or loads
    from the cache) that signature now if needed. ``fn`` itself when kernels run uncompiled.

    The caller must pass exactly those types: numba does not check them here, and an array of another dtype or
    layout would be misread. With ``THALEX_CHECK_KERNEL_TYPES=1`` every call checks them first and raises
    ``TypeError`` naming the argument.
    """
    if _njit is None or not hasattr(fn, "get_overload"):  # uncompiled, or not a numba dispatcher
        return fn
    dispatcher: Any = fn  # a numba Dispatcher
    dispatcher.compile(signature)
    compiled: F = dispatcher.get_overload(signature)
    if os.environ.get("THALEX_CHECK_KERNEL_TYPES", "") in ("", "0"):
        return compiled
    return _checked(fn, signature, compiled)


def _checked(fn: Callable[..., Any], signature: str, compiled: F) -> F:
    import numba
    import numba.core.sigutils

    numba_api: Any = numba  # untyped
    typeof = _memoized_typeof(numba_api.typeof)
    expected, _ = numba_api.core.sigutils.normalize_signature(signature)
    name = getattr(fn, "__name__", "kernel")

    def check_then_call(*args: Any) -> Any:
        if len(args) != len(expected):
            raise TypeError(f"{name}: {len(args)} arguments, its entry takes {len(expected)} ({signature})")
        for i, (arg, want) in enumerate(zip(args, expected, strict=True)):
            got = typeof(arg)
            if got is not want and got != want:  # numba interns its types: mostly the same object
                raise TypeError(f"{name}: argument {i} is {got}, its entry takes {want} ({signature})")
        return compiled(*args)

    checked: F = check_then_call  # type: ignore[assignment]
    return checked


def _memoized_typeof(typeof: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``numba.typeof`` for the arguments of checked entries, remembered by what decides the type: an array's dtype,
    dimensions, layout and writeability, a scalar's class (an int's also by its size). ``numba.typeof`` builds a new
    array type on every call (about 50 us), which made the checks most of a test's time on the tick path."""
    import numpy as np

    known: dict[tuple[object, ...], Any] = {}

    def typeof_memoized(arg: Any) -> Any:
        kind = type(arg)
        key: tuple[object, ...]
        if kind is np.ndarray:
            flags = arg.flags
            layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
            key = (kind, arg.dtype, arg.ndim, layout, flags.writeable)
        elif kind is float or kind is bool:
            key = (kind,)
        elif kind is int:
            if arg.bit_length() >= 32:
                return typeof(arg)
            key = (kind,)
        elif isinstance(arg, np.generic):
            key = (kind, arg.dtype)
        else:
            return typeof(arg)
        found = known.get(key)
        if found is None:
            found = known[key] = typeof(arg)
        return found

    return typeof_memoized
