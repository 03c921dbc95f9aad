"""Avellaneda-Stoikov market making (2008) with a rolling horizon, bounded skew and inventory limits.

Units: prices and sigma in USD (sigma per sqrt(second)), time in seconds, gamma per USD per unit of the
underlying held, kappa per USD, amounts in the underlying. Inside the strategy prices become integer ticks
through :class:`Instrument` only (bids floor, asks ceil).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from thalex_modular.platform.domain.clock import NANOS_PER_SECOND
from thalex_modular.platform.domain.entities import Instrument, Quote, Trade
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.errors import InvalidValue

from .kappa_estimator import KappaEstimator
from .protocol import QuoteContext

# -- the model, in price units -------------------------------------------------------------------------------


def usd_sigma_per_sqrt_s(sigma_rel_per_sqrt_s: float, price_usd: float) -> float:
    """Relative (log-return) vol per sqrt(second) → USD per sqrt(second) at ``price_usd``.

    For small moves ``dP = P * dr``, so the price vol is the relative vol times the price (the one conversion).
    """
    return sigma_rel_per_sqrt_s * price_usd


def reservation_price(mid: float, inventory: float, gamma: float, sigma: float, time_left: float) -> float:
    """A-S reservation price ``mid - inventory * gamma * sigma**2 * time_left`` (USD).

    Args:
        mid: USD. inventory: signed, underlying. gamma: per USD per unit of underlying.
        sigma: USD per sqrt(second). time_left: seconds.
    """
    return mid - inventory * gamma * sigma**2 * time_left


def optimal_spread(gamma: float, sigma: float, time_left: float, kappa: float) -> float:
    """A-S optimal total spread ``gamma * sigma**2 * time_left + (2 / gamma) * ln(1 + gamma / kappa)`` (USD).

    Args:
        gamma: > 0, per USD per unit of underlying. sigma: USD per sqrt(second). time_left: seconds.
        kappa: > 0, order-arrival decay per USD.
    """
    return gamma * sigma**2 * time_left + (2.0 / gamma) * math.log1p(gamma / kappa)


# -- configuration -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AvellanedaStoikovConfig:
    """Parameters of :class:`AvellanedaStoikovStrategy`.

    Args:
        gamma: risk aversion, per USD per unit of underlying (multiplied by the regime's gamma multiplier).
        max_position_underlying: |position| limit, underlying; quotes never take it beyond (own size included).
        level_amounts: amount per level, underlying, nearest level first; its length is the number of levels.
        horizon_s: rolling horizon T - t, seconds (time to expiry instead when that is shorter).
        kappa_per_usd: fixed order-arrival decay per USD; None estimates it online from public trades.
        kappa_fallback_per_usd, kappa_min_per_usd, kappa_max_per_usd: online estimate's fallback and bounds.
        kappa_window_trades, kappa_min_trades: online estimate's window and the trades it needs before use.
        min_spread_ticks: minimum bid-ask distance of our own quotes, ticks (>= 1).
        max_cross_ticks: how far a quote may cross the touch, ticks: ``bid <= best_ask - 1 + max_cross_ticks``
            and ``ask >= best_bid + 1 - max_cross_ticks`` (0 = never take liquidity).
        level_spacing_ticks: distance between consecutive levels of one side, ticks (>= 1).
        max_skew_ticks: cap of the inventory shift ``|mid - reservation|``, ticks (>= 0).
    """

    gamma: float
    max_position_underlying: float
    level_amounts: tuple[float, ...]
    horizon_s: float = 60.0
    kappa_per_usd: float | None = None
    kappa_fallback_per_usd: float = 0.1
    kappa_min_per_usd: float = 0.001
    kappa_max_per_usd: float = 100.0
    kappa_window_trades: int = 500
    kappa_min_trades: int = 30
    min_spread_ticks: int = 2
    max_cross_ticks: int = 0
    level_spacing_ticks: int = 1
    max_skew_ticks: int = 20

    def __post_init__(self) -> None:
        for name in ("gamma", "max_position_underlying", "horizon_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidValue(f"AvellanedaStoikovConfig.{name} must be finite and > 0, was {value!r}")
        if self.kappa_per_usd is not None and not (math.isfinite(self.kappa_per_usd) and self.kappa_per_usd > 0):
            raise InvalidValue(
                f"AvellanedaStoikovConfig.kappa_per_usd must be None or finite and > 0, was {self.kappa_per_usd!r}"
            )
        if not self.level_amounts:
            raise InvalidValue("AvellanedaStoikovConfig.level_amounts must name at least one level, was ()")
        for i, amount in enumerate(self.level_amounts):
            if not (math.isfinite(amount) and amount > 0):
                raise InvalidValue(f"AvellanedaStoikovConfig.level_amounts[{i}] must be finite and > 0, was {amount!r}")
        for name, low in (
            ("min_spread_ticks", 1), ("max_cross_ticks", 0), ("level_spacing_ticks", 1), ("max_skew_ticks", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidValue(f"AvellanedaStoikovConfig.{name} must be an int >= {low}, was {value!r}")

    @property
    def levels(self) -> int:
        """Levels per side."""
        return len(self.level_amounts)


# -- the strategy --------------------------------------------------------------------------------------------


class AvellanedaStoikovStrategy:
    """Quotes both sides around the A-S reservation price; implements :class:`~.protocol.Strategy`.

    Per call: mid = ``ctx.fair_price`` (the owner's price reference: the mark by default); sigma converted to
    USD once; gamma =
    ``config.gamma * ctx.gamma_multiplier``; the inventory shift ``q * gamma * sigma² * T`` is capped to
    ``max_skew_ticks`` (so it moves both quotes toward reducing inventory: the side that adds inventory moves
    away from the mid, the other closer; it grows at most linearly and is bounded); the half spread is at least
    ``min_spread_ticks / 2``. Bids round down, asks up, then each is held behind the touch (``max_cross_ticks``).
    Sizes are floored to lots; each side stops where it would take ``|position|`` past the limit. No quotes
    on or after a dated instrument's expiry.
    """

    __slots__ = (
        "_estimator", "_last_ladder", "_last_ladder_key", "_last_mid", "_last_sizes", "_quoted_name", "_sizes_key",
        "config",
    )

    def __init__(self, config: AvellanedaStoikovConfig) -> None:
        self.config = config
        self._estimator: KappaEstimator | None = None
        if config.kappa_per_usd is None:
            self._estimator = KappaEstimator(
                config.kappa_window_trades,
                config.kappa_min_trades,
                config.kappa_min_per_usd,
                config.kappa_max_per_usd,
                config.kappa_fallback_per_usd,
            )
        self._last_mid: float | None = None
        self._quoted_name: str | None = None
        # the last ladder and its inputs: an unchanged ladder is returned as the same tuple (no rebuild)
        self._last_ladder: tuple[Quote, ...] = ()
        self._last_ladder_key: tuple[Instrument, int, int, float] | None = None
        self._sizes_key: tuple[Instrument, float] | None = None
        self._last_sizes: tuple[_Sizes, _Sizes] = ((), ())

    def kappa_per_usd(self) -> float:
        """The kappa in use: configured, or the online estimate (per USD)."""
        if self._estimator is None:
            assert self.config.kappa_per_usd is not None
            return self.config.kappa_per_usd
        return self._estimator.kappa_per_usd()

    def on_trade(self, trade: Trade) -> None:
        """Feed a public trade to the kappa estimate: its distance (USD) from the last mid quoted around.
        Ignored before the first quote, for other instruments, or when kappa is configured."""
        if self._estimator is None or self._last_mid is None or trade.instrument_name != self._quoted_name:
            return
        self._estimator.observe(abs(trade.price - self._last_mid))

    def compute_quotes(self, ctx: QuoteContext) -> Sequence[Quote]:
        """The desired bids (nearest first) then asks (nearest first); empty when nothing may be quoted."""
        cfg = self.config
        inst = ctx.instrument
        tk = ctx.ticker
        best_bid = tk.best_bid_price
        best_ask = tk.best_ask_price
        mid = ctx.fair_price
        self._last_mid = mid
        self._quoted_name = inst.instrument_name

        time_left = cfg.horizon_s
        if inst.expiry_ns is not None:
            to_expiry_s = (inst.expiry_ns - ctx.now_ns) / NANOS_PER_SECOND
            if to_expiry_s <= 0.0:
                return ()
            if to_expiry_s < time_left:
                time_left = to_expiry_s

        tick = inst.tick_size
        gamma = cfg.gamma * ctx.gamma_multiplier
        sigma = usd_sigma_per_sqrt_s(ctx.sigma_per_s, mid)
        q = ctx.position

        # inventory shift mid - reservation, bounded (LESSONS 8): linear in q, capped in ticks
        skew = mid - reservation_price(mid, q, gamma, sigma, time_left)
        max_skew = cfg.max_skew_ticks * tick
        if skew > max_skew:
            skew = max_skew
        elif skew < -max_skew:
            skew = -max_skew
        center = mid - skew
        half = 0.5 * optimal_spread(gamma, sigma, time_left, self.kappa_per_usd())
        min_half = 0.5 * cfg.min_spread_ticks * tick
        if half < min_half:
            half = min_half

        bid0 = inst.bid_ticks(center - half)
        ask0 = inst.ask_ticks(center + half)
        # hold each side behind the opposite touch; both moves only widen our spread
        if best_ask is not None:
            limit = inst.ask_ticks(best_ask) - 1 + cfg.max_cross_ticks
            if bid0 > limit:
                bid0 = limit
        if best_bid is not None:
            limit = inst.bid_ticks(best_bid) + 1 - cfg.max_cross_ticks
            if ask0 < limit:
                ask0 = limit
        gap = cfg.min_spread_ticks - (ask0 - bid0)
        if gap > 0:  # float rounding at extreme prices only; widen away from the touch
            bid0 -= gap

        key = (inst, bid0, ask0, q)
        if key != self._last_ladder_key:
            self._last_ladder = self._ladder(inst, bid0, ask0, q)
            self._last_ladder_key = key
        return self._last_ladder

    def _ladder(self, inst: Instrument, bid0: int, ask0: int, position: float) -> tuple[Quote, ...]:
        bid_sizes, ask_sizes = self._sizes(inst, position)
        spacing = self.config.level_spacing_ticks
        quotes: list[Quote] = []
        for level, lots in bid_sizes:
            price = bid0 - level * spacing
            if price <= 0:
                break
            quotes.append(_new_quote(Quote, (_BUY, price, lots, level)))
        for level, lots in ask_sizes:
            quotes.append(_new_quote(Quote, (_SELL, ask0 + level * spacing, lots, level)))
        return tuple(quotes)

    def _sizes(self, inst: Instrument, position: float) -> tuple[_Sizes, _Sizes]:
        """(level, lots) of the bids and of the asks at ``position``; cached, as the position rarely changes."""
        key = (inst, position)
        if key == self._sizes_key:
            return self._last_sizes
        cfg = self.config
        max_pos = cfg.max_position_underlying
        min_lots = inst.min_order_lots
        level_lots = tuple(inst.lots_floor(a) for a in cfg.level_amounts)
        # room in lots before |position| would pass the limit, counting every quote of the side (LESSONS 10)
        room_buy = max_pos - position
        room_sell = max_pos + position
        sizes = (
            _side_sizes(level_lots, inst.lots_floor(room_buy) if room_buy > 0.0 else 0, min_lots),
            _side_sizes(level_lots, inst.lots_floor(room_sell) if room_sell > 0.0 else 0, min_lots),
        )
        self._sizes_key = key
        self._last_sizes = sizes
        return sizes


_Sizes = tuple[tuple[int, int], ...]
_BUY = Side.BUY
_SELL = Side.SELL
# tuple.__new__ builds a Quote without the Python-level NamedTuple constructor (half the cost, same value)
_new_quote = tuple.__new__


def _side_sizes(level_lots: tuple[int, ...], room_lots: int, min_lots: int) -> _Sizes:
    """(level, lots) of one side: each level takes its size or the room left; a level too small to send (its
    configured size or the remaining room) is dropped."""
    sizes = []
    for level, want in enumerate(level_lots):
        lots = want if want < room_lots else room_lots
        if lots < min_lots:
            continue
        sizes.append((level, lots))
        room_lots -= lots
    return tuple(sizes)
