"""Our resting orders of one instrument as the integer/float rows the compiled reconcile reads."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import Instrument, Order
from thalex_modular.platform.domain.enums import OrderStatus, Side

from .flat_cells import flat_cells
from .reconcile_kernel import ORDER_COLUMNS

__all__ = ["OrderRows"]

_PENDING = OrderStatus.PENDING
_OPEN = OrderStatus.OPEN
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
_BUY = Side.BUY


class OrderRows:
    """The pending, open and partially filled orders of one instrument, in the tracker's order, as
    ``ints`` rows ``[is_buy, price_ticks, remaining_lots, filled_lots, in_flight, client_order_id]`` and ``floats``
    rows ``[exposure (>= 0), filled]`` (underlying; the exposure is the remaining amount, or with an amend in flight
    the larger of it and the requested one: :attr:`Order.exposure_amount`); ``orders[i]`` is the Order of row ``i``.

    :meth:`load` rebuilds every row; :meth:`sync` updates the row of one order that changed, keeping the tracker's
    order (a new order is appended, a closed one removed), so the tick path never rebuilds them.
    Exchange prices and amounts are on the grid, so ``round`` recovers their exact ticks and lots.
    """

    __slots__ = (
        "_float_cells", "_int_cells", "_lots_per_unit", "_name", "_slots", "_ticks_per_usd", "count", "floats", "ints",
        "orders",
    )

    def __init__(self, instrument: Instrument, capacity: int = 16) -> None:
        self._name = instrument.instrument_name
        self._ticks_per_usd = 1.0 / instrument.tick_size
        self._lots_per_unit = 1.0 / instrument.volume_tick_size
        self.ints: NDArray[np.int64] = np.zeros((capacity, ORDER_COLUMNS), dtype=np.int64)
        self.floats: NDArray[np.float64] = np.zeros((capacity, 2), dtype=np.float64)
        # flat views of the same memory: a memoryview item store costs a third of a numpy row assignment
        self._int_cells = flat_cells(self.ints)
        self._float_cells = flat_cells(self.floats)
        self.orders: list[Order] = []
        self._slots: dict[int, int] = {}  # client_order_id -> row
        self.count = 0

    def load(self, live: Sequence[Order]) -> None:
        """Replace the rows by the resting orders of the instrument among ``live`` (others are skipped)."""
        orders = [order for order in live if self._rests(order)]
        n = len(orders)
        if n > self.ints.shape[0]:
            self._grow(n)
        for i, order in enumerate(orders):
            self._write(i, order)
        self.orders = orders
        self._slots = {order.client_order_id: i for i, order in enumerate(orders)}
        self.count = n

    def sync(self, order: Order) -> None:
        """Bring the row of ``order`` (which just changed) up to date: write, append or remove it."""
        if order.instrument_name != self._name:
            return
        cid = order.client_order_id
        slot = self._slots.get(cid)
        if self._rests(order):
            if slot is None:
                slot = self.count
                if slot == self.ints.shape[0]:
                    self._grow(slot + 1)
                self._slots[cid] = slot
                self.orders.append(order)
                self.count = slot + 1
            else:
                self.orders[slot] = order
            self._write(slot, order)
        elif slot is not None:
            n = self.count
            self.ints[slot : n - 1] = self.ints[slot + 1 : n]
            self.floats[slot : n - 1] = self.floats[slot + 1 : n]
            del self.orders[slot]
            del self._slots[cid]
            for later in self.orders[slot:]:
                self._slots[later.client_order_id] -= 1
            self.count = n - 1

    def _rests(self, order: Order) -> bool:
        status = order.status
        return order.instrument_name == self._name and (
            status is _OPEN or status is _PARTIALLY_FILLED or status is _PENDING
        )

    def _write(self, row: int, order: Order) -> None:
        filled = order.filled_amount
        remaining = order.amount - filled
        if remaining < 0.0:
            remaining = 0.0
        lots_per_unit = self._lots_per_unit
        cells = self._int_cells
        at = row * ORDER_COLUMNS
        cells[at] = 1 if order.side is _BUY else 0
        cells[at + 1] = round(order.price * self._ticks_per_usd)
        cells[at + 2] = round(remaining * lots_per_unit)
        cells[at + 3] = round(filled * lots_per_unit)
        cells[at + 4] = 0 if order.request_in_flight is None else 1
        cells[at + 5] = order.client_order_id
        cells = self._float_cells
        # risk counts an amend in flight at the larger of the old and the requested remaining amount
        cells[2 * row] = remaining if order.amend_amount is None else order.exposure_amount
        cells[2 * row + 1] = filled

    def _grow(self, needed: int) -> None:
        ints = np.zeros((2 * needed, ORDER_COLUMNS), dtype=np.int64)
        floats = np.zeros((2 * needed, 2), dtype=np.float64)
        ints[: self.count] = self.ints[: self.count]
        floats[: self.count] = self.floats[: self.count]
        self.ints = ints
        self.floats = floats
        self._int_cells = flat_cells(ints)
        self._float_cells = flat_cells(floats)
