"""Kernels as their pure-Python twins, calls between kernels included (``python_twin`` alone would leave the twin
calling compiled callees)."""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType, ModuleType
from typing import Any

from thalex_modular.platform.domain.jit import python_twin


def pure(fn: Callable[..., Any], *modules: ModuleType) -> Callable[..., Any]:
    """The uncompiled twin of kernel ``fn``, resolving its globals in the merged namespace of ``modules`` (``fn``'s
    module and those of the kernels it calls) where every kernel is replaced by its own uncompiled twin."""
    namespace: dict[str, Any] = {}
    for module in modules:
        namespace.update(vars(module))
    for name, obj in list(namespace.items()):
        twin = python_twin(obj) if callable(obj) else obj
        if twin is not obj and isinstance(twin, FunctionType):
            namespace[name] = FunctionType(twin.__code__, namespace, twin.__name__, twin.__defaults__, twin.__closure__)
    twin_fn: Callable[..., Any] = namespace[fn.__name__]
    return twin_fn
