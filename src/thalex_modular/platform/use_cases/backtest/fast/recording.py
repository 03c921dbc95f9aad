"""What the fast driver records on the way: state samples on the recorder's grid and the markouts of our fills
(``recorder.BacktestRecorder``'s ``sample`` and ``observe``, the same figures in the same float operations)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel

from .inline import inline_kernel
from .layout import (
    F_MARK,
    F_MID,
    F_REC_CASH,
    F_REC_FEES,
    F_REC_POS,
    FF_MARKOUT,
    OC_BUY,
    OC_STATUS,
    OF_AMOUNT,
    OF_FILLED,
    OF_PRICE,
    P_SAMPLE_STEP,
    S_FILLS,
    S_MARKOUT_PTR,
    S_NEXT_SAMPLE,
    S_SAMPLES,
    S_SLOTS,
    ST_OPEN,
    ST_PARTIAL,
)

_HORIZONS_NS = (1_000_000_000, 10_000_000_000, 60_000_000_000)  # recorder.MARKOUT_HORIZONS_NS
_MQP_MAX_DISTANCE_BPS = 10.0


@kernel
def side_quotes(si: NDArray[np.int64], oi: NDArray[np.int64], of: NDArray[np.float64], buy: int,
                 mid: float) -> tuple[float, float, float]:
    """(best price or NaN, total remaining, Market Quality size) of our acknowledged resting orders on one side, in the
    tracker's order (``recorder.mqp_side_size``)."""
    best = np.nan
    total = 0.0
    mqp = 0.0
    for s in range(si[S_SLOTS]):
        status = oi[s, OC_STATUS]
        if oi[s, OC_BUY] != buy or (status != ST_OPEN and status != ST_PARTIAL):
            continue
        price = of[s, OF_PRICE]
        left = of[s, OF_AMOUNT] - of[s, OF_FILLED]
        amount = left if left > 0.0 else 0.0
        if best != best or (price > best if buy else price < best):
            best = price
        total += amount
        distance_bps = abs(price - mid) / mid * 1e4
        share = 1.0 - distance_bps / _MQP_MAX_DISTANCE_BPS
        mqp += amount * (share if share > 0.0 else 0.0)
    return best, total, mqp


@kernel
def sample(si: NDArray[np.int64], sf: NDArray[np.float64], pi: NDArray[np.int64], oi: NDArray[np.int64],
            of: NDArray[np.float64], smi: NDArray[np.int64], smf: NDArray[np.float64], now: int) -> None:
    """``ReferenceDriver._sample`` / ``BacktestRecorder.sample``: the grid points up to ``now``, with the state
    before the event at ``now``."""
    step = pi[P_SAMPLE_STEP]
    points = (now - si[S_NEXT_SAMPLE]) // step + 1
    mid = sf[F_MID]
    if mid != mid:
        si[S_NEXT_SAMPLE] += points * step
        return
    mark = sf[F_MARK]
    bid, bid_amount, bid_mqp = side_quotes(si, oi, of, 1, mid)
    ask, ask_amount, ask_mqp = side_quotes(si, oi, of, 0, mid)
    equity = sf[F_REC_CASH] + sf[F_REC_POS] * mark - sf[F_REC_FEES]
    mqp = bid_mqp if bid_mqp <= ask_mqp else ask_mqp
    for _ in range(points):
        k = si[S_SAMPLES]
        smi[k] = si[S_NEXT_SAMPLE]
        smf[k, 0] = mid
        smf[k, 1] = mark
        smf[k, 2] = sf[F_REC_POS]
        smf[k, 3] = equity
        smf[k, 4] = sf[F_REC_FEES]
        smf[k, 5] = bid
        smf[k, 6] = bid_amount
        smf[k, 7] = ask
        smf[k, 8] = ask_amount
        smf[k, 9] = mqp
        si[S_SAMPLES] = k + 1
        si[S_NEXT_SAMPLE] += step


@inline_kernel
def observe(si: NDArray[np.int64], fi: NDArray[np.int64], ff: NDArray[np.float64], now: int, mid: float) -> None:
    """``BacktestRecorder.observe``: the markouts that came due get the mid as of ``now``."""
    for h in range(3):
        horizon = _HORIZONS_NS[h]
        k = si[S_MARKOUT_PTR + h]
        while k < si[S_FILLS] and fi[k, 0] + horizon <= now:
            ff[k, FF_MARKOUT + h] = mid
            k += 1
        si[S_MARKOUT_PTR + h] = k
