"""Value types shared by the exchange core and the server: notifications, configuration, instrument protocol.

Units: prices USD, amounts in the underlying (e.g. BTC), fees as basis points of notional, time in int ns
(JSON output in float Unix seconds, as Thalex sends it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, TypeAlias

from .errors import INVALID_REQUEST, RpcError

Scope: TypeAlias = Literal["session", "account", "public"]

#: What every engine method returns: the JSON-RPC ``result`` and the notifications to route.
Result: TypeAlias = tuple[object, list["Notification"]]


class Notification(NamedTuple):
    """One event for the server to route to subscribers.

    Attributes:
        scope: ``"session"`` (key = session id, an ``int``), ``"account"`` (key = account number, a ``str``) or
            ``"public"`` (key = instrument name).
        key: see ``scope``.
        channel_kind: for session/account scope the exact Thalex channel name: ``session.orders``,
            ``session.mm_protection``, ``account.orders``, ``account.persistent_orders``, ``account.portfolio``,
            ``account.trade_history``. For public scope ``trades`` (payload: list of
            recent_trades rows ``[price, amount, taker_direction, time_s, instrument_name, False]``) or ``book``
            (payload ``None``: the book of ``key`` changed; read it with ``ExchangeCore.book``).
        payload: the channel's ``notification`` body (a list of Thalex JSON objects), or None for ``book``.
    """

    scope: Scope
    key: int | str
    channel_kind: str
    payload: object


@dataclass(frozen=True, slots=True)
class FeeConfig:
    """Trading fees in basis points (1 bp = 0.0001) of the traded notional.

    Perpetuals and futures pay ``rate × price × amount``. Options pay ``rate × index × amount`` (the underlying
    notional), capped at ``option_fee_cap`` × premium (``price × amount``).
    """

    maker_bps: float = 1.0
    taker_bps: float = 5.0
    option_maker_bps: float = 1.0
    option_taker_bps: float = 3.0
    option_fee_cap: float = 0.125

    def __post_init__(self) -> None:
        for name in ("maker_bps", "taker_bps", "option_maker_bps", "option_taker_bps", "option_fee_cap"):
            value = getattr(self, name)
            if not value >= 0.0:
                raise ValueError(f"FeeConfig.{name} must be >= 0, was {value!r}")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Exchange-core settings.

    Attributes:
        fees: maker/taker fee rates.
        initial_balance_usd: cash a newly seen account starts with (USD).
        margin_rate_futures: initial margin as a fraction of notional for perpetuals and futures.
        margin_rate_options: initial margin as a fraction of the underlying notional (index × amount) for options.
        cod_message_rate: ``message_rate`` returned by ``set_cancel_on_disconnect`` (messages per second).
        history_limit: most orders / trades kept per account for ``order_history`` / ``trade_history``.
        recent_trades_limit: public trades kept per instrument for recent_trades / book snapshots.
    """

    fees: FeeConfig = FeeConfig()
    initial_balance_usd: float = 1_000_000.0
    margin_rate_futures: float = 0.1
    margin_rate_options: float = 0.15
    cod_message_rate: int = 50
    history_limit: int = 100_000
    recent_trades_limit: int = 100

    def __post_init__(self) -> None:
        if not self.initial_balance_usd >= 0.0:
            raise ValueError(f"EngineConfig.initial_balance_usd must be >= 0, was {self.initial_balance_usd!r}")
        for name in ("margin_rate_futures", "margin_rate_options"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"EngineConfig.{name} must be in [0, 1], was {value!r}")
        for name in ("cod_message_rate", "history_limit", "recent_trades_limit"):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"EngineConfig.{name} must be > 0, was {value!r}")


class InstrumentLike(Protocol):
    """What the core needs of ``thalex_modular.emulator.market.InstrumentSpec`` (api.yaml ``Instrument``)."""

    @property
    def instrument_name(self) -> str: ...
    @property
    def product(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def underlying(self) -> str: ...
    @property
    def tick_size(self) -> float: ...
    @property
    def volume_tick_size(self) -> float: ...
    @property
    def min_order_amount(self) -> float: ...
    @property
    def expiration_timestamp(self) -> int | None: ...
    @property
    def option_type(self) -> str | None: ...
    @property
    def strike_price(self) -> float | None: ...


# -- params helpers (the server has checked JSON types; these pick values with defaults) -----------------


def opt_str(params: Mapping[str, object], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RpcError(INVALID_REQUEST, f"invalid request: `{name}` must be a string, was {value!r}")
    return value


def opt_bool(params: Mapping[str, object], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RpcError(INVALID_REQUEST, f"invalid request: `{name}` must be a boolean, was {value!r}")
    return value


def opt_number(params: Mapping[str, object], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RpcError(INVALID_REQUEST, f"invalid request: `{name}` must be a number, was {value!r}")
    return float(value)


def req_number(params: Mapping[str, object], name: str) -> float:
    value = opt_number(params, name)
    if value is None:
        raise RpcError(INVALID_REQUEST, f"invalid request: `{name}` is required")
    return value


def opt_int(params: Mapping[str, object], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise RpcError(INVALID_REQUEST, f"invalid request: `{name}` must be an integer, was {value!r}")
    return value
