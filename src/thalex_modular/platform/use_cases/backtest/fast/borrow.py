"""Arrays without reference counting inside the compiled loop.

Each compiled call that passes an array counts a reference up and down (an atomic add each way): the replay loop
passes dozens of state arrays through its steps per event, and the counting was half its time (perf: numba's
``nrt_atomic_add``). :func:`borrowed` gives the loop a view of an array that carries no reference count (a null
meminfo: numba's reference counting skips it), valid while the caller holds the array, which it does for the whole
call (the loop never reallocates its state; the Python side grows it between calls). Uncompiled, the array itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from thalex_modular.platform.domain.jit import COMPILED

A = TypeVar("A")
F = TypeVar("F", bound=Callable[..., Any])


def uncounted_kernel(fn: F) -> F:
    """``@kernel`` compiled without numba's reference counting (its runtime, NRT, off for this function): no
    count up and down for each array variable, not even the call that finds a null meminfo. Numba's inlining copies
    every argument of an inlined step into a new variable, counted: in the replay loop those calls were about 40 %
    of the loop's own samples (perf). For a function that allocates nothing (it would not compile) and whose
    arrays the caller holds for the whole call. Uncompiled, ``fn`` itself."""
    if not COMPILED:
        return fn
    from numba import njit

    private_options: Any = njit  # `_nrt` is numba's private switch for reference counting; not in its stubs
    compiled: Any = private_options(cache=True, nogil=True, _nrt=False)(fn)
    return compiled  # type: ignore[no-any-return]


def borrowed(array: A) -> A:
    """``array`` itself (the pure-Python twin); compiled: a view without reference counting."""
    return array


if COMPILED:
    from numba.core import cgutils
    from numba.extending import intrinsic, overload

    @intrinsic
    def _uncounted(typingctx: Any, array: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            source = context.make_array(array)(context, builder, value=args[0])
            view = context.make_array(array)(context, builder)
            for field in ("nitems", "itemsize", "data", "shape", "strides"):
                setattr(view, field, getattr(source, field))
            null: Any = cgutils.get_null_value  # untyped
            view.meminfo = null(view.meminfo.type)
            view.parent = null(view.parent.type)
            return view._getvalue()

        return array(array), codegen

    options: Any = {"cache": True}

    @overload(borrowed, jit_options=options)
    def _borrowed_overload(array: Any) -> Any:
        uncounted: Any = _uncounted

        def implementation(array: Any) -> Any:
            return uncounted(array)

        return implementation
