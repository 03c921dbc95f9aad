"""Channel names: parse and validate the Thalex subscription channels the emulator serves.

Public: ``ticker.<instrument>.<delay>``, ``lwt.<instrument>.<delay>``,
``book.<instrument>.<grouping>.<nlevels>.<delay>``,
``recent_trades.<target>.<category>``, ``price_index.<underlying>``, ``instruments``, ``system``.
Private (login needed): ``session.orders``, ``account.orders``, ``account.persistent_orders``,
``account.trade_history``, ``account.portfolio``, ``account.summary``, ``session.mm_protection``.
An invalid name parses to ``None``; subscribe then leaves it out of its result (Thalex does the same).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final

__all__ = ["DELAYS_MS", "PRIVATE_CHANNELS", "Channel", "parse_channel"]

# <delay> -> minimum interval between notifications in ms; raw = every change (0)
DELAYS_MS: Final = {
    "raw": 0,
    "100ms": 100,
    "200ms": 200,
    "500ms": 500,
    "1000ms": 1000,
    "5000ms": 5000,
    "60000ms": 60000,
}
PRIVATE_CHANNELS: Final = frozenset(
    {
        "session.orders",
        "account.orders",
        "account.persistent_orders",
        "account.trade_history",
        "account.portfolio",
        "account.summary",
        "session.mm_protection",
    }
)
_TRADE_CATEGORIES: Final = frozenset({"all", "options", "future_rolls"})


@dataclass(frozen=True, slots=True)
class Channel:
    """A validated channel.

    ``kind`` is the first part (``ticker``, ``book``, ..., or the full private name); ``target`` the instrument or
    underlying it concerns; ``delay_ms`` the throttle (0 = raw); ``grouping`` the book bucket in USD (``None`` =
    none); ``nlevels`` the book depth (``None`` = all); ``category`` the recent_trades category.
    """

    name: str
    kind: str
    target: str | None = None
    delay_ms: int = 0
    grouping: float | None = None
    nlevels: int | None = None
    category: str | None = None

    @property
    def private(self) -> bool:
        """True for channels that need a logged-in session."""
        return self.kind in PRIVATE_CHANNELS


def _grouping(text: str, tick_size: float) -> float | bool | None:
    """``none`` -> None; a positive multiple of the tick -> float; anything else -> False (invalid)."""
    if text == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        return False
    if not math.isfinite(value) or value <= 0:
        return False
    ratio = value / tick_size
    if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio):
        return False
    return value


def parse_channel(
    name: str,
    tick_size_of: Callable[[str], float | None],
    underlyings: Collection[str],
) -> Channel | None:
    """Parse ``name``; ``tick_size_of(instrument)`` returns ``None`` for an unknown instrument.

    Returns:
        The :class:`Channel`, or ``None`` when the name is malformed or names an unknown instrument/underlying.
    """
    if name in PRIVATE_CHANNELS or name in ("system", "instruments"):
        return Channel(name=name, kind=name)
    kind, _, rest = name.partition(".")
    if not rest:
        return None
    if kind in ("ticker", "lwt"):
        instrument, _, delay = rest.rpartition(".")
        if delay not in DELAYS_MS or tick_size_of(instrument) is None:
            return None
        return Channel(name=name, kind=kind, target=instrument, delay_ms=DELAYS_MS[delay])
    if kind == "book":
        head, _, delay = rest.rpartition(".")
        head, _, nlevels_text = head.rpartition(".")
        instrument, _, grouping_text = head.partition(".")
        tick = tick_size_of(instrument)
        if delay not in DELAYS_MS or tick is None or not grouping_text:
            return None
        grouping = _grouping(grouping_text, tick)
        if grouping is False:
            return None
        if nlevels_text == "all":
            nlevels = None
        elif nlevels_text.isdigit() and int(nlevels_text) > 0:
            nlevels = int(nlevels_text)
        else:
            return None
        return Channel(
            name=name,
            kind=kind,
            target=instrument,
            delay_ms=DELAYS_MS[delay],
            grouping=grouping if isinstance(grouping, float) else None,
            nlevels=nlevels,
        )
    if kind == "recent_trades":
        target, _, category = rest.rpartition(".")
        if category == "single" and tick_size_of(target) is not None:
            return Channel(name=name, kind=kind, target=target, category=category)
        if category in _TRADE_CATEGORIES and target in underlyings:
            return Channel(name=name, kind=kind, target=target, category=category)
        return None
    if kind == "price_index" and rest in underlyings:
        return Channel(name=name, kind=kind, target=rest)
    return None
