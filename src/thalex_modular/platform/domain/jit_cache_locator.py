"""Numba's on-disk kernel cache keyed by where a kernel's module is inside this package, not by the checkout's path.

Numba's own locator for ``NUMBA_CACHE_DIR`` names each module's cache folder by a hash of the module's absolute
directory, so a fresh clone (CI, a worktree) finds nothing and compiles every kernel again (tens of seconds on a
small machine). Every kernel module's source is already in the name of the cache directory
(:mod:`thalex_modular.kernel_cache`), and numba checks each file's source stamp before it loads an entry, so keying
the folders by the module's package-relative path is as safe and lets identical sources share one cache.

It plugs into numba's list of cache locators (``CacheImpl._locator_classes``, ``_CacheImpl`` in older numba: the
extension point numba's developer notes on caching describe). Where numba lacks it, numba's own locator stays in use:
correct, only slower on a fresh clone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["package_cache_subpath", "use_package_locator"]

_PACKAGE = Path(__file__).resolve().parents[2]  # src/thalex_modular
_SUBDIR = "by-module"


def package_cache_subpath(py_file: str) -> str | None:
    """The cache folder of the kernels of ``py_file`` below the cache directory, None for a file outside the package."""
    try:
        relative = Path(py_file).resolve().parent.relative_to(_PACKAGE)
    except ValueError:
        return None
    return os.path.join(_SUBDIR, *relative.parts)


def use_package_locator() -> None:
    """Put the package-relative locator first in numba's list (idempotent)."""
    try:
        from numba.core import caching, config
    except ImportError:
        return
    numba_caching: Any = caching  # untyped
    impl: Any = getattr(numba_caching, "CacheImpl", None) or getattr(numba_caching, "_CacheImpl", None)
    base: Any = getattr(numba_caching, "_CacheLocator", None)
    mixin: Any = getattr(numba_caching, "_SourceFileBackedLocatorMixin", None)
    if impl is None or base is None or mixin is None or not isinstance(getattr(impl, "_locator_classes", None), list):
        return
    if any(getattr(cls, "_thalex_package_locator", False) for cls in impl._locator_classes):
        return
    numba_config: Any = config  # untyped

    class PackageCacheLocator(mixin, base):  # type: ignore[misc]
        _thalex_package_locator = True

        def __init__(self, py_func: Any, py_file: str, subpath: str) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(numba_config.CACHE_DIR, subpath)

        def get_cache_path(self) -> str:
            return self._cache_path

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            subpath = package_cache_subpath(py_file)
            if not numba_config.CACHE_DIR or subpath is None or not os.path.exists(py_file):
                return None
            locator = cls(py_func, py_file, subpath)
            try:
                locator.ensure_cache_path()
            except OSError:
                return None  # not writable: numba tries its other locators
            return locator

    impl._locator_classes.insert(0, PackageCacheLocator)
