"""What happens to the exchange's answers when they reach us, as kernels: the
:class:`~thalex_modular.platform.domain.tracking.state_tracker.StateTracker`'s order lifecycle for our orders
(status, amounts, the request in flight), the FIFO position of
:class:`~thalex_modular.platform.domain.tracking.positions.FifoPosition` (its float operations, so the strategy sees
the same position to the last bit), our fills reaching the strategy's kappa sampler, and the backtest recorder's
booking of each fill with its fee (:meth:`SimMatchEngine.fee_for`, :meth:`BacktestRecorder.on_fill`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.jit import kernel

from .engine import find_slot
from .kappa import sampler_on_own_fill
from .layout import (
    B_CID,
    B_DUE,
    B_FILL_LOTS,
    B_FILL_TICKS,
    B_FILLED,
    B_LOTS,
    B_REASON,
    B_REJECT,
    B_STATUS,
    B_TICKS,
    F_KAPPA,
    F_MID,
    F_POS,
    F_POS_COMP,
    F_REC_CASH,
    F_REC_FEES,
    F_REC_POS,
    F_REC_SPREAD,
    FF_AMOUNT,
    FF_FEE,
    FF_MARKOUT,
    FF_MID,
    FF_PRICE,
    FL_AMEND,
    FL_CANCEL,
    FL_INSERT,
    FL_NONE,
    OC_BUY,
    OC_FLIGHT,
    OC_HAS_AMEND,
    OC_STATUS,
    OF_AMOUNT,
    OF_FILLED,
    OF_FILLS,
    OF_PRICE,
    P_AMOUNT_DIV,
    P_KAPPA_FIXED,
    P_PRICE_DIV,
    Q_MAKER_BPS,
    Q_TICK,
    R_AMEND,
    R_CANCEL,
    S_FILLS,
    S_LOTS_HEAD,
    S_LOTS_TAIL,
    S_OB_HEAD,
    S_OB_TAIL,
    S_QUOTED,
    ST_CANCELLED,
    ST_CANCELLED_PARTIAL,
    ST_NONE,
    ST_PENDING,
)

AMOUNT_EPSILON = 1e-12  # positions.AMOUNT_EPSILON
TRACKER_EPSILON = 1e-9  # state_tracker.DEFAULT_AMOUNT_EPSILON
_PER_BP = 1e-4


@kernel
def position_of(sf: NDArray[np.float64]) -> float:
    """``FifoPosition.position``."""
    return float(sf[F_POS] + sf[F_POS_COMP])


@kernel
def fifo_apply(si: NDArray[np.int64], sf: NDArray[np.float64], lots: NDArray[np.float64], signed: float) -> None:
    """``FifoPosition.apply``'s effect on the position (the lots' amounts; realised PnL is the recorder's)."""
    remaining = signed
    head = si[S_LOTS_HEAD]
    tail = si[S_LOTS_TAIL]
    while head < tail and abs(remaining) > AMOUNT_EPSILON and (lots[head] > 0.0) != (remaining > 0.0):
        lot = lots[head]
        matched = min(abs(remaining), abs(lot))
        if lot > 0.0:
            lot -= matched
            remaining += matched
        else:
            lot += matched
            remaining -= matched
        lots[head] = lot
        if abs(lot) <= AMOUNT_EPSILON:
            head += 1
    if head == tail:
        head = 0
        tail = 0
    if abs(remaining) > AMOUNT_EPSILON:
        if tail == lots.shape[0]:  # move the lots to the front (the caller keeps room for one more)
            for k in range(tail - head):
                lots[k] = lots[head + k]
            tail -= head
            head = 0
        lots[tail] = remaining
        tail += 1
    si[S_LOTS_HEAD] = head
    si[S_LOTS_TAIL] = tail
    if tail - head <= 1:
        sf[F_POS] = lots[head] if tail > head else 0.0
        sf[F_POS_COMP] = 0.0
    else:
        position = sf[F_POS]
        total = position + signed
        if abs(position) >= abs(signed):
            sf[F_POS_COMP] += (position - total) + signed
        else:
            sf[F_POS_COMP] += (signed - total) + position
        sf[F_POS] = total


