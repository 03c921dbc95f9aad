"""Instrument catalogue: the perpetual, futures and option chain of each underlying, named like Thalex.

Names: ``BTC-PERPETUAL``, futures ``BTC-27DEC24``, options ``BTC-27DEC24-70000-C`` / ``-P`` (day not
zero-padded, as Thalex/Deribit write ``BTC-3JAN25``). Dated instruments expire at 08:00 UTC on a Friday.
Products: ``F<index>`` for perpetuals and futures, ``O<index>`` for options (``FBTCUSD``, ``OBTCUSD``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .config import NANOS_PER_SECOND, MarketConfig, UnderlyingConfig

EXPIRY_HOUR_UTC = 8
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_FRIDAY = 4
_DAY_S = 86_400
N_FUTURES = 3


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One tradable instrument with every field of the api.yaml ``Instrument`` object.

    Prices (``tick_size``, ``strike_price``) in USD; ``volume_tick_size`` and ``min_order_amount`` in the
    underlying coin; ``create_time`` in Unix seconds (float); ``expiration_timestamp`` in Unix seconds (int).
    """

    instrument_name: str
    product: str
    type: str  # "perpetual" | "future" | "option"
    underlying: str  # index name, e.g. "BTCUSD"
    base_currency: str
    tick_size: float
    volume_tick_size: float
    min_order_amount: float
    create_time: float
    expiry_date: str | None = None
    expiration_timestamp: int | None = None
    option_type: str | None = None  # "call" | "put"
    strike_price: float | None = None

    def to_json(self) -> dict[str, object]:
        """The api.yaml ``Instrument`` object; optional fields that do not apply are omitted."""
        out: dict[str, object] = {
            "instrument_name": self.instrument_name,
            "product": self.product,
            "tick_size": self.tick_size,
            "volume_tick_size": self.volume_tick_size,
            "min_order_amount": self.min_order_amount,
            "underlying": self.underlying,
            "type": self.type,
            "base_currency": self.base_currency,
            "create_time": self.create_time,
        }
        if self.option_type is not None:
            out["option_type"] = self.option_type
        if self.expiry_date is not None:
            out["expiry_date"] = self.expiry_date
        if self.expiration_timestamp is not None:
            out["expiration_timestamp"] = self.expiration_timestamp
        if self.strike_price is not None:
            out["strike_price"] = self.strike_price
        return out

    @property
    def currency(self) -> str:
        """The coin, e.g. "BTC" for underlying "BTCUSD"."""
        return self.underlying.removesuffix("USD")

    def expiry_ns(self) -> int | None:
        """Expiry as Unix ns, or None for a perpetual."""
        if self.expiration_timestamp is None:
            return None
        return self.expiration_timestamp * NANOS_PER_SECOND


def expiry_code(day: datetime) -> str:
    """``27DEC24`` style code of a date (day not zero-padded)."""
    return f"{day.day}{_MONTHS[day.month - 1]}{day.year % 100:02d}"


def format_strike(strike: float) -> str:
    """Strike as written in an option name: integral strikes without decimals."""
    return str(int(strike)) if float(strike).is_integer() else f"{strike:g}"


def _expiry_at(day: datetime) -> datetime:
    return day.replace(hour=EXPIRY_HOUR_UTC, minute=0, second=0, microsecond=0)


def _next_friday_on_or_after(t: datetime) -> datetime:
    ahead = (_FRIDAY - t.weekday()) % 7
    return _expiry_at(t + timedelta(days=ahead))


