"""Arrays without reference counting inside the compiled loop.

Each compiled call that passes an array counts a reference up and down (an atomic add each way): the replay loop
passes dozens of state arrays through its steps per event, and the counting was half its time (perf: numba's
``nrt_atomic_add``). :func:`borrowed` gives the loop a view of an array that carries no reference count (a null
meminfo: numba's reference counting skips it), valid while the caller holds the array, which it does for the whole
call (the loop never reallocates its state; the Python side grows it between calls). Uncompiled, the array itself.
"""

from __future__ import annotations

from typing import Any, TypeVar

from thalex_modular.platform.domain.jit import COMPILED

A = TypeVar("A")


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
