"""Mass quoting, market-maker protection and the flow agents' orders (api.yaml ``private/mass_quote``,
``private/set_mm_protection``, ``private/cancel_mass_quote``; DIGEST 4.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from thalex_modular.emulator.market.agents import AgentAction, LpQuotes, TakerOrder

from .errors import (
    INVALID_REQUEST,
    PROTECTION_NOT_SET,
    QUOTE_EXCEEDS_PROTECTION,
    UNKNOWN_PRODUCT,
    RpcError,
)
from .exchange import Exchange
from .listing import Listing
from .order import EngineOrder
from .outbox import Outbox
from .sessions import ProtectionGroup, Session
from .types import Notification, Result, opt_bool, opt_number, opt_str

MAX_QUOTES: Final = 100
MAX_LEVELS: Final = 10
_SIDES: Final = (("b", True, "bid"), ("a", False, "ask"))
#: Flow agents trade from internal accounts named with this prefix plus the agent id.
AGENT_ACCOUNT_PREFIX: Final = "agent:"
LP_AGENT: Final = "lp"
TAKER_AGENT: Final = "taker"


def _parse_levels(raw: object, listing: Listing) -> list[tuple[int, int]]:
    """A quote side (``[[price, amount], ...]`` or ``{p, a}``) → ``[(price_ticks, lots)]``; amount 0 levels
    are deletions and dropped. Raises RpcError for a malformed, off-grid or duplicate-price level."""
    if isinstance(raw, Mapping):
        items: Sequence[object] = [[raw.get("p"), raw.get("a")]]
    elif isinstance(raw, list):
        items = raw
    else:
        raise RpcError(INVALID_REQUEST, f"invalid request: a quote side must be a list or {{p, a}}, was {raw!r}")
    if len(items) > MAX_LEVELS:
        raise RpcError(INVALID_REQUEST, f"invalid request: at most {MAX_LEVELS} levels per side, was {len(items)}")
    levels: list[tuple[int, int]] = []
    seen: set[int] = set()
    for item in items:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise RpcError(INVALID_REQUEST, f"invalid request: a quote level must be [price, amount], was {item!r}")
        price, amount = item
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise RpcError(INVALID_REQUEST, f"invalid request: quote price must be a number, was {price!r}")
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise RpcError(INVALID_REQUEST, f"invalid request: quote amount must be a number, was {amount!r}")
        ticks = listing.price_ticks(float(price))
        if ticks in seen:
            raise RpcError(INVALID_REQUEST, f"invalid request: duplicate quote price {price!r} on {listing.name}")
        seen.add(ticks)
        lots = listing.amount_lots(float(amount), allow_zero=True)
        if lots:
            levels.append((ticks, lots))
    return levels


class QuotingMixin:
    """Mass-quote methods of :class:`~thalex_modular.emulator.engine.core.ExchangeCore`."""

    ex: Exchange

    def set_mm_protection(self, session_id: int, params: Mapping[str, object]) -> Result:
        """``private/set_mm_protection``: (re)fill the session's protection group of ``product``.
        ``trade_amount`` (executions allowed) must be <= ``quote_amount`` (largest single quote). Result null."""
        session = self.ex.session(session_id)
        product = opt_str(params, "product")
        if product is None or product not in self.ex.products:
            raise RpcError(UNKNOWN_PRODUCT, f"unknown product: `product` {product!r}")
        amount = opt_number(params, "amount")
        trade_amount = amount if amount is not None else opt_number(params, "trade_amount")
        quote_amount = amount if amount is not None else opt_number(params, "quote_amount")
        if trade_amount is None or quote_amount is None:
            raise RpcError(INVALID_REQUEST, "invalid request: `trade_amount` and `quote_amount` are required")
        if not 0.0 < trade_amount <= quote_amount:
            raise RpcError(
                INVALID_REQUEST,
                f"invalid request: need 0 < `trade_amount` <= `quote_amount`, was {trade_amount} and {quote_amount}",
            )
        session.protection[product] = ProtectionGroup(product, trade_amount, quote_amount, trade_amount)
        out = Outbox()
        out.mm_protection(session_id, product, trade_amount, "refill")
        return None, self.ex.finish(out)

    def cancel_mass_quote(self, session_id: int, params: Mapping[str, object] | None = None) -> Result:
        """``private/cancel_mass_quote``: cancel the account's mass quotes in every session (optionally one
        ``product``) with ``client_cancel`` and delete the matching protection groups. Result null."""
        ex = self.ex
        account = ex.session(session_id).account
        product = opt_str(params or {}, "product")
        out = Outbox()
        for session in sorted(ex.sessions.values(), key=lambda s: s.session_id):
            if session.account != account:
                continue
            ex.cancel_quotes(session, product, "client_cancel", out)
            for name in sorted(session.protection):
                if product is None or name == product:
                    del session.protection[name]
                    out.mm_protection(session.session_id, name, 0.0, "client_cancel")
        return None, self.ex.finish(out)

    def mass_quote(self, session_id: int, params: Mapping[str, object]) -> Result:
        """``private/mass_quote``. Each given side replaces the session's quotes on that side (identical
        price and amount keep their order and priority; ``[]`` clears; an omitted side is untouched). Each side
        counts once in ``n_success`` / ``n_fail``; a failing side leaves its previous quotes in place."""
        ex = self.ex
        session = ex.session(session_id)
        quotes = params.get("quotes")
        if not isinstance(quotes, list) or len(quotes) > MAX_QUOTES:
            raise RpcError(INVALID_REQUEST, f"invalid request: `quotes` must be a list of at most {MAX_QUOTES}")
        label = opt_str(params, "label")
        post_only = opt_bool(params, "post_only")
        reject_post_only = opt_bool(params, "reject_post_only")
        n_success = 0
        errors: list[dict[str, object]] = []
        out = Outbox()
        for quote in quotes:
            if not isinstance(quote, Mapping):
                raise RpcError(INVALID_REQUEST, f"invalid request: a quote must be an object, was {quote!r}")
            plans: list[tuple[Listing, bool, list[tuple[int, int]]]] = []
            for key, is_buy, side_name in _SIDES:
                if key not in quote:
                    continue
                try:
                    listing = ex.tradable(quote.get("i") if isinstance(quote.get("i"), str) else None)
                    levels = _parse_levels(quote[key], listing)
                    _check_protection(session, listing, levels)
                except RpcError as error:
                    errors.append({"code": error.code, "message": error.message, "side": side_name})
                    continue
                plans.append((listing, is_buy, levels))
                n_success += 1
            # cancel what goes away on both sides before inserting, so new levels never hit our own old ones
            keeps = [self._drop_stale(session, listing, is_buy, levels, out) for listing, is_buy, levels in plans]
            for (listing, is_buy, _levels), missing in zip(plans, keeps, strict=True):
                for ticks, lots in missing:
                    self._quote(session, listing, is_buy, ticks, lots, label, post_only, reject_post_only, out)
        ex.settle(out)
        return {"n_success": n_success, "n_fail": len(errors), "errors": errors}, self.ex.finish(out)

    def _drop_stale(
        self, session: Session, listing: Listing, is_buy: bool, levels: list[tuple[int, int]], out: Outbox
    ) -> list[tuple[int, int]]:
        """Cancel the side's live quotes not in ``levels``; return the levels that need a new order."""
        wanted = dict(levels)
        for order in list(session.quotes.get((listing.name, is_buy), ())):
            if order.price_ticks is not None and wanted.get(order.price_ticks) == order.amount_lots:
                del wanted[order.price_ticks]
            else:
                self.ex.close(order, "client_cancel", out, "cancel")
        return [(ticks, lots) for ticks, lots in levels if ticks in wanted]

    def _quote(
        self,
        session: Session,
        listing: Listing,
        is_buy: bool,
        ticks: int,
        lots: int,
        label: str | None,
        post_only: bool,
        reject_post_only: bool,
        out: Outbox,
    ) -> EngineOrder:
        ex = self.ex
        account = ex.accounts[session.account]
        order = ex.new_order(
            account=account,
            session=session,
            listing=listing,
            is_buy=is_buy,
            market=False,
            ioc=False,
            price_ticks=ticks,
            amount_lots=lots,
            label=label,
            persistent=False,
            post_only=post_only,
            is_quote=True,
        )
        order.reject_post_only = reject_post_only
        session.quotes.setdefault((listing.name, is_buy), []).append(order)
        ex.execute_new(order, ticks, reject_post_only, out)
        out.order(order, account, "insert")
        return order

    # -- flow agents ----------------------------------------------------------------------------------

    def apply_agent_action(self, action: AgentAction) -> list[Notification]:
        """Apply a MARKET flow-agent action from the agent's internal account (``agent:lp`` / ``agent:taker``).

        :class:`LpQuotes` replaces the LP's quotes (prices USD, bids floored and asks ceiled to the tick, amounts
        floored to the volume tick; levels below the minimum are dropped). :class:`TakerOrder` is a market IOC
        order of ``amount`` (underlying) clamped to the collar. Actions on unknown or inactive instruments are
        ignored; any other type raises TypeError.
        """
        ex = self.ex
        if not isinstance(action, LpQuotes | TakerOrder):
            raise TypeError(f"apply_agent_action: `action` must be LpQuotes or TakerOrder, was {action!r}")
        name = action.instrument_name
        listing = ex.listings.get(name)
        if listing is None or name not in ex.active:
            return []
        out = Outbox()
        if isinstance(action, LpQuotes):
            session = self._agent_session(LP_AGENT)
            plans: list[tuple[bool, list[tuple[int, int]]]] = []
            for is_buy, raw in ((True, action.bids), (False, action.asks)):
                levels: dict[int, int] = {}
                for price, amount in raw:
                    ticks = listing.inst.bid_ticks(price) if is_buy else listing.inst.ask_ticks(price)
                    lots = listing.inst.lots_floor(amount)
                    if ticks > 0 and lots >= listing.min_lots:
                        levels[ticks] = levels.get(ticks, 0) + lots
                plans.append((is_buy, sorted(levels.items())))
            # drop stale levels on both sides first, so a new bid never trades with the LP's own old ask
            missing = [self._drop_stale(session, listing, is_buy, levels, out) for is_buy, levels in plans]
            for (is_buy, _levels), needed in zip(plans, missing, strict=True):
                for ticks, lots in needed:
                    self._quote(session, listing, is_buy, ticks, lots, None, False, False, out)
        else:
            lots = listing.inst.lots_floor(float(action.amount))
            if lots <= 0:
                return []
            is_buy = action.direction == "buy"
            account = ex.account(AGENT_ACCOUNT_PREFIX + TAKER_AGENT, internal=True)
            limit = listing.collar_high_ticks if is_buy else listing.collar_low_ticks
            order = ex.new_order(
                account=account,
                session=None,
                listing=listing,
                is_buy=is_buy,
                market=True,
                ioc=True,
                price_ticks=None,
                amount_lots=lots,
            )
            ex.execute_new(order, limit, False, out)
        ex.settle(out)
        return self.ex.finish(out)

    def _agent_session(self, agent: str) -> Session:
        """The agent's standing internal session (negative ids never collide with client sessions)."""
        ex = self.ex
        session = ex.agent_sessions.get(agent)
        if session is None:
            number = AGENT_ACCOUNT_PREFIX + agent
            ex.account(number, internal=True)
            session = Session(-(len(ex.agent_sessions) + 1), number)
            ex.agent_sessions[agent] = session
            ex.sessions[session.session_id] = session
        return session


def _check_protection(session: Session, listing: Listing, levels: list[tuple[int, int]]) -> None:
    """Error 23 without a live protection group for the product, 44 for a level above its ``quote_amount``."""
    group = session.protection.get(listing.product)
    if group is None or group.tripped:
        raise RpcError(PROTECTION_NOT_SET, f"protection not set: call set_mm_protection for {listing.product}")
    for ticks, lots in levels:
        amount = listing.amount(lots)
        if amount > group.quote_amount:
            raise RpcError(
                QUOTE_EXCEEDS_PROTECTION,
                f"quote exceeds protection: amount {amount} at {listing.price(ticks)} > quote_amount "
                f"{group.quote_amount} on {listing.product}",
            )
