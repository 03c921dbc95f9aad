"""Domain enumerations. Values are Thalex's own spellings (api.yaml), so codecs map them 1:1."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """Order direction; Thalex field ``direction``."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for buy, -1 for sell: the sign a fill of this side adds to the position."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class InstrumentKind(StrEnum):
    """Thalex field ``type`` of an Instrument."""

    PERPETUAL = "perpetual"
    FUTURE = "future"
    OPTION = "option"
    COMBINATION = "combination"


class OptionType(StrEnum):
    CALL = "call"
    PUT = "put"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "good_till_cancelled"
    IOC = "immediate_or_cancel"


class OrderStatus(StrEnum):
    """Order lifecycle. PENDING and REJECTED are local states; the rest are Thalex's ``status`` values."""

    PENDING = "pending"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    CANCELLED_PARTIALLY_FILLED = "cancelled_partially_filled"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        return self in _RESTING


_TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.CANCELLED_PARTIALLY_FILLED,
        OrderStatus.REJECTED,
    }
)
_RESTING = frozenset({OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED})


class ChangeReason(StrEnum):
    """Thalex OrderStatus ``change_reason``."""

    EXISTING = "existing"
    INSERT = "insert"
    AMEND = "amend"
    CANCEL = "cancel"
    FILL = "fill"


class DeleteReason(StrEnum):
    """Thalex OrderStatus ``delete_reason`` (api.yaml plus the two the newer spec adds)."""

    CLIENT_CANCEL = "client_cancel"
    CLIENT_BULK_CANCEL = "client_bulk_cancel"
    SESSION_END = "session_end"
    INSTRUMENT_DEACTIVATED = "instrument_deactivated"
    MM_PROTECTION = "mm_protection"
    FAILOVER = "failover"
    MARGIN_BREACH = "margin_breach"
    FILLED = "filled"
    IMMEDIATE_CANCEL = "immediate_cancel"
    ADMIN_CANCEL = "admin_cancel"
    REPLACED = "replaced"
    SELF_TRADE_PREVENTION = "self_trade_prevention"


class MakerTaker(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


class PriceReference(StrEnum):
    """The price quotes are centred on and volatility is measured from.

    MARK (Thalex ``mark_price``: index plus a smoothed premium) cannot be moved by our own resting orders, so
    live and shadow quote alike; BOOK_MID (best bid/ask mid) includes our own quotes when they are the touch,
    which makes a live quoter chase itself.
    """

    MARK = "mark"
    BOOK_MID = "book_mid"


class TradingMode(StrEnum):
    """Only LIVE may ever reach an exchange's private API (LESSONS 1)."""

    LIVE = "live"
    SHADOW = "shadow"
    BACKTEST = "backtest"
