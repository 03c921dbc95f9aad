"""Run compiled kernels as their pure-Python twins: every kernel a twin calls is swapped for its twin too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from thalex_modular.platform.domain.jit import python_twin


@contextmanager
def uncompiled(*modules: ModuleType) -> Iterator[None]:
    """Within the block, the kernels of ``modules`` (module attributes with a ``py_func``) are their twins, so a
    twin's calls into other kernels of these modules run uncompiled as well."""
    saved: list[tuple[ModuleType, str, Any]] = []
    for module in modules:
        for name, value in list(vars(module).items()):
            if hasattr(value, "py_func"):
                saved.append((module, name, value))
                setattr(module, name, python_twin(value))
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
