"""Where the StateTracker keeps its orders: indexed by client_order_id and by exchange order_id, open orders
per instrument, terminal orders in a bounded LRU. Internal to the tracking package.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from ..entities import Order
from ..errors import InvalidValue


@dataclass(slots=True)
class OrderEntry:
    """An order plus the tracker's bookkeeping about it.

    ``fills_amount`` is the sum of the fills seen for it (underlying); ``adopted`` is True for orders learned from
    the exchange rather than registered by this session (their ``order.client_order_id`` is a negative local key).
    """

    order: Order
    fills_amount: float = 0.0
    adopted: bool = False
    reject_reason: str | None = None


class OrderStore:
    """Indexes of tracked orders. Open orders are never evicted; terminal ones live in an LRU of
    ``max_closed`` entries, the least recently closed evicted first.
    """

    __slots__ = ("_by_cid", "_by_oid", "_closed", "_max_closed", "_next_local_key", "_open")

    def __init__(self, max_closed: int) -> None:
        if max_closed < 0:
            raise InvalidValue(f"OrderStore.max_closed must be >= 0, was {max_closed}")
        self._max_closed = max_closed
        self._by_cid: dict[int, OrderEntry] = {}
        self._by_oid: dict[str, OrderEntry] = {}
        self._open: dict[str, dict[int, OrderEntry]] = {}
        self._closed: OrderedDict[int, None] = OrderedDict()
        self._next_local_key = -1

    def __len__(self) -> int:
        return len(self._by_cid)

    @property
    def closed_count(self) -> int:
        return len(self._closed)

    def new_local_key(self) -> int:
        """A negative key for an adopted order (never clashes with a session client_order_id, which is >= 0)."""
        key = self._next_local_key
        self._next_local_key -= 1
        return key

    def by_cid(self, client_order_id: int) -> OrderEntry | None:
        return self._by_cid.get(client_order_id)

    def by_oid(self, order_id: str) -> OrderEntry | None:
        return self._by_oid.get(order_id)

    def add(self, entry: OrderEntry) -> None:
        """Track a new order (open, or straight into the closed LRU if it is terminal)."""
        order = entry.order
        if order.client_order_id in self._by_cid:
            raise InvalidValue(f"client_order_id {order.client_order_id} is already tracked")
        self._by_cid[order.client_order_id] = entry
        if order.order_id is not None:
            self._by_oid[order.order_id] = entry
        if order.status.is_terminal:
            self._close(entry)
        else:
            self._open.setdefault(order.instrument_name, {})[order.client_order_id] = entry

    def set_order_id(self, entry: OrderEntry, order_id: str) -> None:
        entry.order.order_id = order_id
        self._by_oid[order_id] = entry

    def status_changed(self, entry: OrderEntry, was_terminal: bool) -> None:
        """Move the entry between the open index and the closed LRU after its status changed."""
        now_terminal = entry.order.status.is_terminal
        if now_terminal and not was_terminal:
            per_instrument = self._open.get(entry.order.instrument_name)
            if per_instrument is not None:
                per_instrument.pop(entry.order.client_order_id, None)
            self._close(entry)
        elif was_terminal and not now_terminal:  # REJECTED order resurrected by an exchange report
            self._closed.pop(entry.order.client_order_id, None)
            self._open.setdefault(entry.order.instrument_name, {})[entry.order.client_order_id] = entry

    def open_entries(self, instrument_name: str) -> Iterator[OrderEntry]:
        per_instrument = self._open.get(instrument_name)
        if per_instrument:
            yield from per_instrument.values()

    def all_open(self) -> list[OrderEntry]:
        return [entry for per_instrument in self._open.values() for entry in per_instrument.values()]

    def _close(self, entry: OrderEntry) -> None:
        self._closed[entry.order.client_order_id] = None
        self._closed.move_to_end(entry.order.client_order_id)
        while len(self._closed) > self._max_closed:
            key, _ = self._closed.popitem(last=False)
            evicted = self._by_cid.pop(key)
            if evicted.order.order_id is not None and self._by_oid.get(evicted.order.order_id) is evicted:
                del self._by_oid[evicted.order.order_id]
