"""StateTracker: our orders' lifecycle, fills (each exactly once), positions, and desync detection.

Fed by the live adapter and SimMatchEngine alike (both emit :class:`OrderUpdate`); emits :class:`Fill` and
:class:`ResyncRequest` events. No I/O, no clock: every call carries its timestamps (int ns).

Real-world orderings it tolerates (LESSONS 12; DIGEST "response vs notification ordering: clients must
tolerate either order"): a fill before the insert ack, a late "open" after "filled", duplicated updates,
a cancel ack racing a fill, fills after a cancel request. Stale or backward updates are ignored and counted
(:attr:`StateTracker.ignored_updates`), never raised into the trading loop.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal

from ..entities import Fill, Instrument, Order, OrderUpdate, PortfolioEntry, Position
from ..enums import ChangeReason, OrderStatus, Side
from ..errors import InvalidTransition, InvalidValue
from ..events import ResyncRequest
from ..requests import AmendOrder, CancelOrder, InsertOrder
from ..validation import positive
from .order_store import OrderEntry, OrderStore
from .positions import PositionBook
from .transitions import next_status

RequestKind = Literal["insert", "amend", "cancel"]
TrackerEvent = Fill | ResyncRequest

#: Default number of terminal orders remembered (for late updates and queries).
DEFAULT_MAX_CLOSED_ORDERS = 10_000
#: Default number of trade ids remembered for fill de-duplication.
DEFAULT_MAX_TRADE_IDS = 100_000
#: Amounts (underlying) closer than this are equal: float sums of on-grid fills drift by ~1e-16.
DEFAULT_AMOUNT_EPSILON = 1e-9


_INF = math.inf


class StateTracker:
    """Tracks orders by ``client_order_id`` (this session's) and by exchange ``order_id``; derives fills and
    positions; reports desyncs as :class:`ResyncRequest` values.

    Args:
        instruments: instruments whose positions are compared with the exchange (tolerance: half a volume
            tick); an iterable of :class:`Instrument` or a mapping ``instrument_name -> Instrument``.
        max_closed_orders: terminal orders kept in an LRU (open orders are never evicted).
        max_trade_ids: trade ids kept for de-duplication (LRU).
        amount_epsilon: tolerance (underlying) for comparing a reported ``filled_amount`` with the fills seen.
        fill_report_grace_ns: how long a reported ``filled_amount`` may exceed the fills seen before it counts as
            missed fills (ResyncRequest). Thalex may answer an amend before the notification carrying the fill it
            already counts (DIGEST: either order); 0 asks for the resync at once. Overdue ones are reported by the
            next :meth:`on_order_update` and by :meth:`overdue_resyncs`, which the owner calls periodically.

    Adopted orders (learned from a snapshot or an unknown update, not registered here) get a negative
    ``Order.client_order_id`` as a local key: address them by ``order_id``.
    """

    __slots__ = (
        "_eps", "_fee_trade_ids", "_fees_usd", "_grace_ns", "_ignored", "_last_updated", "_max_trade_ids",
        "_positions", "_store", "_trade_ids", "_unexplained", "_version",
    )

    def __init__(
        self,
        instruments: Mapping[str, Instrument] | Iterable[Instrument] = (),
        *,
        max_closed_orders: int = DEFAULT_MAX_CLOSED_ORDERS,
        max_trade_ids: int = DEFAULT_MAX_TRADE_IDS,
        amount_epsilon: float = DEFAULT_AMOUNT_EPSILON,
        fill_report_grace_ns: int = 0,
    ) -> None:
        if max_trade_ids < 1:
            raise InvalidValue(f"StateTracker.max_trade_ids must be >= 1, was {max_trade_ids}")
        positive("StateTracker.amount_epsilon", amount_epsilon)
        if fill_report_grace_ns < 0:
            raise InvalidValue(f"StateTracker.fill_report_grace_ns must be >= 0, was {fill_report_grace_ns}")
        if not isinstance(instruments, Mapping):
            instruments = {inst.instrument_name: inst for inst in instruments}
        self._store = OrderStore(max_closed_orders)
        self._trade_ids: OrderedDict[str, None] = OrderedDict()
        self._fee_trade_ids: OrderedDict[str, None] = OrderedDict()  # trades whose fee is booked (LRU)
        self._fees_usd: dict[str, float] = {}
        self._max_trade_ids = max_trade_ids
        self._eps = amount_epsilon
        self._positions = PositionBook(instruments)
        self._ignored = 0
        self._version = 0
        self._last_updated: Order | None = None
        self._grace_ns = fill_report_grace_ns
        # local order key -> (first seen ns, reason): a reported filled_amount not yet explained by fills
        self._unexplained: dict[int, tuple[int, ResyncRequest]] = {}

    # -- requests we send ------------------------------------------------------------------------------

    def register_pending(self, insert: InsertOrder, ts_ns: int) -> Order:
        """Track an order as PENDING before its insert is sent; marks the insert in flight.

        Raises:
            InvalidValue: price or amount not positive and finite, or the client_order_id already tracked.
        """
        self._version += 1
        # the usual request passes one chained comparison each; the named checks only explain a failure
        if not (0.0 < insert.price < _INF and 0.0 < insert.amount < _INF and insert.client_order_id >= 0):
            where = f"InsertOrder({insert.client_order_id})"
            positive(f"{where}.price", insert.price)
            positive(f"{where}.amount", insert.amount)
            raise InvalidValue(f"{where}.client_order_id must be >= 0, was {insert.client_order_id}")
        order = Order(
            client_order_id=insert.client_order_id,
            instrument_name=insert.instrument_name,
            side=insert.side,
            price=insert.price,
            amount=insert.amount,
            created_ns=ts_ns,
            updated_ns=ts_ns,
            request_in_flight="insert",
            label=insert.label,
        )
        self._store.add(OrderEntry(order))
        return order

    def register_amend(self, amend: AmendOrder, ts_ns: int) -> Order:
        """Mark an amend in flight. Until it is acknowledged :meth:`open_amount` counts the larger of the old
        and the requested remaining amount.

        Raises:
            InvalidValue: bad price/amount, or the order is unknown.
            InvalidTransition: the order is closed or already has a request in flight.
        """
        self._version += 1
        if not (0.0 < amend.price < _INF and 0.0 < amend.amount < _INF):
            positive(f"AmendOrder({amend.client_order_id}).price", amend.price)
            positive(f"AmendOrder({amend.client_order_id}).amount", amend.amount)
        entry = self._entry_for_request(amend.client_order_id, amend.order_id, "amend")
        entry.order.request_in_flight = "amend"
        entry.order.updated_ns = ts_ns
        entry.order.amend_amount = amend.amount
        return entry.order

    def register_cancel(self, cancel: CancelOrder, ts_ns: int) -> Order:
        """Mark a cancel in flight (a cancel may replace an amend in flight: cancels take priority).

        Raises:
            InvalidValue: the order is unknown.
            InvalidTransition: the order is closed or already has an insert or cancel in flight.
        """
        self._version += 1
        entry = self._entry_for_request(cancel.client_order_id, cancel.order_id, "cancel")
        entry.order.request_in_flight = "cancel"
        entry.order.updated_ns = ts_ns
        return entry.order

    def on_request_failed(self, client_order_id: int, ts_ns: int, reason: str) -> Order | None:
        """The request in flight for this order got an error response.

        A failed insert of a still-PENDING order makes it REJECTED; a failed amend or cancel only clears the
        in-flight mark (Thalex error 1 "order not found" means the order closed: the feed will say how, so
        the order is not marked cancelled here). Returns the order, or None when it is not tracked.
        """
        self._version += 1
        entry = self._store.by_cid(client_order_id)
        if entry is None:
            return None
        order = entry.order
        if order.request_in_flight == "insert" and order.status is OrderStatus.PENDING:
            was_terminal = order.status.is_terminal
            order.status = next_status(order.status, OrderStatus.REJECTED)
            entry.reject_reason = reason
            self._store.status_changed(entry, was_terminal)
        order.request_in_flight = None
        order.amend_amount = None
        order.updated_ns = ts_ns
        return order

    # -- what the exchange says --------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate) -> list[TrackerEvent]:
        """Apply one exchange order update; returns the new fills and any ResyncRequest.

        Each :class:`OrderFill` not seen before (by trade_id, across all orders) becomes exactly one
        :class:`Fill`, even before the insert ack. A ``filled_amount`` above the fills seen for the order means
        fills were missed (ResyncRequest). An update for an unknown order is adopted; unless it is a snapshot
        entry (change_reason ``existing``) it also yields a ResyncRequest.
        """
        self._version += 1
        out: list[TrackerEvent] = []
        self._last_updated = self._apply(update, update.change_reason is ChangeReason.EXISTING, out).order
        if self._unexplained:
            out.extend(self.overdue_resyncs(update.ts_local_ns))
        return out

    def on_trade_fee(self, trade: Fill) -> bool:
        """Book the fee of one of our trades as the exchange reports it later (Thalex ``account.trade_history``:
        order notifications carry fills without fees). The position is not touched (the fill itself comes with
        the order update); realised PnL drops by ``trade.fee`` (USD), once per ``trade_id``. Returns False for a
        trade whose fee is already booked, that has no fee, or whose order is not one of ours (the account's trade
        history also holds the trades of other sessions' orders)."""
        if not trade.fee or trade.order_id is None or self._store.by_oid(trade.order_id) is None:
            return False
        if not _remember(self._fee_trade_ids, trade.trade_id, self._max_trade_ids):
            return False
        self._positions.book(trade.instrument_name).charge_fee(trade.fee)
        self._fees_usd[trade.instrument_name] = self._fees_usd.get(trade.instrument_name, 0.0) + trade.fee
        return True

    def fees_usd(self, instrument_name: str) -> float:
        """Fees booked for the instrument's trades (USD, positive = paid)."""
        return self._fees_usd.get(instrument_name, 0.0)

    def provisional_amount(self, instrument_name: str, side: Side) -> float:
        """Fills the exchange already counts in an order's ``filled_amount`` whose notifications have not arrived
        (underlying, one side): not in the position yet, no longer in the open book. Risk counts them as exposure
        until they arrive, or until the grace ends and a resync rebuilds the position."""
        if not self._unexplained:
            return 0.0
        total = 0.0
        for key in self._unexplained:
            entry = self._store.by_cid(key)
            if entry is not None and entry.order.instrument_name == instrument_name and entry.order.side is side:
                total += max(0.0, entry.order.filled_amount - entry.fills_amount)
        return total

    def overdue_resyncs(self, now_ns: int) -> list[ResyncRequest]:
        """ResyncRequests for reported fill amounts still unexplained ``fill_report_grace_ns`` after they were
        first seen (each reported once)."""
        overdue = [key for key, (since, _) in self._unexplained.items() if now_ns - since >= self._grace_ns]
        return [self._unexplained.pop(key)[1] for key in overdue]

    def on_open_orders_snapshot(
        self, updates: Sequence[OrderUpdate], ts_ns: int, instrument_names: Collection[str] | None = None
    ) -> list[TrackerEvent]:
        """Reconcile with the exchange's complete list of open orders (``private/open_orders`` or an orders
        channel snapshot), limited to ``instrument_names`` when given.

        Entries are applied as snapshot entries (unknown ones adopted without re-emitting their historical
        fills). Open orders we track that the snapshot lacks are closed (CANCELLED, or
        CANCELLED_PARTIALLY_FILLED if they had fills) and a ResyncRequest says so. PENDING orders are kept:
        their insert is in flight (the owner fails in-flight inserts with :meth:`on_request_failed` when the
        connection drops).
        """
        self._version += 1
        out: list[TrackerEvent] = []
        present: set[int] = set()
        for update in updates:
            if instrument_names is not None and update.instrument_name not in instrument_names:
                continue
            present.add(self._apply(update, True, out).order.client_order_id)
        for entry in self._store.all_open():
            order = entry.order
            if order.client_order_id in present or order.status is OrderStatus.PENDING:
                continue
            if instrument_names is not None and order.instrument_name not in instrument_names:
                continue
            was_terminal = order.status.is_terminal
            order.status = next_status(order.status, OrderStatus.CANCELLED)
            order.request_in_flight = None
            order.amend_amount = None
            order.updated_ns = ts_ns
            self._store.status_changed(entry, was_terminal)
            out.append(
                ResyncRequest(
                    f"order {order.order_id} (client_order_id {order.client_order_id}) is missing from the "
                    f"exchange's open orders; closed it as {order.status.value}",
                    ts_ns,
                    order.instrument_name,
                )
            )
        return out

    def on_portfolio(
        self, entries: Sequence[PortfolioEntry], ts_ns: int, complete: bool = False
    ) -> list[ResyncRequest]:
        """Compare our fill-derived positions with the exchange's; on a difference above half a volume tick,
        adopt the exchange's position (it is the truth) and emit a ResyncRequest naming both numbers.

        Only instruments given to the constructor are compared. ``complete=True`` (``private/portfolio``, a
        channel snapshot) means an instrument missing from ``entries`` has position 0.
        """
        self._version += 1
        return self._positions.reconcile(entries, ts_ns, complete)

    # -- queries -------------------------------------------------------------------------------------------

    def position(self, instrument_name: str) -> Position:
        """Our position in ``instrument_name``: signed amount (underlying), FIFO entry price and realised PnL
        (USD). A flat zero position for an instrument never traded."""
        return self._positions.position(instrument_name)

    def position_amount(self, instrument_name: str) -> float:
        """Signed position in the underlying (no snapshot object: for the tick path)."""
        return self._positions.amount(instrument_name)

    def open_orders(self, instrument_name: str) -> list[Order]:
        """PENDING, OPEN and PARTIALLY_FILLED orders of an instrument."""
        return [entry.order for entry in self._store.open_entries(instrument_name)]

    def order_by_client_id(self, client_order_id: int) -> Order | None:
        entry = self._store.by_cid(client_order_id)
        return entry.order if entry is not None else None

    def order_by_order_id(self, order_id: str) -> Order | None:
        entry = self._store.by_oid(order_id)
        return entry.order if entry is not None else None

    def rejection_reason(self, client_order_id: int) -> str | None:
        """The error text of a REJECTED order's failed insert."""
        entry = self._store.by_cid(client_order_id)
        return entry.reject_reason if entry is not None else None

    def open_amount(self, instrument_name: str, side: Side) -> float:
        """Sum of remaining amounts (underlying) of pending and resting orders of one side. With an amend in
        flight the larger of the current and requested remaining amount counts (LESSONS 10: as it will be).
        """
        total = 0.0
        for entry in self._store.open_entries(instrument_name):
            order = entry.order
            if order.side is side:
                total += order.exposure_amount
        return total

    @property
    def last_updated_order(self) -> Order | None:
        """The order the latest :meth:`on_order_update` applied to (matched, or adopted); None before any."""
        return self._last_updated

    @property
    def version(self) -> int:
        """Grows with every call that may change orders or positions: equal versions mean unchanged state."""
        return self._version

    @property
    def ignored_updates(self) -> int:
        """Count of stale, duplicate or backward status updates ignored so far."""
        return self._ignored

    @property
    def tracked_orders(self) -> int:
        """Orders held in memory (open plus the closed LRU)."""
        return len(self._store)

    @property
    def remembered_trade_ids(self) -> int:
        return len(self._trade_ids)

    # -- internals -----------------------------------------------------------------------------------------

    def _apply(self, update: OrderUpdate, snapshot: bool, out: list[TrackerEvent]) -> OrderEntry:
        entry = self._match(update)
        if entry is None:
            return self._adopt(update, snapshot, out)
        order = entry.order
        if order.order_id is None:
            self._store.set_order_id(entry, update.order_id)
        eps = self._eps
        for order_fill in update.fills:
            if self._first_seen(order_fill.trade_id):
                fill = Fill(
                    order_fill.trade_id, update.order_id, None if entry.adopted else order.client_order_id,
                    order.instrument_name, order.side, order_fill.price, order_fill.amount,
                    order_fill.maker_taker, order_fill.ts_exchange_ns, update.ts_local_ns,
                )
                entry.fills_amount += order_fill.amount
                self._positions.apply(fill)
                out.append(fill)
        key = order.client_order_id
        if update.filled_amount > entry.fills_amount + eps:
            resync = ResyncRequest(
                f"order {update.order_id}: filled_amount {update.filled_amount!r} exceeds the "
                f"{entry.fills_amount!r} of fills seen (missing fills)",
                update.ts_local_ns,
                order.instrument_name,
            )
            if self._grace_ns == 0:
                out.append(resync)
            elif key not in self._unexplained:
                self._unexplained[key] = (update.ts_local_ns, resync)
        elif key in self._unexplained and entry.fills_amount + eps >= order.filled_amount:
            del self._unexplained[key]  # the late fills arrived
        was_terminal = order.status.is_terminal
        stale = update.filled_amount < max(order.filled_amount, entry.fills_amount) - eps
        order.filled_amount = max(order.filled_amount, entry.fills_amount, update.filled_amount)
        try:
            new_status = next_status(order.status, update.status)
        except InvalidTransition:
            new_status = None
        if new_status is None or stale:
            self._ignored += 1
        else:
            order.status = new_status
            order.amount = update.amount
            if update.price is not None:
                order.price = update.price
            if update.delete_reason is not None:
                order.delete_reason = update.delete_reason
        if order.status is OrderStatus.CANCELLED and order.filled_amount > eps:
            order.status = next_status(order.status, OrderStatus.CANCELLED_PARTIALLY_FILLED)
        order.updated_ns = update.ts_local_ns
        self._clear_in_flight(entry, update)
        if order.status.is_terminal != was_terminal:
            self._store.status_changed(entry, was_terminal)
        return entry

    def _match(self, update: OrderUpdate) -> OrderEntry | None:
        # Our session's client_order_id first; it must not contradict what we know (an id from an older
        # session may collide), else fall back to the exchange order_id.
        if update.client_order_id is not None:
            entry = self._store.by_cid(update.client_order_id)
            if entry is not None and not entry.adopted:
                order = entry.order
                if (
                    (order.order_id is None or order.order_id == update.order_id)
                    and order.instrument_name == update.instrument_name
                    and order.side is update.side
                ):
                    return entry
        return self._store.by_oid(update.order_id)

    def _adopt(self, update: OrderUpdate, snapshot: bool, out: list[TrackerEvent]) -> OrderEntry:
        if not snapshot:
            out.append(
                ResyncRequest(
                    f"update ({update.change_reason.value}) for unknown order {update.order_id} "
                    f"(client_order_id {update.client_order_id}); adopted it",
                    update.ts_local_ns,
                    update.instrument_name,
                )
            )
        order = Order(
            client_order_id=self._store.new_local_key(),
            instrument_name=update.instrument_name,
            side=update.side,
            price=update.price if update.price is not None else 0.0,
            amount=update.amount,
            created_ns=update.ts_exchange_ns,
            order_id=update.order_id,
            filled_amount=update.filled_amount,
            status=update.status,
            updated_ns=update.ts_local_ns,
            delete_reason=update.delete_reason,
            label=update.label,
            mass_quote=update.client_order_id is None,  # ours without one: a mass quote level
        )
        entry = OrderEntry(order, adopted=True)
        for order_fill in update.fills:
            entry.fills_amount += order_fill.amount
            # A snapshot's fills are history already in the exchange's position: remember, don't re-emit.
            if self._first_seen(order_fill.trade_id) and not snapshot:
                fill = Fill(
                    order_fill.trade_id, update.order_id, update.client_order_id, update.instrument_name,
                    update.side, order_fill.price, order_fill.amount, order_fill.maker_taker,
                    order_fill.ts_exchange_ns, update.ts_local_ns,
                )
                self._positions.apply(fill)
                out.append(fill)
        self._store.add(entry)
        return entry

    @staticmethod
    def _clear_in_flight(entry: OrderEntry, update: OrderUpdate) -> None:
        order = entry.order
        kind = order.request_in_flight
        if kind is None:
            return
        reason = update.change_reason
        if (
            kind == "insert"  # any exchange report means the order exists
            or order.status.is_terminal
            or (kind == "amend" and reason is ChangeReason.AMEND)
            or (kind == "cancel" and reason is ChangeReason.CANCEL)
        ):
            order.request_in_flight = None
            order.amend_amount = None

    def _entry_for_request(self, client_order_id: int, order_id: str | None, kind: RequestKind) -> OrderEntry:
        entry = self._store.by_cid(client_order_id)
        if entry is None and order_id is not None:
            entry = self._store.by_oid(order_id)
        if entry is None:
            raise InvalidValue(f"{kind}: order client_order_id {client_order_id} / order_id {order_id} is not tracked")
        order = entry.order
        if order.status.is_terminal:
            raise InvalidTransition(f"{kind}: order {client_order_id} is {order.status.value}")
        in_flight = order.request_in_flight
        if in_flight is not None and not (kind == "cancel" and in_flight == "amend"):
            raise InvalidTransition(f"{kind}: order {client_order_id} already has a {in_flight} in flight")
        return entry

    def _first_seen(self, trade_id: str) -> bool:
        return _remember(self._trade_ids, trade_id, self._max_trade_ids)


def _remember(seen: OrderedDict[str, None], trade_id: str, capacity: int) -> bool:
    """Add ``trade_id`` to the LRU ``seen`` (at most ``capacity``); False when it was there already."""
    if trade_id in seen:
        seen.move_to_end(trade_id)
        return False
    seen[trade_id] = None
    if len(seen) > capacity:
        seen.popitem(last=False)
    return True
