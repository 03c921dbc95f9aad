"""Read side of the core: portfolio, open orders, histories, account summary, book and top of book, and the
market inputs (marks, collars) MARKET pushes in with ``set_market``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, cast

from .accounts import Account, account_summary, mark_sent, portfolio_entry
from .errors import INVALID_REQUEST, RpcError
from .exchange import Exchange
from .order import NS_PER_S, seconds
from .outbox import Outbox
from .types import Notification, Result, opt_int, opt_number, opt_str

HISTORY_MAX: Final = 1000
# api.yaml: order/trade history default window is the last 90 days.
_HISTORY_WINDOW_S: Final = 90 * 24 * 3600.0
# DIGEST 6.2: a portfolio line is re-sent when its mark moves more than 1 %.
PORTFOLIO_MARK_MOVE: Final = 0.01
BOOK_LEVELS_DEFAULT: Final = 5

Top = tuple[float | None, float, float | None, float]


class QueryMixin:
    """Query methods of :class:`~thalex_modular.emulator.engine.core.ExchangeCore`."""

    ex: Exchange

    # -- account --------------------------------------------------------------------------------------

    def _account_of(self, session_id: int) -> Account:
        return self.ex.accounts[self.ex.session(session_id).account]

    def portfolio(self, session_id: int, params: Mapping[str, object] | None = None) -> Result:
        """``private/portfolio``: PortfolioEntry[] of the session's account."""
        return self.portfolio_snapshot(self.ex.session(session_id).account), []

    def portfolio_snapshot(self, account: str) -> list[dict[str, object]]:
        """PortfolioEntry[] of every instrument the account holds or realised PnL on (``account.portfolio``)."""
        acct = self.ex.accounts.get(account)
        if acct is None:
            return []
        out = []
        for name in sorted(acct.positions):
            pos = acct.positions[name]
            if pos.lots or pos.realised:
                listing = self.ex.listings[name]
                mark_sent(pos, listing)
                out.append(portfolio_entry(pos, listing))
        return out

    def portfolio_as_of(self, account: str, as_of_s: float) -> list[dict[str, object]]:
        """:meth:`portfolio_snapshot` with each ``position`` as it was at sim time ``as_of_s`` (Unix s): the
        account's trades after it are not in it yet (the ``portfolio_lag_ms`` fault: a portfolio lagging the order
        feed). Only ``position`` goes back; the other fields are current."""
        acct = self.ex.accounts.get(account)
        if acct is None:
            return []
        before: dict[str, int] = {}  # instrument -> position (lots) before its earliest trade after as_of_s
        for trade in reversed(acct.trade_history):
            if cast(float, trade["time"]) <= as_of_s:
                break
            listing = self.ex.listings[cast(str, trade["instrument_name"])]
            step = listing.inst.volume_tick_size
            lots = round(cast(float, trade["amount"]) / step)
            after = round(cast(float, trade["position_after"]) / step)
            before[listing.name] = after - (lots if trade["direction"] == "buy" else -lots)
        out = []
        for entry in self.portfolio_snapshot(account):
            name = str(entry["instrument_name"])
            if name in before:
                entry = {**entry, "position": self.ex.listings[name].amount(before[name])}
            out.append(entry)
        return out

    def open_orders(self, session_id: int, params: Mapping[str, object] | None = None) -> Result:
        """``private/open_orders``: OrderStatus[] of all open orders of the account."""
        return self.account_orders_snapshot(self.ex.session(session_id).account), []

    def account_orders_snapshot(self, account: str, persistent_only: bool = False) -> list[dict[str, object]]:
        """Open orders of the account as ``existing`` OrderStatus (``account.orders`` /
        ``account.persistent_orders`` snapshot, all fills included)."""
        acct = self.ex.accounts.get(account)
        if acct is None:
            return []
        orders = sorted(acct.open_orders.values(), key=lambda o: o.seq)
        return [o.status_json("existing") for o in orders if o.persistent or not persistent_only]

    def session_orders_snapshot(self, session_id: int) -> list[dict[str, object]]:
        """Open orders of the session as ``existing`` OrderStatus (``session.orders`` snapshot)."""
        session = self.ex.sessions.get(session_id)
        if session is None:
            return []
        return [o.status_json("existing") for o in sorted(session.orders.values(), key=lambda o: o.seq)]

    def mm_protection_snapshot(self, session_id: int) -> list[dict[str, object]]:
        """Current protection groups of the session as ``session.mm_protection`` items (reason ``refill``)."""
        session = self.ex.sessions.get(session_id)
        if session is None:
            return []
        return [
            {"product": g.product, "remaining_amount": g.remaining_amount, "reason": "refill"}
            for g in session.protection.values()
        ]

    def account_summary(self, session_id: int, params: Mapping[str, object] | None = None) -> Result:
        """``private/account_summary``: AccountSummary."""
        return self.summary(self.ex.session(session_id).account), []

    def summary(self, account: str) -> dict[str, object]:
        """AccountSummary of ``account`` (for the periodic ``account.summary`` feed)."""
        return account_summary(self.ex.account(account), self.ex.listings, self.ex.config)

    def order_history(self, session_id: int, params: Mapping[str, object] | None = None) -> Result:
        """``private/order_history``: ``{orders: OrderHistory[], bookmark}`` by close_time (unfilled mass
        quotes excluded; fills capped at 8)."""
        acct = self._account_of(session_id)
        items, bookmark = self._page([o.history_json() for o in acct.order_history], "close_time", params or {})
        return {"orders": items, "bookmark": bookmark}, []

    def trade_history(self, session_id: int, params: Mapping[str, object] | None = None) -> Result:
        """``private/trade_history``: ``{trades: Trade[], bookmark}`` by trade time."""
        acct = self._account_of(session_id)
        items, bookmark = self._page(list(acct.trade_history), "time", params or {})
        return {"trades": items, "bookmark": bookmark}, []

    def _page(
        self, rows: list[dict[str, object]], time_key: str, params: Mapping[str, object]
    ) -> tuple[list[dict[str, object]], str | None]:
        now_s = seconds(self.ex.now_ns())
        limit = opt_int(params, "limit")
        limit = HISTORY_MAX if limit is None else limit
        if not 0 < limit <= HISTORY_MAX:
            raise RpcError(INVALID_REQUEST, f"invalid request: `limit` must be in [1, {HISTORY_MAX}], was {limit}")
        time_low = opt_number(params, "time_low")
        time_high = opt_number(params, "time_high")
        low = now_s - _HISTORY_WINDOW_S if time_low is None else time_low
        high = now_s if time_high is None else time_high
        sort = opt_str(params, "sort") or "descending"
        if sort not in ("ascending", "descending"):
            raise RpcError(INVALID_REQUEST, f"invalid request: `sort` must be ascending or descending, was {sort!r}")
        names_param = opt_str(params, "instrument_names")
        names = {n.strip() for n in names_param.split(",") if n.strip()} if names_param else None
        bookmark = opt_str(params, "bookmark")
        try:
            offset = int(bookmark) if bookmark else 0
        except ValueError:
            raise RpcError(INVALID_REQUEST, f"invalid request: `bookmark` {bookmark!r} is not ours") from None

        def keep(row: dict[str, object]) -> bool:
            stamp = row[time_key]
            assert isinstance(stamp, float)
            return low <= stamp <= high and (names is None or row.get("instrument_name") in names)

        selected = [row for row in rows if keep(row)]
        if sort == "descending":
            selected.reverse()
        page = selected[offset : offset + limit]
        more = offset + limit < len(selected)
        return page, str(offset + limit) if more else None

    # -- market data ----------------------------------------------------------------------------------

    def instrument_names(self) -> list[str]:
        """Names of every listed instrument."""
        return list(self.ex.listings)

    def book(self, instrument_name: str, nlevels: int | None = BOOK_LEVELS_DEFAULT) -> dict[str, object]:
        """``public/book`` result: ``{bids, asks, last?, time}``, levels ``[price, amount, outright_amount]``
        best first (``nlevels`` None: all levels). Raises 5 for an unknown instrument."""
        listing = self.ex.listing(instrument_name)
        book = self.ex.books[instrument_name]
        sides: list[list[list[float]]] = []
        for side in (book.bids, book.asks):
            levels: list[list[float]] = []
            for ticks, lots in side.iter_levels():
                if nlevels is not None and len(levels) >= nlevels:
                    break
                amount = listing.amount(lots)
                levels.append([listing.price(ticks), amount, amount])
            sides.append(levels)
        out: dict[str, object] = {"bids": sides[0], "asks": sides[1]}
        if listing.last_price is not None:
            out["last"] = listing.last_price
        out["time"] = seconds(book.update_ns or self.ex.now_ns())
        return out

    def top(self, instrument_name: str) -> Top:
        """``(best_bid_price, best_bid_amount, best_ask_price, best_ask_amount)``; a missing side is
        ``(None, 0.0)``. Prices USD, amounts in the underlying (the shape FlowAgents.step takes)."""
        listing = self.ex.listing(instrument_name)
        book = self.ex.books[instrument_name]
        bid, ask = book.bids.best(), book.asks.best()
        return (
            listing.price(bid) if bid is not None else None,
            listing.amount(book.bids.totals[bid]) if bid is not None else 0.0,
            listing.price(ask) if ask is not None else None,
            listing.amount(book.asks.totals[ask]) if ask is not None else 0.0,
        )

    def tops(self) -> dict[str, Top]:
        """:meth:`top` of every instrument."""
        return {name: self.top(name) for name in self.ex.listings}

    def recent_trades(self, instrument_name: str) -> list[list[object]]:
        """Last public trades (oldest first) as recent_trades rows ``[price, amount, taker_direction, time_s,
        instrument_name, False]``."""
        self.ex.listing(instrument_name)
        return list(self.ex.recent_trades[instrument_name])

    def last_price(self, instrument_name: str) -> float | None:
        """Price (USD) of the last trade, None before the first."""
        return self.ex.listing(instrument_name).last_price

    def open_interest(self, instrument_name: str) -> float:
        """Sum of long positions over all accounts (underlying)."""
        listing = self.ex.listing(instrument_name)
        lots = sum(max(0, acct.position_lots(instrument_name)) for acct in self.ex.accounts.values())
        return listing.amount(lots)

    def set_market(
        self,
        instrument_name: str,
        mark_price: float | None,
        index: float | None,
        collar_low: float | None,
        collar_high: float | None,
        iv: float | None = None,
    ) -> list[Notification]:
        """Marks and collars from MARKET (USD; ``iv`` per year, options). Re-sends portfolio lines whose mark
        moved more than 1 % since last sent (``account.portfolio``)."""
        ex = self.ex
        listing = ex.listing(instrument_name)
        listing.mark_price = mark_price
        listing.index_price = index
        listing.iv = iv
        listing.set_collar(collar_low, collar_high)
        if mark_price is None:
            return []
        out = Outbox()
        for acct in ex.accounts.values():
            if acct.internal:
                continue
            pos = acct.positions.get(instrument_name)
            if pos is None or pos.lots == 0:
                continue
            last = pos.last_sent_mark
            if last is None or abs(mark_price - last) > PORTFOLIO_MARK_MOVE * abs(last):
                out.position_changed(acct, listing)
        return ex.finish(out)


__all__ = ["NS_PER_S", "QueryMixin", "Top"]
