"""The core's order record and its Thalex JSON shapes (api.yaml ``OrderStatus``, ``OrderHistory``, ``OrderFill``)."""

from __future__ import annotations

from typing import Final

from .listing import Listing

NS_PER_S: Final = 1_000_000_000
# api.yaml OrderHistory: "the 'fills' field in the order is limited to a length of 8".
HISTORY_FILLS_CAP: Final = 8

OPEN: Final = "open"
PARTIALLY_FILLED: Final = "partially_filled"
FILLED: Final = "filled"
CANCELLED: Final = "cancelled"
CANCELLED_PARTIALLY_FILLED: Final = "cancelled_partially_filled"


def seconds(ts_ns: int) -> float:
    """int ns → Thalex float Unix seconds (the one conversion on the way out)."""
    return ts_ns / NS_PER_S


class EngineOrder:
    """A live or closed order. Prices in ticks, amounts in lots of its listing; times int ns.

    ``fills`` holds every OrderFill (JSON) of the order; ``new_fills`` those not yet reported in an update.
    ``session_id`` is None for orders of internal flow agents.
    """

    __slots__ = (
        "account",
        "amount_lots",
        "client_order_id",
        "close_ns",
        "create_ns",
        "delete_reason",
        "filled_lots",
        "fills",
        "ioc",
        "is_buy",
        "is_quote",
        "label",
        "listing",
        "margin_usd",
        "market",
        "new_fills",
        "order_id",
        "persistent",
        "post_only",
        "price_ticks",
        "reduce_only",
        "reject_post_only",
        "resting",
        "seq",
        "session_id",
    )

    def __init__(
        self,
        *,
        seq: int,
        order_id: str,
        account: str,
        session_id: int | None,
        listing: Listing,
        is_buy: bool,
        market: bool,
        ioc: bool,
        price_ticks: int | None,
        amount_lots: int,
        label: str | None,
        client_order_id: int | None,
        persistent: bool,
        post_only: bool,
        reduce_only: bool,
        is_quote: bool,
        create_ns: int,
    ) -> None:
        self.seq = seq
        self.order_id = order_id
        self.account = account
        self.session_id = session_id
        self.listing = listing
        self.is_buy = is_buy
        self.market = market
        self.ioc = ioc
        self.price_ticks = price_ticks
        self.amount_lots = amount_lots
        self.filled_lots = 0
        self.label = label
        self.client_order_id = client_order_id
        self.persistent = persistent
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.is_quote = is_quote
        self.create_ns = create_ns
        self.close_ns: int | None = None
        self.delete_reason: str | None = None
        self.fills: list[dict[str, object]] = []
        self.new_fills: list[dict[str, object]] = []
        self.margin_usd = 0.0
        self.resting = False
        self.reject_post_only = False

    @property
    def remaining_lots(self) -> int:
        """Lots still working (0 once closed)."""
        return 0 if self.close_ns is not None else self.amount_lots - self.filled_lots

    @property
    def is_open(self) -> bool:
        return self.close_ns is None

    def status(self) -> str:
        """Thalex ``status``."""
        if self.close_ns is None:
            return PARTIALLY_FILLED if self.filled_lots else OPEN
        if self.filled_lots >= self.amount_lots:
            return FILLED
        return CANCELLED_PARTIALLY_FILLED if self.filled_lots else CANCELLED

    def _common(self) -> dict[str, object]:
        listing = self.listing
        out: dict[str, object] = {
            "order_id": self.order_id,
            "order_type": "market" if self.market else "limit",
            "instrument_name": listing.name,
            "direction": "buy" if self.is_buy else "sell",
        }
        if self.price_ticks is not None:
            out["price"] = listing.price(self.price_ticks)
        out["amount"] = listing.amount(self.amount_lots)
        out["filled_amount"] = listing.amount(self.filled_lots)
        if self.label is not None:
            out["label"] = self.label
        if self.client_order_id is not None:
            out["client_order_id"] = self.client_order_id
        out["status"] = self.status()
        return out

    def status_json(self, change_reason: str) -> dict[str, object]:
        """api.yaml ``OrderStatus``; ``fills`` = the fills new since the last update (all for ``existing``).

        Consumes ``new_fills``: call once per update.
        """
        out = self._common()
        out["remaining_amount"] = self.listing.amount(self.remaining_lots)
        out["time_in_force"] = "immediate_or_cancel" if self.ioc else "good_till_cancelled"
        if change_reason == "existing":
            out["fills"] = list(self.fills)
        else:
            out["fills"] = self.new_fills
            self.new_fills = []
        out["change_reason"] = change_reason
        if self.delete_reason is not None:
            out["delete_reason"] = self.delete_reason
        out["insert_reason"] = "client_request"
        out["create_time"] = seconds(self.create_ns)
        if self.close_ns is not None:
            out["close_time"] = seconds(self.close_ns)
        if self.reduce_only:
            out["reduce_only"] = True
        out["persistent"] = self.persistent
        return out

    def history_json(self) -> dict[str, object]:
        """api.yaml ``OrderHistory`` of a closed order (at most 8 fills)."""
        out = self._common()
        out["fills"] = self.fills[:HISTORY_FILLS_CAP]
        out["insert_reason"] = "client_request"
        out["delete_reason"] = self.delete_reason
        out["create_time"] = seconds(self.create_ns)
        out["close_time"] = seconds(self.close_ns if self.close_ns is not None else self.create_ns)
        if self.reduce_only:
            out["reduce_only"] = True
        return out
