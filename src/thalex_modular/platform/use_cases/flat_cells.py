"""A flat view of a numpy array's memory for single-item reads and stores on the order path: a memoryview item store
costs a third of a numpy one."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["flat_cells"]


def flat_cells(array: NDArray[np.int64] | NDArray[np.float64]) -> Any:
    """``array``'s memory as a flat memoryview of its item type (``q`` or ``d``); it must be C-contiguous. Typed Any:
    typeshed's memoryview takes only int items, and numpy arrays are not its Buffer."""
    if not array.flags.c_contiguous:
        raise ValueError("flat_cells: the array must be C-contiguous")
    return memoryview(array.reshape(-1))  # type: ignore[arg-type]
