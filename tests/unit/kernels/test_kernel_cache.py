"""The kernel cache follows every kernel module's source: a changed callee is never served from an old cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from thalex_modular import kernel_cache


def test_a_change_to_any_kernel_module_moves_the_cache_and_other_files_do_not(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: a package where the reconcile-like kernel calls a kernel of another module
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "caller.py").write_text("@kernel\ndef plan(x):\n    return decide(x)\n")
    (package / "callee.py").write_text("@kernel\ndef decide(x):\n    return x > 1\n")
    (package / "plain.py").write_text("def helper():\n    return 1\n")
    monkeypatch.setattr(kernel_cache, "_PACKAGE", package)
    before = kernel_cache.kernel_cache_dir(str(tmp_path / "cache"))
    # Act / Assert: a module without kernels changes nothing; the callee's change (the caller's file untouched)
    # gives a new directory, so the caller is compiled again against the new callee
    (package / "plain.py").write_text("def helper():\n    return 2\n")
    assert kernel_cache.kernel_cache_dir(str(tmp_path / "cache")) == before
    (package / "callee.py").write_text("@kernel\ndef decide(x):\n    return x > 2\n")
    after = kernel_cache.kernel_cache_dir(str(tmp_path / "cache"))
    assert after != before and os.path.dirname(after) == str(tmp_path / "cache")


def test_the_package_points_numba_at_the_hashed_directory() -> None:
    from numba.core import config

    import thalex_modular.platform.domain.jit  # noqa: F401  (numba configured)

    assert os.environ["NUMBA_CACHE_DIR"] == config.CACHE_DIR == kernel_cache.kernel_cache_dir(
        os.path.dirname(os.environ["NUMBA_CACHE_DIR"])
    )