def _last_friday(year: int, month: int) -> datetime:
    nxt = datetime(year + (month // 12), month % 12 + 1, 1, tzinfo=UTC)
    last = nxt - timedelta(days=1)
    back = (last.weekday() - _FRIDAY) % 7
    return _expiry_at(last - timedelta(days=back))


def future_expiries(start: datetime, count: int = N_FUTURES, min_days: float = 7.0) -> list[datetime]:
    """Last Fridays of the coming months, at least ``min_days`` after ``start``."""
    out: list[datetime] = []
    year, month = start.year, start.month
    while len(out) < count:
        exp = _last_friday(year, month)
        if (exp - start).total_seconds() >= min_days * _DAY_S:
            out.append(exp)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def option_expiries(start: datetime) -> list[datetime]:
    """Two weeklies (first Friday at least 2 days out, and the one after) and the first monthly beyond them."""
    w1 = _next_friday_on_or_after(start + timedelta(days=2))
    if w1 < start + timedelta(days=2):
        w1 += timedelta(days=7)
    w2 = w1 + timedelta(days=7)
    monthly = next(e for e in future_expiries(start, count=4, min_days=0.0) if e > w2)
    return [w1, w2, monthly]


def strike_step(spot_usd: float, annual_vol: float, years: float) -> float:
    """A round strike spacing (1, 2, 2.5 or 5 x 10^n) near a quarter of the 1-sd move to expiry, in USD."""
    target = max(spot_usd * annual_vol * math.sqrt(max(years, 1e-6)) / 4.0, 1e-9)
    exp10 = 10.0 ** math.floor(math.log10(target))
    candidates = [m * exp10 for m in (1.0, 2.0, 2.5, 5.0, 10.0)]
    return min(candidates, key=lambda c: abs(math.log(c / target)))


def _underlying_instruments(u: UnderlyingConfig, start: datetime, history_days: int) -> list[InstrumentSpec]:
    index = f"{u.currency}USD"
    fprod, oprod = f"F{index}", f"O{index}"
    start_s = start.timestamp()
    listed_s = start_s - (history_days + 1) * _DAY_S  # every instrument exists over the whole candle history
    out = [
        InstrumentSpec(
            instrument_name=f"{u.currency}-PERPETUAL",
            product=fprod,
            type="perpetual",
            underlying=index,
            base_currency="USD",
            tick_size=u.perp_tick,
            volume_tick_size=u.perp_volume_tick,
            min_order_amount=u.perp_min_amount,
            create_time=start_s - 365 * _DAY_S,
        )
    ]
    for exp in future_expiries(start):
        out.append(
            InstrumentSpec(
                instrument_name=f"{u.currency}-{expiry_code(exp)}",
                product=fprod,
                type="future",
                underlying=index,
                base_currency="USD",
                tick_size=u.perp_tick,
                volume_tick_size=u.perp_volume_tick,
                min_order_amount=u.perp_min_amount,
                create_time=min(listed_s, exp.timestamp() - 120 * _DAY_S),
                expiry_date=exp.date().isoformat(),
                expiration_timestamp=int(exp.timestamp()),
            )
        )
    for exp in option_expiries(start):
        years = (exp - start).total_seconds() / (365 * _DAY_S)
        step = strike_step(u.initial_price_usd, u.annual_vol, years)
        atm = round(u.initial_price_usd / step) * step
        strikes = [atm + i * step for i in range(-u.strikes_per_side, u.strikes_per_side + 1)]
        for strike in (k for k in strikes if k > 0):
            for opt_type, suffix in (("call", "C"), ("put", "P")):
                out.append(
                    InstrumentSpec(
                        instrument_name=f"{u.currency}-{expiry_code(exp)}-{format_strike(strike)}-{suffix}",
                        product=oprod,
                        type="option",
                        underlying=index,
                        base_currency="USD",
                        tick_size=u.option_tick,
                        volume_tick_size=u.option_volume_tick,
                        min_order_amount=u.option_min_amount,
                        create_time=min(listed_s, exp.timestamp() - 60 * _DAY_S),
                        expiry_date=exp.date().isoformat(),
                        expiration_timestamp=int(exp.timestamp()),
                        option_type=opt_type,
                        strike_price=float(strike),
                    )
                )
    return out


def build_catalogue(config: MarketConfig) -> list[InstrumentSpec]:
    """Every instrument of every configured underlying, as listed at ``config.start_ns``.

    Order: per underlying, the perpetual, then futures by expiry, then options by expiry, strike, call/put.
    """
    start = datetime.fromtimestamp(config.start_ns / NANOS_PER_SECOND, tz=UTC)
    out: list[InstrumentSpec] = []
    for u in config.underlyings:
        out.extend(_underlying_instruments(u, start, config.history_days))
    return out
