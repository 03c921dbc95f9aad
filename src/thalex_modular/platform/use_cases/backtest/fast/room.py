"""Room in the fast driver's buffers: before an event (and before each plan inside its advance) the loop checks that
every table can take the most one step can add, else it returns NEED_ROOM naming the short tables and the driver
grows them."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .inline import inline_kernel
from .layout import (
    P_RECORD,
    P_SAMPLE_STEP,
    S_FILLS,
    S_KO_HEAD,
    S_KO_TAIL,
    S_KP_HEAD,
    S_KP_TAIL,
    S_LOTS_HEAD,
    S_LOTS_TAIL,
    S_NEED_SAMPLES,
    S_NEXT_SAMPLE,
    S_OB_HEAD,
    S_OB_TAIL,
    S_PQ,
    S_REQUESTS,
    S_SAMPLES,
    S_SLOTS,
)

#: buffers NEED_ROOM may name (a bit mask)
SHORT_SLOTS, SHORT_PQ, SHORT_OB, SHORT_FILLS, SHORT_KO, SHORT_KP, SHORT_LOTS, SHORT_REQUESTS, SHORT_SAMPLES = (
    1, 2, 4, 8, 16, 32, 64, 128, 256)


@inline_kernel
def short_of_room(si: NDArray[np.int64], pi: NDArray[np.int64], oi: NDArray[np.int64], pq: NDArray[np.int64],
           ob: NDArray[np.int64], fi: NDArray[np.int64], ko: NDArray[np.int64], kp: NDArray[np.int64],
           lots: NDArray[np.float64], ri: NDArray[np.int64], smi: NDArray[np.int64], max_quotes: int,
           now: int) -> int:
    """The buffers without room for the worst one event can add (a mask of SHORT_*)."""
    head = si[S_OB_HEAD]
    tail = si[S_OB_TAIL]
    if head > 0:
        for k in range(tail - head):
            for c in range(ob.shape[1]):
                ob[k, c] = ob[head + k, c]
        si[S_OB_HEAD] = 0
        si[S_OB_TAIL] = tail - head
    slots = si[S_SLOTS]
    sends = 2 * (slots + max_quotes) + 2  # two plans at most per event
    answers = si[S_OB_TAIL] + si[S_PQ] + 2 * sends + slots + 4
    mask = 0
    if slots + 2 * max_quotes + 2 > oi.shape[0]:
        mask |= SHORT_SLOTS
    if si[S_PQ] + sends > pq.shape[0]:
        mask |= SHORT_PQ
    if answers > ob.shape[0]:
        mask |= SHORT_OB
    if si[S_FILLS] + answers > fi.shape[0]:
        mask |= SHORT_FILLS
    if si[S_KO_TAIL] - si[S_KO_HEAD] + answers > ko.shape[0]:
        mask |= SHORT_KO
    if si[S_KP_TAIL] - si[S_KP_HEAD] + 2 > kp.shape[0]:
        mask |= SHORT_KP
    if si[S_LOTS_TAIL] - si[S_LOTS_HEAD] + answers > lots.shape[0]:
        mask |= SHORT_LOTS
    if pi[P_RECORD] != 0 and si[S_REQUESTS] + sends > ri.shape[0]:
        mask |= SHORT_REQUESTS
    if now >= si[S_NEXT_SAMPLE]:
        needed = si[S_SAMPLES] + (now - si[S_NEXT_SAMPLE]) // pi[P_SAMPLE_STEP] + 1
        if needed > smi.shape[0]:
            si[S_NEED_SAMPLES] = needed
            mask |= SHORT_SAMPLES
    return mask
