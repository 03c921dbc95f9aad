"""Wiring of the emulator: sim clock, MarketModel + FlowAgents (MARKET) and ExchangeCore (ENGINE) behind one
:class:`Venue` that the websocket server calls. Synchronous; the server's asyncio loops drive it.

Time: simulated ns = ``start_ns + (monotonic_ns - monotonic_at_start) * speed``. Every timestamp the venue produces
(orders, trades, tickers, history) is sim time; request throttling and feed ``<delay>``s use wall time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from thalex_modular.emulator.auth import Authenticator
from thalex_modular.emulator.config import EmulatorConfig
from thalex_modular.emulator.engine import ExchangeCore
from thalex_modular.emulator.engine.types import Notification
from thalex_modular.emulator.keys import load_keys
from thalex_modular.emulator.market import FlowAgents, InstrumentSpec, MarketConfig, MarketModel
from thalex_modular.emulator.protocol import UNKNOWN_INSTRUMENT, RpcError
from thalex_modular.emulator.subscriptions import Channel, parse_channel

if TYPE_CHECKING:
    from thalex_modular.emulator.server import EmulatorServer

__all__ = ["API_VERSION", "SimTime", "Venue", "build_server"]

API_VERSION: Final = "2.52.0-emulator"
_NS: Final = 1_000_000_000
_UNKNOWN_UNDERLYING: Final = 40
_DAY_S: Final = 86_400.0
_ALL_INSTRUMENTS_MAX_WINDOW_S: Final = 3 * _DAY_S
_PRIVATE_SESSION_METHODS: Final = {
    "private/insert": "insert",
    "private/buy": "buy",
    "private/sell": "sell",
    "private/amend": "amend",
    "private/cancel": "cancel",
    "private/cancel_all": "cancel_all",
    "private/cancel_session": "cancel_session",
    "private/set_cancel_on_disconnect": "set_cancel_on_disconnect",
    "private/mass_quote": "mass_quote",
    "private/cancel_mass_quote": "cancel_mass_quote",
    "private/set_mm_protection": "set_mm_protection",
    "private/open_orders": "open_orders",
    "private/order_history": "order_history",
    "private/trade_history": "trade_history",
    "private/account_summary": "account_summary",
}


class SimTime:
    """Simulated wall clock: starts at ``start_ns`` (Unix ns) and runs ``speed`` times faster than real time."""

    def __init__(self, start_ns: int, speed: float, mono_ns: Callable[[], int] = time.monotonic_ns) -> None:
        if speed <= 0:
            raise ValueError(f"invalid `speed` <= 0, was {speed}")
        self._start_ns = start_ns
        self._speed = speed
        self._mono = mono_ns
        self._mono0 = mono_ns()

    def now_ns(self) -> int:
        """Current simulated time, int ns since the epoch."""
        return self._start_ns + int((self._mono() - self._mono0) * self._speed)


class Venue:
    """The exchange as the server sees it: RPC calls, feed payloads and the market step."""

    def __init__(self, config: EmulatorConfig) -> None:
        start_ns = int(config.start_time_s * _NS) if config.start_time_s is not None else time.time_ns()
        self.time = SimTime(start_ns, config.speed)
        self._speed = config.speed
        self.environment = config.environment
        market_config = MarketConfig(seed=config.seed, start_ns=start_ns)
        self.model = MarketModel(market_config)
        self.model.step(start_ns)
        self.specs: dict[str, InstrumentSpec] = {s.instrument_name: s for s in self.model.instruments()}
        self._json = {name: spec.to_json() for name, spec in self.specs.items()}
        self.underlyings = frozenset(s.underlying for s in self.specs.values())
        self.core = ExchangeCore(list(self.specs.values()), self.time.now_ns)
        self.agents = FlowAgents(market_config, self.model) if config.flow_agents else None
        self._trades_24h: dict[str, deque[tuple[float, float, float]]] = {n: deque() for n in self.specs}
        # latency probe (control API): instrument -> ticker fields that replace the engine/model values
        self.ticker_overrides: dict[str, dict[str, float]] = {}
        self._push_marks(start_ns)

    # -- clock and catalogue ------------------------------------------------------------------------------------

    def now_s(self) -> float:
        """Simulated time in Unix seconds (float, as Thalex stamps its messages)."""
        return self.time.now_ns() / _NS

    def instruments_json(self) -> list[dict[str, object]]:
        """Active instruments as api.yaml Instrument objects."""
        now_s = self.now_s()
        return [j for n, j in self._json.items() if _active(self.specs[n], now_s)]

    def parse_channel(self, name: str) -> Channel | None:
        """Validate a channel name against this venue's instruments and underlyings."""
        return parse_channel(name, self._tick_size, self.underlyings)

    def _tick_size(self, name: str) -> float | None:
        spec = self.specs.get(name)
        return spec.tick_size if spec is not None else None

    def underlying_and_type(self, name: str) -> tuple[str, str]:
        """``(underlying, type)`` of an instrument, e.g. ``("BTCUSD", "perpetual")``."""
        spec = self.specs[name]
        return spec.underlying, spec.type

    def _spec(self, name: str) -> InstrumentSpec:
        spec = self.specs.get(name)
        if spec is None:
            raise RpcError(UNKNOWN_INSTRUMENT, f"unknown instrument: {name!r:.60}")
        return spec

    # -- sessions and RPC ---------------------------------------------------------------------------------------

    def open_session(self, account: str) -> int:
        """Open an engine session for ``account`` (at login)."""
        return self.core.open_session(account)

    def close_session(self, session_id: int) -> list[Notification]:
        """End a session: cancel-on-disconnect deletions (``session_end``) and MM protection reset."""
        return self.core.close_session(session_id)

    def call(self, method: str, session_id: int | None, account: str | None, params: dict[str, Any]) -> Any:
        """Run one RPC method (params already type-checked); returns ``(result, notifications)``."""
        engine_method = _PRIVATE_SESSION_METHODS.get(method)
        if engine_method is not None:
            assert session_id is not None
            result, events = getattr(self.core, engine_method)(session_id, params)
            self.observe(events)
            return result, events
        return self._public(method, params), []

    def _public(self, method: str, params: dict[str, Any]) -> object:
        if method == "public/instruments":
            return self.instruments_json()
        if method == "public/all_instruments":
            return self._all_instruments(params)
        if method == "public/instrument":
            return self._json[self._spec(params["instrument_name"]).instrument_name]
        if method == "public/ticker":
            return self.ticker(self._spec(params["instrument_name"]).instrument_name)
        if method == "public/index":
            return self.index(params["underlying"])
        if method == "public/book":
            name = self._spec(params["instrument_name"]).instrument_name
            bids, asks = self.book_levels(name, None, 5)
            book: dict[str, object] = {"bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}
            last = self.core.last_price(name)
            if last is not None:
                book["last"] = last
            book["time"] = self.now_s()
            return book
        if method == "public/system_info":
            return {"environment": self.environment, "api_version": API_VERSION, "banners": []}
        if method == "public/mark_price_historical_data":
            name = self._spec(params["instrument_name"]).instrument_name
            try:
                return self.model.mark_history(name, params["from"], params["to"], params["resolution"])
            except ValueError as exc:
                raise RpcError(6, f"invalid params: {exc}") from None
        if method == "public/index_price_historical_data":
            self._check_underlying(params["index_name"])
            try:
                return self.model.index_history(
                    params["index_name"], params["from"], params["to"], params["resolution"]
                )
            except ValueError as exc:
                raise RpcError(6, f"invalid params: {exc}") from None
        raise AssertionError(f"unrouted method {method}")

    def _all_instruments(self, params: dict[str, Any]) -> list[dict[str, object]]:
        high = params.get("time_high", self.now_s())
        low = params.get("time_low", high - _ALL_INSTRUMENTS_MAX_WINDOW_S)
        if high - low > _ALL_INSTRUMENTS_MAX_WINDOW_S:
            raise RpcError(6, f"invalid params: time window must be <= 3 days, was {(high - low) / 86_400:.2f} days")
        out = []
        for name, spec in self.specs.items():
            expiry = spec.expiration_timestamp
            if spec.create_time <= high and (expiry is None or expiry >= low):
                out.append(self._json[name])
        return out

    def _check_underlying(self, underlying: str) -> None:
        if underlying not in self.underlyings:
            raise RpcError(_UNKNOWN_UNDERLYING, f"unknown underlying: {underlying!r:.40}")

    # -- feed payloads ------------------------------------------------------------------------------------------

    def ticker(self, name: str) -> dict[str, object]:
        """api.yaml Ticker: engine top of book, last trade and 24 h statistics plus MARKET marks and collars."""
        bid, bid_amount, ask, ask_amount = self.core.top(name)
        now_ns = self.time.now_ns()
        fields = self.model.ticker_fields(name, _mid(bid, ask), now_ns)
        out: dict[str, object] = {
            "best_bid_price": bid,
            "best_bid_amount": bid_amount if bid is not None else None,
            "best_ask_price": ask,
            "best_ask_amount": ask_amount if ask is not None else None,
            "last_price": self.core.last_price(name),
            **fields,
            "open_interest": self.core.open_interest(name),
        }
        out.update(self._stats_24h(name, now_ns / _NS))
        override = self.ticker_overrides.get(name)
        if override is not None:
            out.update(override)
        return out

    def observe(self, events: list[Notification]) -> None:
        """Record public trades for the 24 h ticker statistics (the server passes every routed batch)."""
        for event in events:
            if event.scope == "public" and event.channel_kind == "trades":
                window = self._trades_24h[str(event.key)]
                for row in event.payload:  # type: ignore[attr-defined]
                    window.append((float(row[3]), float(row[0]), float(row[1])))

    def _stats_24h(self, name: str, now_s: float) -> dict[str, object]:
        window = self._trades_24h[name]
        while window and window[0][0] < now_s - _DAY_S:
            window.popleft()
        if not window:
            return {"volume_24h": 0.0, "value_24h": 0.0}
        prices = [p for _, p, _ in window]
        return {
            "volume_24h": sum(a for _, _, a in window),
            "value_24h": sum(p * a for _, p, a in window),
            "low_price_24h": min(prices),
            "high_price_24h": max(prices),
            "change_24h": prices[-1] - prices[0],
        }

    def lwt(self, name: str) -> dict[str, object]:
        """The lightweight ticker ``{b?, a?, m, v?, l?}``."""
        ticker = self.ticker(name)
        out: dict[str, object] = {}
        if ticker.get("best_bid_price") is not None:
            amount = ticker["best_bid_amount"]
            out["b"] = [ticker["best_bid_price"], amount, amount]
        if ticker.get("best_ask_price") is not None:
            amount = ticker["best_ask_amount"]
            out["a"] = [ticker["best_ask_price"], amount, amount]
        out["m"] = ticker["mark_price"]
        if ticker.get("iv") is not None:
            out["v"] = ticker["iv"]
        if ticker.get("last_price") is not None:
            out["l"] = ticker["last_price"]
        return out

    def index(self, underlying: str) -> dict[str, object]:
        """api.yaml Index for ``underlying`` (e.g. BTCUSD)."""
        self._check_underlying(underlying)
        return self.model.index_json(underlying, self.time.now_ns())

    def book_levels(
        self, name: str, grouping: float | None, nlevels: int | None
    ) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]:
        """Bids (best first) and asks as ``(price, amount, outright_amount)``, grouped into ``grouping`` USD
        buckets (bids floored, asks ceiled) and cut to ``nlevels`` (None = all)."""
        book = self.core.book(name, None if grouping is not None else nlevels)
        bids = [(float(p), float(a), float(o)) for p, a, o in book["bids"]]  # type: ignore[attr-defined]
        asks = [(float(p), float(a), float(o)) for p, a, o in book["asks"]]  # type: ignore[attr-defined]
        if grouping is not None:
            bids = _group(bids, grouping, floor=True)
            asks = _group(asks, grouping, floor=False)
            if nlevels is not None:
                bids, asks = bids[:nlevels], asks[:nlevels]
        return bids, asks

    def recent_trades(self, target: str, category: str) -> list[list[object]]:
        """Latest public trades ``[price, amount, direction, time, instrument_name, implied_taker]``, oldest first."""
        if category == "single":
            rows: list[list[object]] = list(self.core.recent_trades(target))
            return rows
        names = [
            n
            for n, s in self.specs.items()
            if s.underlying == target and (category == "all" or (category == "options" and s.type == "option"))
        ]
        if category == "future_rolls":
            return []
        merged = [row for n in names for row in self.core.recent_trades(n)]
        merged.sort(key=lambda r: r[3])  # type: ignore[arg-type,return-value]
        return merged[-100:]

    def session_orders(self, session_id: int) -> list[dict[str, object]]:
        """Open orders of a session with change_reason ``existing`` (session.orders snapshot)."""
        return self.core.session_orders_snapshot(session_id)

    def account_orders(self, account: str, persistent_only: bool) -> list[dict[str, object]]:
        """Open orders of an account with change_reason ``existing`` (account.orders snapshot)."""
        return self.core.account_orders_snapshot(account, persistent_only)

    def portfolio(self, account: str, lag_s: float = 0.0) -> list[dict[str, object]]:
        """PortfolioEntry[] of an account; with ``lag_s`` (wall seconds) its positions as they were that long ago."""
        if lag_s > 0.0:
            return self.core.portfolio_as_of(account, self.now_s() - lag_s * self._speed)
        return self.core.portfolio_snapshot(account)

    def account_summary(self, account: str) -> dict[str, object]:
        """AccountSummary of an account."""
        return self.core.summary(account)

    # -- market -------------------------------------------------------------------------------------------------

    def step_market(self) -> list[Notification]:
        """Advance MARKET to the sim now, accrue perpetual funding and push marks/collars to the core, then apply
        the flow agents' actions."""
        now_ns = self.time.now_ns()
        self.model.step(now_ns)
        events = self._push_marks(now_ns)
        if self.agents is not None:
            for action in self.agents.step(now_ns, self.core.tops()):
                events.extend(self.core.apply_agent_action(action))
        self.observe(events)
        return events

    def _push_marks(self, now_ns: int) -> list[Notification]:
        events: list[Notification] = []
        core, model = self.core, self.model
        for name in self.specs:
            bid, _, ask, _ = core.top(name)
            f = model.ticker_fields(name, _mid(bid, ask), now_ns)
            iv = f.get("iv")
            rate, index = _float(f.get("funding_rate")), _float(f.get("index"))
            if rate is not None and index is not None and index > 0.0:
                # accrue over the interval before the new marks land (the rate held is the previous step's)
                events.extend(core.accrue_funding(name, rate, index, now_ns))
            events.extend(
                core.set_market(
                    name,
                    _float(f["mark_price"]),
                    _float(f["index"]),
                    _float(f.get("collar_low")),
                    _float(f.get("collar_high")),
                    _float(iv),
                )
            )
        return events


def _mid(bid: float | None, ask: float | None) -> float | None:
    return (bid + ask) / 2.0 if bid is not None and ask is not None else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _active(spec: InstrumentSpec, now_s: float) -> bool:
    return spec.expiration_timestamp is None or spec.expiration_timestamp > now_s


def _group(levels: list[tuple[float, float, float]], bucket: float, floor: bool) -> list[tuple[float, float, float]]:
    grouped: dict[float, tuple[float, float]] = {}
    for price, amount, outright in levels:
        ratio = price / bucket
        index = int(ratio // 1) if floor else -int(-ratio // 1)
        key = round(index * bucket, 10)
        a, o = grouped.get(key, (0.0, 0.0))
        grouped[key] = (a + amount, o + outright)
    ordered = sorted(grouped.items(), reverse=floor)
    return [(p, a, o) for p, (a, o) in ordered]


def build_server(config: EmulatorConfig) -> EmulatorServer:
    """Build an :class:`~thalex_modular.emulator.server.EmulatorServer` (not started) from ``config``."""
    from thalex_modular.emulator.server import EmulatorServer

    keys = load_keys(config.keys_file) if config.keys_file is not None else {}
    return EmulatorServer(config, Venue(config), Authenticator(keys, config.iat_tolerance_s))
