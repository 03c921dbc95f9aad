"""The last quote's inputs, so a ticker that changes none of them reuses its rows instead of running the quote kernel
again (most book-top updates change only sizes). The quote kernels are pure functions of these inputs and their
packed parameters, and of the time only through a dated instrument's expiry: only undated instruments reuse a
quote. Inputs are compared exactly (the same value and the same sign of zero; NaN never matches)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from thalex_modular.strategies.ladder_kernel import IP_HAS_EXPIRY

from .inline import inline_kernel
from .layout import F_QMEMO, S_QMEMO_NQ


@inline_kernel
def _same(x: float, y: float) -> bool:
    return bool(x == y and math.copysign(1.0, x) == math.copysign(1.0, y))


@inline_kernel
def memo_quote(si: NDArray[np.int64], sf: NDArray[np.float64], qip: NDArray[np.int64], bid: float, ask: float,
               reference: float, position: float, sigma: float, multiplier: float, kappa: float) -> int:
    """The rows in ``desired`` when the last quote had exactly these inputs, else -1."""
    n = si[S_QMEMO_NQ]
    if n < 0 or qip[IP_HAS_EXPIRY] != 0:
        return -1
    if (_same(sf[F_QMEMO], bid) and _same(sf[F_QMEMO + 1], ask) and _same(sf[F_QMEMO + 2], reference)
            and _same(sf[F_QMEMO + 3], position) and _same(sf[F_QMEMO + 4], sigma)
            and _same(sf[F_QMEMO + 5], multiplier) and _same(sf[F_QMEMO + 6], kappa)):
        return int(n)
    return -1


@inline_kernel
def remember_quote(si: NDArray[np.int64], sf: NDArray[np.float64], nq: int, bid: float, ask: float,
                   reference: float, position: float, sigma: float, multiplier: float, kappa: float) -> None:
    """Keep the inputs of a quote that wrote ``nq`` rows (a refusal, nq < 0, is not kept)."""
    si[S_QMEMO_NQ] = nq if nq >= 0 else -1
    sf[F_QMEMO] = bid
    sf[F_QMEMO + 1] = ask
    sf[F_QMEMO + 2] = reference
    sf[F_QMEMO + 3] = position
    sf[F_QMEMO + 4] = sigma
    sf[F_QMEMO + 5] = multiplier
    sf[F_QMEMO + 6] = kappa
