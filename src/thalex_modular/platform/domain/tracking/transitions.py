"""The order lifecycle: every legal status move in one table (NautilusTrader's ``_ORDER_STATE_TABLE`` style).

Keys are ``(current status, reported status)``; the value is the status the order moves to. The reported
status is what an exchange update (or a local event: ``REJECTED`` after a failed insert) says. Most moves
take the reported status as is; a few normalise it (a cancel of an order that has fills is
``CANCELLED_PARTIALLY_FILLED``). A pair missing from the table is a stale, duplicated or backward update:
:func:`next_status` raises :class:`InvalidTransition` for it and the StateTracker ignores (and counts) it.

Every move goes up (or stays) in :data:`LIFECYCLE_RANK`, so a status never moves backwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ..enums import OrderStatus
from ..errors import InvalidTransition

_P = OrderStatus.PENDING
_O = OrderStatus.OPEN
_PF = OrderStatus.PARTIALLY_FILLED
_F = OrderStatus.FILLED
_C = OrderStatus.CANCELLED
_CPF = OrderStatus.CANCELLED_PARTIALLY_FILLED
_R = OrderStatus.REJECTED

#: Total order of the lifecycle; every table move is non-decreasing in it. REJECTED (local, insert refused)
#: ranks below OPEN because an exchange report of the order wins over our local verdict.
LIFECYCLE_RANK: Final[Mapping[OrderStatus, int]] = MappingProxyType(
    {_P: 0, _R: 1, _O: 2, _PF: 3, _C: 4, _CPF: 5, _F: 6}
)

ORDER_STATE_TABLE: Final[Mapping[tuple[OrderStatus, OrderStatus], OrderStatus]] = MappingProxyType(
    {
        # -- from PENDING (registered, insert sent) --------------------------------------------------
        (_P, _O): _O,  # insert ack
        (_P, _PF): _PF,  # real world: a fill notification before the insert ack
        (_P, _F): _F,  # real world: filled before the insert ack
        (_P, _C): _C,  # post-only reject / IOC with no fill (immediate_cancel) or cancel before ack
        (_P, _CPF): _CPF,  # IOC remainder cancelled after partial fills
        (_P, _R): _R,  # local: the insert request failed
        # -- from REJECTED (local) --------------------------------------------------------------------
        # real world: the insert "failed" (timeout, lost connection) but the exchange has the order
        (_R, _O): _O,
        (_R, _PF): _PF,
        (_R, _F): _F,
        (_R, _C): _C,
        (_R, _CPF): _CPF,
        # -- from OPEN --------------------------------------------------------------------------------
        (_O, _O): _O,  # amend ack, duplicate ack, snapshot
        (_O, _PF): _PF,
        (_O, _F): _F,
        (_O, _C): _C,
        (_O, _CPF): _CPF,
        # -- from PARTIALLY_FILLED --------------------------------------------------------------------
        (_PF, _PF): _PF,  # another partial fill, amend ack, snapshot
        (_PF, _F): _F,
        (_PF, _CPF): _CPF,
        (_PF, _C): _CPF,  # normalise: a cancel of an order with fills is cancelled_partially_filled
        # -- from CANCELLED ---------------------------------------------------------------------------
        # real world: a cancel ack racing a fill; the fill arrives after the ack
        (_C, _PF): _CPF,
        (_C, _CPF): _CPF,
        (_C, _F): _F,
    }
)


def next_status(current: OrderStatus, reported: OrderStatus) -> OrderStatus:
    """The status an order in ``current`` moves to when ``reported`` arrives.

    Raises:
        InvalidTransition: the move is not in :data:`ORDER_STATE_TABLE` (stale, duplicate terminal or backward).
    """
    new = ORDER_STATE_TABLE.get((current, reported))
    if new is None:
        raise InvalidTransition(
            f"order status cannot move from {current.value!r} to {reported.value!r} (stale or backward update)"
        )
    return new


def can_move(current: OrderStatus, reported: OrderStatus) -> bool:
    """True when ``(current, reported)`` is a legal move."""
    return (current, reported) in ORDER_STATE_TABLE
