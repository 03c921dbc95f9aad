"""The kernel cache follows every kernel module's source: a changed callee is never served from an old cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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


_COMPILE_ONE = """
import json, os
from thalex_modular.platform.domain.market import vol_kernel
vol_kernel.count_offset(3, 1)
stats = vol_kernel.count_offset.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values()),
                  "cache": os.environ["NUMBA_CACHE_DIR"], "module": vol_kernel.__file__}))
"""


def test_a_clone_at_another_path_loads_the_kernels_another_clone_compiled(tmp_path: Path) -> None:
    # Arrange: the package's sources as two clones at different paths, one cache base
    source = Path(kernel_cache.__file__).parent
    clones = [tmp_path / name / "src" for name in ("clone-a", "clone-b")]
    for clone in clones:
        shutil.copytree(source, clone / "thalex_modular", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "THALEX_KERNEL_CACHE_DIR")}

    def compile_in(clone: Path) -> dict[str, object]:
        done = subprocess.run([sys.executable, "-c", _COMPILE_ONE], capture_output=True, text=True, check=True,
                              env={**env, "PYTHONPATH": str(clone), "NUMBA_CACHE_DIR": str(tmp_path / "cache")})
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    # Act
    first, second = compile_in(clones[0]), compile_in(clones[1])
    # Assert: each ran its own clone's code in the same cache directory; the first compiled, the second loaded
    assert [first["module"], second["module"]] == [str(c / "thalex_modular/platform/domain/market/vol_kernel.py")
                                                   for c in clones]
    assert first["cache"] == second["cache"]
    assert (first["hits"], first["misses"]) == (0, 1)
    assert (second["hits"], second["misses"]) == (1, 0)
