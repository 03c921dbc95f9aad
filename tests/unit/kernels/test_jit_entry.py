"""jit.entry: a kernel's compiled code for one exact signature; checked argument types in the test suite."""

from __future__ import annotations

import numpy as np
import pytest

from thalex_modular.platform.domain import jit
from thalex_modular.platform.domain.jit import COMPILED, entry, kernel


@kernel
def _scaled_first(values: np.ndarray, factor: float, offset: int) -> float:  # type: ignore[type-arg]
    return values[0] * factor + offset


SIGNATURE = "float64(float64[::1], float64, int64)"


def test_the_entry_computes_what_the_kernel_does() -> None:
    run = entry(_scaled_first, SIGNATURE)
    values = np.array([2.5, 1.0])
    assert run(values, 4.0, 1) == _scaled_first(values, 4.0, 1) == 11.0


@pytest.mark.skipif(not COMPILED, reason="uncompiled kernels have no entry to check")
def test_checked_entries_name_the_argument_of_the_wrong_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THALEX_CHECK_KERNEL_TYPES", "1")
    run = entry(_scaled_first, SIGNATURE)
    with pytest.raises(TypeError, match=r"argument 0 is array\(int64"):
        run(np.array([2, 1]), 4.0, 1)  # another dtype: the unchecked entry would misread its memory
    with pytest.raises(TypeError, match=r"argument 0 is array\(float64, 1d, A\)"):
        run(np.arange(4.0)[::2], 4.0, 1)  # not contiguous
    with pytest.raises(TypeError, match="argument 1 is int64"):
        run(np.array([2.5]), 4, 1)
    with pytest.raises(TypeError, match="2 arguments"):
        run(np.array([2.5]), 4.0)


@pytest.mark.skipif(not COMPILED, reason="uncompiled kernels have no entry")
def test_production_entries_are_the_compiled_code_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THALEX_CHECK_KERNEL_TYPES", "0")
    run = entry(_scaled_first, SIGNATURE)
    assert run is _scaled_first.get_overload(SIGNATURE)  # type: ignore[attr-defined]


def test_without_numba_the_entry_is_the_python_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jit, "_njit", None)
    plain = jit.python_twin(_scaled_first)
    assert entry(plain, SIGNATURE) is plain


@pytest.mark.skipif(not COMPILED, reason="checked entries need numba")
def test_the_checks_remembered_types_are_numbas_for_every_kind_of_argument() -> None:
    import numba

    typeof = jit._memoized_typeof(numba.typeof)
    grid = np.zeros((3, 4))
    readonly = np.arange(3.0)
    readonly.flags.writeable = False
    arguments = [
        np.arange(3.0), np.arange(3), np.arange(3, dtype=np.int32), np.zeros(2, dtype=np.uint8), np.zeros(0),
        grid, np.asfortranarray(grid), grid[:, ::2], grid[1], grid[:, 1], np.arange(8.0)[::2], readonly,
        np.zeros((2, 2, 2)), np.float64(1.5), np.int64(3), np.int32(3), np.bool_(True), np.datetime64(1, "ns"),
        1.5, True, False, 0, -7, 2**31 - 1, 2**31, -(2**40), 2**63 - 1, 2**63, None, "text",
    ]
    # Assert: every type, asked twice in either order (the second answer from memory), is numba's own
    for arg in [*arguments, *reversed(arguments)]:
        assert typeof(arg) == numba.typeof(arg), repr(arg)
