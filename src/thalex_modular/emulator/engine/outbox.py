"""Collects what one request changed and turns it into :class:`Notification` objects, one per channel and key."""

from __future__ import annotations

from .accounts import Account, mark_sent, portfolio_entry
from .listing import Listing
from .order import EngineOrder
from .types import Notification


class Outbox:
    """Per-request buffer of order updates, trades, portfolio changes, protection updates and public events.

    Order-update dicts are built once (``EngineOrder.status_json`` consumes the order's new fills), so the RPC
    result and the notifications carry the same object.
    """

    __slots__ = (
        "account_orders",
        "books",
        "persistent_orders",
        "portfolio",
        "protection",
        "public_trades",
        "session_orders",
        "trades",
    )

    def __init__(self) -> None:
        self.session_orders: dict[int, list[dict[str, object]]] = {}
        self.account_orders: dict[str, list[dict[str, object]]] = {}
        self.persistent_orders: dict[str, list[dict[str, object]]] = {}
        self.trades: dict[str, list[dict[str, object]]] = {}
        self.portfolio: dict[str, dict[str, tuple[Account, Listing]]] = {}
        self.protection: dict[int, list[dict[str, object]]] = {}
        self.public_trades: dict[str, list[list[object]]] = {}
        self.books: dict[str, None] = {}

    def order(self, order: EngineOrder, account: Account, change_reason: str) -> dict[str, object]:
        """Record an update of ``order`` and return its OrderStatus JSON."""
        status = order.status_json(change_reason)
        if account.internal:
            return status
        if order.session_id is not None:
            self.session_orders.setdefault(order.session_id, []).append(status)
        number = account.number
        self.account_orders.setdefault(number, []).append(status)
        if order.persistent:
            self.persistent_orders.setdefault(number, []).append(status)
        return status

    def closed(self, order: EngineOrder, account: Account) -> None:
        """An order closed: keep it for ``order_history`` (unfilled mass quotes excluded). The JSON is built
        when queried; no ``account.order_history`` notification is sent (Thalex sends it late, from its DB)."""
        if account.internal or (order.is_quote and order.filled_lots == 0):
            return
        account.order_history.append(order)

    def trade(self, account: Account, trade: dict[str, object]) -> None:
        if account.internal:
            return
        account.trade_history.append(trade)
        self.trades.setdefault(account.number, []).append(trade)

    def position_changed(self, account: Account, listing: Listing) -> None:
        if not account.internal:
            self.portfolio.setdefault(account.number, {})[listing.name] = (account, listing)

    def public_trade(self, listing: Listing, row: list[object]) -> None:
        self.public_trades.setdefault(listing.name, []).append(row)

    def book_changed(self, listing: Listing) -> None:
        self.books[listing.name] = None

    def mm_protection(self, session_id: int, product: str, remaining: float, reason: str) -> None:
        entry: dict[str, object] = {"product": product, "remaining_amount": remaining, "reason": reason}
        self.protection.setdefault(session_id, []).append(entry)

    def flush(self) -> list[Notification]:
        """All notifications of the request, private first, then public trades, then book changes."""
        out: list[Notification] = []
        for session_id, items in self.session_orders.items():
            out.append(Notification("session", session_id, "session.orders", items))
        for number, items in self.account_orders.items():
            out.append(Notification("account", number, "account.orders", items))
        for number, items in self.persistent_orders.items():
            out.append(Notification("account", number, "account.persistent_orders", items))
        for number, changed in self.portfolio.items():
            entries = []
            for account, listing in changed.values():
                pos = account.position(listing.name)
                mark_sent(pos, listing)
                entries.append(portfolio_entry(pos, listing))
            out.append(Notification("account", number, "account.portfolio", entries))
        for number, items in self.trades.items():
            out.append(Notification("account", number, "account.trade_history", items))
        for session_id, items in self.protection.items():
            out.append(Notification("session", session_id, "session.mm_protection", items))
        for name, rows in self.public_trades.items():
            out.append(Notification("public", name, "trades", rows))
        for name in self.books:
            out.append(Notification("public", name, "book", None))
        return out
