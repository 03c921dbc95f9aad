"""``ExchangeCore``: the synchronous Thalex exchange behind the emulator's websocket server.

Each RPC method takes the session id and the JSON-RPC ``params`` (types already checked by the server), returns
``(result_json, notifications)`` and raises :class:`RpcError` for Thalex errors. Semantics follow api.yaml and
``shared/thalex-api/DIGEST.md`` 4.3-4.5 and 8; choices where Thalex is silent are in ``docs/emulator.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from . import funding, queries, quoting
from .accounts import Account, required_margin, total_unrealised
from .errors import (
    DUPLICATE_ORDER_ID,
    INSUFFICIENT_MARGIN,
    INVALID_REQUEST,
    INVALID_TIME_IN_FORCE,
    ORDER_NOT_FOUND,
    PERSISTENT_SESSION,
    PRICE_COLLAR_BREACH,
    UNBOUNDED_MARKET_ORDER,
    RpcError,
)
from .exchange import Exchange
from .listing import Listing
from .order import EngineOrder
from .outbox import Outbox
from .sessions import Session
from .types import EngineConfig, InstrumentLike, Notification, Result, opt_bool, opt_int, opt_number, opt_str

_U64_MAX = 2**64 - 1
_COLLARS = ("ignore", "reject", "clamp")


class ExchangeCore(queries.QueryMixin, quoting.QuotingMixin, funding.FundingMixin):
    """The emulated exchange: instruments, books, matching, accounts, sessions, mass quotes, perpetual funding.

    Args:
        instruments: InstrumentSpecs (api.yaml Instrument) of every tradable instrument.
        now_ns: the time source (int ns since the epoch; simulated or wall clock, chosen by the caller).
        config: fees, initial balance, margin rates, history sizes.
    """

    def __init__(
        self,
        instruments: Iterable[InstrumentLike],
        now_ns: Callable[[], int],
        config: EngineConfig | None = None,
    ) -> None:
        self.ex = Exchange(instruments, now_ns, config or EngineConfig())
        self._next_session = 0

    # -- instruments ----------------------------------------------------------------------------------

    def add_instrument(self, spec: InstrumentLike) -> None:
        """List a new instrument (e.g. a new option expiry); its book starts empty."""
        self.ex.add_instrument(spec)

    def deactivate_instrument(self, instrument_name: str) -> list[Notification]:
        """Delist an instrument (expiry): its open orders are deleted with ``instrument_deactivated``.
        Positions stay (settlement is not modelled)."""
        ex = self.ex
        ex.listing(instrument_name)
        out = Outbox()
        for order in sorted(ex.orders.values(), key=lambda o: o.seq):
            if order.listing.name == instrument_name:
                ex.close(order, "instrument_deactivated", out, "cancel")
        ex.active.discard(instrument_name)
        return ex.finish(out)

    # -- sessions -------------------------------------------------------------------------------------

    def open_session(self, account: str) -> int:
        """Start a session (a logged-in connection) for ``account``; returns its id."""
        self._next_session += 1
        session = Session(self._next_session, self.ex.account(account).number)
        self.ex.sessions[session.session_id] = session
        return session.session_id

    def session_account(self, session_id: int) -> str:
        """Account number of a session."""
        return self.ex.session(session_id).account

    def close_session(self, session_id: int) -> list[Notification]:
        """The connection ended: delete the session's non-persistent orders (``session_end``), drop its
        protection groups and the session. Persistent orders stay (they are account orders)."""
        session = self.ex.sessions.get(session_id)
        if session is None:
            return []
        out = Outbox()
        self._end_session(session, out)
        del self.ex.sessions[session_id]
        return self.ex.finish(out)

    def _end_session(self, session: Session, out: Outbox) -> None:
        for order in sorted(session.orders.values(), key=lambda o: o.seq):
            if not order.persistent:
                self.ex.close(order, "session_end", out, "cancel")
        for product in sorted(session.protection):
            out.mm_protection(session.session_id, product, 0.0, "session_end")
        session.protection.clear()

    def set_cancel_on_disconnect(self, session_id: int, params: Mapping[str, object]) -> Result:
        """``private/set_cancel_on_disconnect``: orders inserted from now on are non-persistent.
        The heartbeat (``timeout_secs``) is the server's business. Result ``{message_rate}``."""
        timeout = opt_int(params, "timeout_secs")
        if timeout is None or timeout <= 0:
            raise RpcError(INVALID_REQUEST, f"invalid request: `timeout_secs` must be an integer > 0, was {timeout!r}")
        self.ex.session(session_id).cancel_on_disconnect = True
        return {"message_rate": self.ex.config.cod_message_rate}, []

    def cancel_session(self, session_id: int, params: Mapping[str, object] | None = None) -> Result:
        """``private/cancel_session``: as if the connection dropped, but the session stays. Error 52 on a
        persistent session (no ``set_cancel_on_disconnect``)."""
        session = self.ex.session(session_id)
        if not session.cancel_on_disconnect:
            raise RpcError(PERSISTENT_SESSION, "persistent session: cancel_session needs set_cancel_on_disconnect")
        out = Outbox()
        self._end_session(session, out)
        return None, self.ex.finish(out)

    # -- trading --------------------------------------------------------------------------------------

    def insert(self, session_id: int, params: Mapping[str, object]) -> Result:
        """``private/insert`` (``direction`` required). Result: the order's OrderStatus after matching."""
        direction = params.get("direction")
        if direction not in ("buy", "sell"):
            raise RpcError(INVALID_REQUEST, f"invalid request: `direction` must be buy or sell, was {direction!r}")
        return self._insert(self.ex.session(session_id), direction == "buy", params)

    def buy(self, session_id: int, params: Mapping[str, object]) -> Result:
        """``private/buy``: insert with direction buy."""
        return self._insert(self.ex.session(session_id), True, params)

    def sell(self, session_id: int, params: Mapping[str, object]) -> Result:
        """``private/sell``: insert with direction sell."""
        return self._insert(self.ex.session(session_id), False, params)

    def _insert(self, session: Session, is_buy: bool, params: Mapping[str, object]) -> Result:
        ex = self.ex
        if params.get("legs") is not None:
            raise RpcError(INVALID_REQUEST, "invalid request: combination orders (`legs`) are not supported")
        listing = ex.tradable(opt_str(params, "instrument_name"))
        order_type = opt_str(params, "order_type") or "limit"
        if order_type not in ("limit", "market"):
            raise RpcError(
                INVALID_REQUEST, f"invalid request: `order_type` must be limit or market, was {order_type!r}"
            )
        market = order_type == "market"
        tif = opt_str(params, "time_in_force") or ("immediate_or_cancel" if market else "good_till_cancelled")
        if tif not in ("good_till_cancelled", "immediate_or_cancel"):
            raise RpcError(INVALID_REQUEST, f"invalid request: `time_in_force` unknown value {tif!r}")
        ioc = tif == "immediate_or_cancel"
        post_only = opt_bool(params, "post_only")
        reject_post_only = opt_bool(params, "reject_post_only")
        reduce_only = opt_bool(params, "reduce_only")
        if market and not ioc:
            raise RpcError(INVALID_TIME_IN_FORCE, "invalid time in force: a market order must be immediate_or_cancel")
        if post_only and (ioc or market):
            raise RpcError(INVALID_TIME_IN_FORCE, "invalid time in force: post_only needs a good_till_cancelled limit")
        price = opt_number(params, "price")
        if price is None and not market:
            raise RpcError(INVALID_REQUEST, "invalid request: `price` is required for limit orders")
        price_ticks = listing.price_ticks(price) if price is not None else None
        amount = opt_number(params, "amount")
        if amount is None:
            raise RpcError(INVALID_REQUEST, "invalid request: `amount` is required")
        lots = listing.amount_lots(amount)
        limit = self._collar(listing, is_buy, price_ticks, opt_str(params, "collar"), market)
        label = _label(params)
        client_order_id = _client_order_id(params)
        if client_order_id is not None and client_order_id in session.by_client_id:
            raise RpcError(DUPLICATE_ORDER_ID, f"duplicate order id: `client_order_id` {client_order_id} is in use")
        account = ex.accounts[session.account]
        if reduce_only:
            lots = _reduce_only_lots(account, listing, is_buy, lots)
        if price_ticks is not None:
            price_ticks = limit
        self._require_margin(account, ex.order_margin(listing, lots, limit))
        order = ex.new_order(
            account=account,
            session=session,
            listing=listing,
            is_buy=is_buy,
            market=market,
            ioc=ioc,
            price_ticks=price_ticks,
            amount_lots=lots,
            label=label,
            client_order_id=client_order_id,
            persistent=not session.cancel_on_disconnect,
            post_only=post_only,
            reduce_only=reduce_only,
        )
        order.reject_post_only = reject_post_only
        out = Outbox()
        self.ex.execute_new(order, limit, reject_post_only, out)
        status = out.order(order, account, "insert")
        ex.settle(out)
        return status, self.ex.finish(out)

    def _collar(
        self, listing: Listing, is_buy: bool, price_ticks: int | None, collar: str | None, market: bool
    ) -> int | None:
        """Apply the price collar; returns the effective limit in ticks (None: unbounded market order)."""
        collar = collar or ("clamp" if market else "reject")
        if collar not in _COLLARS:
            raise RpcError(INVALID_REQUEST, f"invalid request: `collar` must be one of {_COLLARS}, was {collar!r}")
        if collar == "ignore":
            if market:
                raise RpcError(UNBOUNDED_MARKET_ORDER, "unbounded market order: `collar` ignore is not allowed")
            return price_ticks
        bound = listing.collar_high_ticks if is_buy else listing.collar_low_ticks
        if bound is None:
            return price_ticks
        breach = price_ticks is None or (price_ticks > bound if is_buy else price_ticks < bound)
        if not breach:
            return price_ticks
        if collar == "reject":
            name = "collar_high" if is_buy else "collar_low"
            raise RpcError(
                PRICE_COLLAR_BREACH,
                f"price collar breach: `price` {listing.price(price_ticks or 0)} beyond {name} {listing.price(bound)}",
            )
        return bound

    def _require_margin(self, account: Account, extra: float) -> None:
        """Error 24 if ``extra`` USD of initial margin on top of the account's would exceed its margin."""
        if account.internal:
            return
        ex = self.ex
        required = required_margin(account, ex.listings, ex.config) + extra
        margin = account.balance + total_unrealised(account, ex.listings)
        if required > margin:
            raise RpcError(
                INSUFFICIENT_MARGIN,
                f"insufficient margin: required_margin {required:.2f} USD would exceed margin {margin:.2f} USD",
            )

    def _find(self, session: Session, params: Mapping[str, object]) -> EngineOrder:
        """The open order named by ``order_id`` (account-wide) XOR ``client_order_id`` (this session)."""
        order_id = opt_str(params, "order_id")
        client_order_id = opt_int(params, "client_order_id")
        if (order_id is None) == (client_order_id is None):
            raise RpcError(INVALID_REQUEST, "invalid request: give exactly one of `order_id` or `client_order_id`")
        if order_id is not None:
            order = self.ex.orders.get(order_id)
            if order is None or order.account != session.account:
                raise RpcError(ORDER_NOT_FOUND, f"order not found: `order_id` {order_id!r}")
            return order
        assert client_order_id is not None
        found = session.by_client_id.get(client_order_id)
        if found is None:
            raise RpcError(ORDER_NOT_FOUND, f"order not found: `client_order_id` {client_order_id!r}")
        return found

    def amend(self, session_id: int, params: Mapping[str, object]) -> Result:
        """``private/amend``: ``amount`` is the new total; at or below the filled amount the order is cancelled.
        Same price and a smaller amount keep queue priority; any other change re-queues (and may trade)."""
        ex = self.ex
        session = self.ex.session(session_id)
        order = self._find(session, params)
        listing = order.listing
        price = opt_number(params, "price")
        amount = opt_number(params, "amount")
        if price is None or amount is None:
            raise RpcError(INVALID_REQUEST, "invalid request: `price` and `amount` are required")
        price_ticks = listing.price_ticks(price)
        lots = listing.amount_lots(amount)
        limit = self._collar(listing, order.is_buy, price_ticks, opt_str(params, "collar"), market=False)
        assert limit is not None
        account = ex.accounts[order.account]
        if order.reduce_only:
            lots = min(lots, order.filled_lots + abs(account.position_lots(listing.name)))
        out = Outbox()
        if lots <= order.filled_lots:
            ex.close(order, "client_cancel", out, None)
        elif limit == order.price_ticks and lots <= order.amount_lots:
            cut = order.amount_lots - lots
            if cut and order.resting:
                ex.books[listing.name].side(order.is_buy).reduce(limit, cut)
                out.book_changed(listing)
            order.amount_lots = lots
            ex.refresh_margin(order, account)
        else:
            extra = ex.order_margin(listing, lots - order.filled_lots, limit) - order.margin_usd
            if extra > 0.0:
                self._require_margin(account, extra)
            ex.unrest(order, out)
            order.price_ticks = limit
            order.amount_lots = lots
            self.ex.execute_new(order, limit, order.reject_post_only, out)
        status = out.order(order, account, "amend")
        ex.settle(out)
        return status, self.ex.finish(out)

    def cancel(self, session_id: int, params: Mapping[str, object]) -> Result:
        """``private/cancel``: the final OrderStatus (delete_reason ``client_cancel``); error 1 if not open."""
        session = self.ex.session(session_id)
        order = self._find(session, params)
        out = Outbox()
        self.ex.close(order, "client_cancel", out, None)
        status = out.order(order, self.ex.accounts[order.account], "cancel")
        return status, self.ex.finish(out)

    def cancel_all(self, session_id: int, params: Mapping[str, object] | None = None) -> Result:
        """``private/cancel_all``: every open order of the account, mass quotes included
        (``client_bulk_cancel``). Result: the number deleted."""
        session = self.ex.session(session_id)
        account = self.ex.accounts[session.account]
        out = Outbox()
        orders = sorted(account.open_orders.values(), key=lambda o: o.seq)
        for order in orders:
            self.ex.close(order, "client_bulk_cancel", out, "cancel")
        return len(orders), self.ex.finish(out)


def _label(params: Mapping[str, object]) -> str | None:
    value = params.get("label")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RpcError(INVALID_REQUEST, f"invalid request: `label` must be a string, was {value!r}")
    return str(value)


def _client_order_id(params: Mapping[str, object]) -> int | None:
    value = opt_int(params, "client_order_id")
    if value is not None and not 0 <= value <= _U64_MAX:
        raise RpcError(INVALID_REQUEST, f"invalid request: `client_order_id` must be in [0, 2^64-1], was {value}")
    return value


def _reduce_only_lots(account: Account, listing: Listing, is_buy: bool, lots: int) -> int:
    """Cut a reduce-only order to the position; flat or position-increasing orders are refused (code 6)."""
    position = account.position_lots(listing.name)
    if position == 0 or (position > 0) == is_buy:
        raise RpcError(
            INVALID_REQUEST,
            f"invalid request: reduce_only {'buy' if is_buy else 'sell'} would not reduce position "
            f"{listing.amount(position)} on {listing.name}",
        )
    return min(lots, abs(position))