@kernel
def _apply_update(si: NDArray[np.int64], oi: NDArray[np.int64], of: NDArray[np.float64], ob: NDArray[np.int64],
                  b: int, s: int, price_div: int, amount_div: int) -> None:
    """``StateTracker._apply`` to one of our orders (in the simulator's answers nothing is stale or backward)."""
    status = ob[b, B_STATUS]
    update_filled = ob[b, B_FILLED] / amount_div
    filled = of[s, OF_FILLED]
    if of[s, OF_FILLS] > filled:
        filled = of[s, OF_FILLS]
    if update_filled > filled:
        filled = update_filled
    of[s, OF_FILLED] = filled
    of[s, OF_AMOUNT] = ob[b, B_LOTS] / amount_div
    of[s, OF_PRICE] = ob[b, B_TICKS] / price_div
    if status == ST_CANCELLED and filled > TRACKER_EPSILON:
        status = ST_CANCELLED_PARTIAL
    terminal = status >= 4
    oi[s, OC_STATUS] = ST_NONE if terminal else status
    flight = oi[s, OC_FLIGHT]
    reason = ob[b, B_REASON]
    if flight != FL_NONE and (flight == FL_INSERT or terminal or (flight == FL_AMEND and reason == R_AMEND)
                              or (flight == FL_CANCEL and reason == R_CANCEL)):
        oi[s, OC_FLIGHT] = FL_NONE
        oi[s, OC_HAS_AMEND] = 0


@kernel
def deliver(si: NDArray[np.int64], sf: NDArray[np.float64], pi: NDArray[np.int64], pf: NDArray[np.float64],
            oi: NDArray[np.int64], of: NDArray[np.float64], ob: NDArray[np.int64], lots: NDArray[np.float64],
            kp: NDArray[np.int64], kd: NDArray[np.float64], ko: NDArray[np.int64], dist: NDArray[np.float64],
            partials: NDArray[np.float64], fi: NDArray[np.int64], ff: NDArray[np.float64], now_ns: int) -> bool:
    """``SimSession._deliver``: the answers due by ``now_ns``, in order, to the tracker (and our fills to the
    position, the strategy's kappa sampler and the recorder). True when one was a fill of ours."""
    price_div = pi[P_PRICE_DIV]
    amount_div = pi[P_AMOUNT_DIV]
    filled_any = False
    while si[S_OB_HEAD] < si[S_OB_TAIL] and ob[si[S_OB_HEAD], B_DUE] <= now_ns:
        b = si[S_OB_HEAD]
        si[S_OB_HEAD] = b + 1
        s = find_slot(si, oi, ob[b, B_CID])
        if s < 0 or oi[s, OC_STATUS] == ST_NONE:
            continue  # a closed order: nothing of it changes what we do
        due = ob[b, B_DUE]
        if ob[b, B_REJECT] != 0:  # StateTracker.on_request_failed
            if oi[s, OC_FLIGHT] == FL_INSERT and oi[s, OC_STATUS] == ST_PENDING:
                oi[s, OC_STATUS] = ST_NONE
            oi[s, OC_FLIGHT] = FL_NONE
            oi[s, OC_HAS_AMEND] = 0
            continue
        fill_lots = ob[b, B_FILL_LOTS]
        price = 0.0
        amount = 0.0
        side = 1 if oi[s, OC_BUY] != 0 else -1
        if fill_lots > 0:
            price = ob[b, B_FILL_TICKS] / price_div
            amount = fill_lots / amount_div
            of[s, OF_FILLS] += amount
            fifo_apply(si, sf, lots, amount * side)
        _apply_update(si, oi, of, ob, b, s, price_div, amount_div)
        if fill_lots == 0:
            continue
        filled_any = True
        if si[S_QUOTED] != 0 and pi[P_KAPPA_FIXED] == 0 and sampler_on_own_fill(
                si, pi, pf, kp, kd, ko, dist, partials, due, price, amount, side, pf[Q_TICK]):
            sf[F_KAPPA] = np.nan
        fee = price * amount * pf[Q_MAKER_BPS] * _PER_BP
        mid = sf[F_MID]
        k = si[S_FILLS]
        fi[k, 0] = due
        fi[k, 1] = side
        fi[k, 2] = 1
        ff[k, FF_PRICE] = price
        ff[k, FF_AMOUNT] = amount
        ff[k, FF_FEE] = fee
        ff[k, FF_MID] = mid
        for h in range(3):
            ff[k, FF_MARKOUT + h] = np.nan
        si[S_FILLS] = k + 1
        sf[F_REC_POS] += side * amount
        sf[F_REC_CASH] -= side * price * amount
        sf[F_REC_FEES] += fee
        sf[F_REC_SPREAD] += side * (mid - price) * amount
    if si[S_OB_HEAD] == si[S_OB_TAIL]:
        si[S_OB_HEAD] = 0
        si[S_OB_TAIL] = 0
    return filled_any
