"""Exchange state and the matching primitives the RPC layer (``core``, ``quoting``) builds on.

Everything here is synchronous and deterministic: time comes from the ``now_ns`` callable, ids from counters.
Prices are integer ticks, amounts integer lots; JSON output converts through :class:`Listing`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from .accounts import Account, margin_notional, margin_rate, trade_funding
from .book import OrderBook
from .errors import INVALID_REQUEST, UNKNOWN_INSTRUMENT, RpcError
from .listing import Listing
from .order import EngineOrder, seconds
from .outbox import Outbox
from .sessions import Session
from .types import EngineConfig, InstrumentLike, Notification

# Thalex trade ids are 32 hex digits; ours are this prefix + a 28-digit counter (deterministic).
_TRADE_ID_PREFIX = "0080"


class Exchange:
    """Books, accounts, sessions and open orders of the emulated exchange, with matching and order closing."""

    def __init__(self, instruments: Iterable[InstrumentLike], now_ns: Callable[[], int], config: EngineConfig) -> None:
        self.config = config
        self.now_ns = now_ns
        self.listings: dict[str, Listing] = {}
        self.active: set[str] = set()
        self.books: dict[str, OrderBook] = {}
        self.recent_trades: dict[str, deque[list[object]]] = {}
        for spec in instruments:
            self.add_instrument(spec)
        self.accounts: dict[str, Account] = {}
        self.sessions: dict[int, Session] = {}
        self.agent_sessions: dict[str, Session] = {}
        self.orders: dict[str, EngineOrder] = {}
        # open reduce-only orders by (account, instrument): re-reduced when that position changes
        self.reduce_only: dict[tuple[str, str], dict[str, EngineOrder]] = {}
        self.pending_reduce: set[tuple[str, str]] = set()
        self.pending_protection: dict[tuple[int, str], float] = {}
        self._order_seq = 0
        self._trade_seq = 0

    # -- registry -------------------------------------------------------------------------------------

    def add_instrument(self, spec: InstrumentLike) -> None:
        """Register (or replace the spec of) an instrument; its book starts empty."""
        name = spec.instrument_name
        self.listings[name] = Listing(spec)
        self.active.add(name)
        if name not in self.books:
            self.books[name] = OrderBook()
            self.recent_trades[name] = deque(maxlen=self.config.recent_trades_limit)

    @property
    def products(self) -> set[str]:
        return {listing.product for listing in self.listings.values()}

    def listing(self, name: str | None) -> Listing:
        """The listing called ``name``; raises 5 for an unknown or missing name."""
        listing = self.listings.get(name) if name is not None else None
        if listing is None:
            raise RpcError(UNKNOWN_INSTRUMENT, f"unknown instrument: `instrument_name` {name!r}")
        return listing

    def tradable(self, name: str | None) -> Listing:
        """The listing called ``name`` if it is active (not deactivated); raises 5 otherwise."""
        listing = self.listing(name)
        if listing.name not in self.active:
            raise RpcError(UNKNOWN_INSTRUMENT, f"unknown instrument: `instrument_name` {name!r} is not active")
        return listing

    def session(self, session_id: int) -> Session:
        """The open session ``session_id``; raises 6 if there is none."""
        session = self.sessions.get(session_id)
        if session is None:
            raise RpcError(INVALID_REQUEST, f"invalid request: unknown session {session_id!r}")
        return session

    def account(self, number: str, internal: bool = False) -> Account:
        """The account ``number``, created with the initial balance on first use."""
        account = self.accounts.get(number)
        if account is None:
            account = Account(number, self.config, internal=internal)
            self.accounts[number] = account
        return account

    # -- orders ---------------------------------------------------------------------------------------

    def new_order(
        self,
        *,
        account: Account,
        session: Session | None,
        listing: Listing,
        is_buy: bool,
        market: bool,
        ioc: bool,
        price_ticks: int | None,
        amount_lots: int,
        label: str | None = None,
        client_order_id: int | None = None,
        persistent: bool = True,
        post_only: bool = False,
        reduce_only: bool = False,
        is_quote: bool = False,
    ) -> EngineOrder:
        """Create and register an open order (not yet in the book)."""
        self._order_seq += 1
        seq = self._order_seq
        order = EngineOrder(
            seq=seq,
            order_id=f"{seq:016X}",
            account=account.number,
            session_id=session.session_id if session is not None else None,
            listing=listing,
            is_buy=is_buy,
            market=market,
            ioc=ioc,
            price_ticks=price_ticks,
            amount_lots=amount_lots,
            label=label,
            client_order_id=client_order_id,
            persistent=persistent,
            post_only=post_only,
            reduce_only=reduce_only,
            is_quote=is_quote,
            create_ns=self.now_ns(),
        )
        self.orders[order.order_id] = order
        account.open_orders[order.order_id] = order
        if session is not None:
            session.orders[order.order_id] = order
            if client_order_id is not None:
                session.by_client_id[client_order_id] = order
        if reduce_only:
            self.reduce_only.setdefault((account.number, listing.name), {})[order.order_id] = order
        return order

    def order_margin(self, listing: Listing, lots: int, price_ticks: int | None) -> float:
        """Initial margin (USD) of ``lots`` working at ``price_ticks`` (the mark for a market order)."""
        if lots <= 0:
            return 0.0
        price = listing.price(price_ticks) if price_ticks is not None else listing.reference_price(0.0)
        return margin_notional(listing, listing.amount(lots), price) * margin_rate(listing, self.config)

    def refresh_margin(self, order: EngineOrder, account: Account) -> None:
        """Re-charge the order's initial margin (USD) to its account after a change of size, price or rest."""
        new = self.order_margin(order.listing, order.remaining_lots, order.price_ticks) if order.resting else 0.0
        account.open_margin += new - order.margin_usd
        order.margin_usd = new

    def rest(self, order: EngineOrder, out: Outbox) -> None:
        """Put an open order at the back of its price level."""
        self.books[order.listing.name].side(order.is_buy).add(order)
        order.resting = True
        self.refresh_margin(order, self.accounts[order.account])
        out.book_changed(order.listing)

    def unrest(self, order: EngineOrder, out: Outbox) -> None:
        """Take a resting order out of the book (it stays open)."""
        if order.resting:
            self.books[order.listing.name].side(order.is_buy).remove(order, order.remaining_lots)
            order.resting = False
            self.refresh_margin(order, self.accounts[order.account])
            out.book_changed(order.listing)

    def close(self, order: EngineOrder, delete_reason: str, out: Outbox, change_reason: str | None) -> None:
        """Close an open order: out of the book and every map, into history; emit an update unless
        ``change_reason`` is None (the caller builds the update itself)."""
        self.unrest(order, out)
        order.close_ns = self.now_ns()
        order.delete_reason = delete_reason
        order_id = order.order_id
        account = self.accounts[order.account]
        del self.orders[order_id]
        del account.open_orders[order_id]
        session = self.sessions.get(order.session_id) if order.session_id is not None else None
        if session is not None:
            session.orders.pop(order_id, None)
            if order.client_order_id is not None and session.by_client_id.get(order.client_order_id) is order:
                del session.by_client_id[order.client_order_id]
            if order.is_quote:
                quotes = session.quotes.get((order.listing.name, order.is_buy))
                if quotes is not None and order in quotes:
                    quotes.remove(order)
        if order.reduce_only:
            self.reduce_only.get((order.account, order.listing.name), {}).pop(order_id, None)
        if change_reason is not None:
            out.order(order, account, change_reason)
        out.closed(order, account)

    def cross_price(self, order: EngineOrder) -> int | None:
        """Best opposite price in ticks if ``order``'s limit would trade against it, else None."""
        best = self.books[order.listing.name].opposite(order.is_buy).best()
        price = order.price_ticks
        if best is None or price is None:
            return best if price is None else None
        crosses = price >= best if order.is_buy else price <= best
        return best if crosses else None

    def execute_new(self, order: EngineOrder, limit: int | None, reject_post_only: bool, out: Outbox) -> None:
        """Post-only handling, matching up to ``limit`` ticks, then rest, or cancel the remainder of an IOC or
        market order (``immediate_cancel``). Emits no update for ``order`` itself; the caller builds it."""
        if order.post_only:
            best = self.cross_price(order)
            if best is not None:
                adjusted = best - 1 if order.is_buy else best + 1
                if reject_post_only or adjusted <= 0:
                    self.close(order, "immediate_cancel", out, None)
                    return
                order.price_ticks = limit = adjusted
        self.match(order, limit, out)
        if order.filled_lots >= order.amount_lots:
            self.close(order, "filled", out, None)
        elif order.ioc or order.market:
            self.close(order, "immediate_cancel", out, None)
        else:
            self.rest(order, out)

    # -- matching -------------------------------------------------------------------------------------

    def match(self, taker: EngineOrder, limit_ticks: int | None, out: Outbox) -> None:
        """Trade ``taker`` against the opposite side in price-time priority up to ``limit_ticks`` (None: any
        price). Fully filled makers are closed; the taker is left for the caller to close or rest."""
        listing = taker.listing
        side = self.books[listing.name].opposite(taker.is_buy)
        is_buy = taker.is_buy
        while taker.filled_lots < taker.amount_lots:
            best = side.best()
            if best is None or (limit_ticks is not None and (best > limit_ticks if is_buy else best < limit_ticks)):
                return
            queue = side.levels[best]
            while queue and taker.filled_lots < taker.amount_lots:
                maker = queue[0]
                lots = min(maker.amount_lots - maker.filled_lots, taker.amount_lots - taker.filled_lots)
                self._execute(maker, taker, best, lots, out)
                side.reduce(best, lots)
                maker_account = self.accounts[maker.account]
                if maker.filled_lots >= maker.amount_lots:
                    queue.popleft()
                    maker.resting = False
                    self.refresh_margin(maker, maker_account)
                    self.close(maker, "filled", out, "fill")
                else:
                    self.refresh_margin(maker, maker_account)
                    out.order(maker, maker_account, "fill")
            if not queue:
                side.pop_front_if_done(best)
            out.book_changed(listing)

    def fee(self, listing: Listing, maker: bool, price: float, amount: float) -> tuple[float, float]:
        """``(fee_rate, fee_usd)`` of a fill (see :class:`FeeConfig`)."""
        fees = self.config.fees
        if listing.is_option:
            rate = (fees.option_maker_bps if maker else fees.option_taker_bps) * 1e-4
            base = listing.index_price * amount if listing.index_price is not None else price * amount
            return rate, min(rate * base, fees.option_fee_cap * price * amount)
        rate = (fees.maker_bps if maker else fees.taker_bps) * 1e-4
        return rate, rate * price * amount

    def _execute(self, maker: EngineOrder, taker: EngineOrder, price_ticks: int, lots: int, out: Outbox) -> None:
        listing = maker.listing
        price = listing.price(price_ticks)
        amount = listing.amount(lots)
        now_s = seconds(self.now_ns())
        maker.filled_lots += lots
        taker.filled_lots += lots
        lot_size = listing.inst.volume_tick_size
        for order, is_maker in ((maker, True), (taker, False)):
            account = self.accounts[order.account]
            pos = account.position(listing.name)
            signed = lots if order.is_buy else -lots
            funding = trade_funding(pos, signed, listing)
            realised = pos.apply(signed, price, lot_size)
            rate, fee = self.fee(listing, is_maker, price, amount)
            funding_pnl = funding if funding is not None else 0.0
            account.balance += realised + funding_pnl - fee
            account.fees_paid += fee
            account.realised += realised + funding_pnl
            pos.fees += fee
            if order.is_quote and order.session_id is not None:
                key = (order.session_id, listing.product)
                self.pending_protection[key] = self.pending_protection.get(key, 0.0) + amount
            if account.internal:
                continue
            if (account.number, listing.name) in self.reduce_only:
                self.pending_reduce.add((account.number, listing.name))
            self._trade_seq += 1
            trade_id = f"{_TRADE_ID_PREFIX}{self._trade_seq:028X}"
            maker_taker = "maker" if is_maker else "taker"
            fill: dict[str, object] = {
                "trade_id": trade_id,
                "price": price,
                "amount": amount,
                "time": now_s,
                "maker_taker": maker_taker,
                "leg_index": 0,
            }
            order.fills.append(fill)
            order.new_fills.append(fill)
            trade: dict[str, object] = {
                "trade_type": "normal",
                "trade_id": trade_id,
                "order_id": order.order_id,
                "instrument_name": listing.name,
                "direction": "buy" if order.is_buy else "sell",
                "price": price,
                "amount": amount,
                "time": now_s,
                "position_after": listing.amount(pos.lots),
                "session_realised_after": pos.realised,
                "position_pnl": realised,
                "fee": fee,
                "fee_rate": rate,
                "maker_taker": maker_taker,
                "leg_index": 0,
            }
            if funding is not None:
                trade["perpetual_funding_pnl"] = funding
            if order.label is not None:
                trade["label"] = order.label
            if order.client_order_id is not None:
                trade["client_order_id"] = order.client_order_id
            if listing.index_price is not None:
                trade["index"] = listing.index_price
            out.trade(account, trade)
            out.position_changed(account, listing)
        row: list[object] = [price, amount, "buy" if taker.is_buy else "sell", now_s, listing.name, False]
        self.recent_trades[listing.name].append(row)
        out.public_trade(listing, row)
        listing.last_price = price

    def finish(self, out: Outbox) -> list[Notification]:
        """Stamp the changed books with the current time and return the request's notifications."""
        if out.books:
            now = self.now_ns()
            for name in out.books:
                self.books[name].update_ns = now
        return out.flush()

    # -- deferred effects of trades -------------------------------------------------------------------

    def settle(self, out: Outbox) -> None:
        """After a request's matching: charge MM protection groups (cancelling tripped groups' quotes) and
        re-reduce resting reduce-only orders whose position changed."""
        if self.pending_protection:
            pending, self.pending_protection = self.pending_protection, {}
            for (session_id, product), amount in pending.items():
                session = self.sessions.get(session_id)
                group = session.protection.get(product) if session is not None else None
                if session is None or group is None:
                    continue
                group.remaining_amount -= amount
                out.mm_protection(session_id, product, group.remaining_amount, "executions")
                if group.tripped:
                    self.cancel_quotes(session, product, "mm_protection", out)
        if self.pending_reduce:
            pending_keys, self.pending_reduce = self.pending_reduce, set()
            for number, name in sorted(pending_keys):
                self._re_reduce(number, name, out)

    def _re_reduce(self, number: str, name: str, out: Outbox) -> None:
        orders = self.reduce_only.get((number, name))
        if not orders:
            return
        account = self.accounts[number]
        position = account.position_lots(name)
        for order in sorted(orders.values(), key=lambda o: o.seq):
            if position == 0 or (order.is_buy == (position > 0)):
                self.close(order, "admin_cancel", out, "cancel")
            elif order.remaining_lots > abs(position):
                cut = order.remaining_lots - abs(position)
                if order.resting:
                    assert order.price_ticks is not None
                    self.books[name].side(order.is_buy).reduce(order.price_ticks, cut)
                    out.book_changed(order.listing)
                order.amount_lots -= cut
                self.refresh_margin(order, account)
                out.order(order, account, "amend")

    def cancel_quotes(self, session: Session, product: str | None, delete_reason: str, out: Outbox) -> int:
        """Cancel the session's live mass quotes on ``product`` (all products if None); returns how many."""
        count = 0
        for (name, _is_buy), quotes in list(session.quotes.items()):
            if product is not None and self.listings[name].product != product:
                continue
            for order in list(quotes):
                self.close(order, delete_reason, out, "cancel")
                count += 1
        return count
