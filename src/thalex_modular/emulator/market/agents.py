"""Background flow: one liquidity provider per instrument and Poisson taker flow with one-sided bursts.

``FlowAgents.step(now_ns, tops)`` returns actions for the engine: :class:`LpQuotes` (replace the LP's quotes
on one instrument) and :class:`TakerOrder` (a market IOC). LPs quote ``lp_levels`` levels per side around the
model's fair value (see ``lp_rules``) and requote when the fair value moves ``lp_requote_ticks`` ticks
(options: ``lp_option_requote_ticks``) or the quote is older than a jittered ``lp_refresh_s`` (options:
``lp_option_refresh_s``). Takers arrive as a Poisson
process per instrument; a burst (rate x ``burst_rate_multiplier`` for ``burst_duration_s``) sends every taker
order on its instrument in one direction. Bursts start more often during a trending spell of the index, and
then in the trend's direction: toxic flow. Deterministic for the seed and the sequence of calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .config import NANOS_PER_SECOND, MarketConfig
from .instruments import InstrumentSpec
from .lp_rules import Level, floor_to, quote_levels
from .model import MarketModel

Top = tuple[float | None, float, float | None, float]  # best bid px, bid amount, best ask px, ask amount
_TREND_BURST_FACTOR = 3.0
_PERP_BURST_SHARE = 0.7


@dataclass(frozen=True, slots=True)
class LpQuotes:
    """Replace the liquidity provider's quotes on ``instrument_name``: levels (price USD, amount coin), best
    first. An empty side withdraws that side."""

    instrument_name: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class TakerOrder:
    """A market IOC order of ``amount`` (coin, on the volume grid, >= min amount); direction "buy"|"sell"."""

    instrument_name: str
    direction: str
    amount: float


AgentAction = LpQuotes | TakerOrder


@dataclass(frozen=True, slots=True)
class Burst:
    """A one-sided taker burst on ``instrument_name`` until ``end_ns`` (Unix ns); direction "buy"|"sell"."""

    instrument_name: str
    direction: str
    end_ns: int


@dataclass(slots=True)
class _LpState:
    fair: float = 0.0
    quoted_ns: int = 0
    refresh_ns: int = 0
    quotes: tuple[tuple[Level, ...], tuple[Level, ...]] | None = None


class FlowAgents:
    """All background participants. Call :meth:`step` with the sim time and the current book tops."""

    def __init__(self, config: MarketConfig, model: MarketModel) -> None:
        self._cfg = config.agents
        self._model = model
        self._rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(1000,)))
        self._specs = model.instruments()
        self._lp = {s.instrument_name: _LpState() for s in self._specs}
        rate_of = {
            "perpetual": self._cfg.taker_rate_perp, "future": self._cfg.taker_rate_future,
            "option": self._cfg.taker_rate_option,
        }
        self._rates = np.array([rate_of[s.type] for s in self._specs])
        self._underlyings = sorted({s.underlying for s in self._specs})
        self._by_underlying = {u: [s for s in self._specs if s.underlying == u] for u in self._underlyings}
        self.bursts: dict[str, Burst] = {}
        self._last_ns: int | None = None

    def step(self, now_ns: int, tops: Mapping[str, Top]) -> list[LpQuotes | TakerOrder]:
        """Actions due at ``now_ns`` (sim Unix ns). ``tops`` maps instrument name to its book top (missing
        names count as an empty book). The first call quotes every instrument and sends no taker flow."""
        self._model.step(now_ns)
        actions: list[LpQuotes | TakerOrder] = [*self._lp_actions(now_ns)]
        if self._last_ns is not None and now_ns > self._last_ns:
            dt_s = (now_ns - self._last_ns) / NANOS_PER_SECOND
            self._update_bursts(now_ns, dt_s)
            actions.extend(self._taker_actions(now_ns, dt_s, tops))
        if self._last_ns is None or now_ns > self._last_ns:
            self._last_ns = now_ns
        return actions

    # -- liquidity providers ----------------------------------------------------------------------------------

    def _lp_actions(self, now_ns: int) -> list[LpQuotes]:
        out: list[LpQuotes] = []
        fairs = self._model.fair_prices()
        cfg = self._cfg
        for spec in self._specs:
            st = self._lp[spec.instrument_name]
            fair = fairs[spec.instrument_name]
            option = spec.type == "option"
            ticks = cfg.lp_option_requote_ticks if option else cfg.lp_requote_ticks
            due = st.quotes is None or now_ns - st.quoted_ns >= st.refresh_ns
            if not due and abs(fair - st.fair) < ticks * spec.tick_size:
                continue
            index = self._model.index_price(spec.underlying)
            quotes = quote_levels(spec, fair, index, cfg, cfg.lp_levels)
            st.fair, st.quoted_ns = fair, now_ns
            refresh_s = cfg.lp_option_refresh_s if option else cfg.lp_refresh_s
            st.refresh_ns = int(refresh_s * self._rng.uniform(0.5, 1.5) * NANOS_PER_SECOND)
            if quotes != st.quotes:
                st.quotes = quotes
                out.append(LpQuotes(spec.instrument_name, quotes[0], quotes[1]))
        return out

    # -- takers -----------------------------------------------------------------------------------------------

    def _update_bursts(self, now_ns: int, dt_s: float) -> None:
        for und in self._underlyings:
            burst = self.bursts.get(und)
            if burst is not None and burst.end_ns > now_ns:
                continue
            self.bursts.pop(und, None)
            trend = self._model.trend_direction(und)
            p = self._cfg.bursts_per_hour / 3600.0 * dt_s * (_TREND_BURST_FACTOR if trend else 1.0)
            if self._rng.random() >= p:
                continue
            sign = trend if trend else (1 if self._rng.random() < 0.5 else -1)
            specs = self._by_underlying[und]
            linear = [s for s in specs if s.type != "option"]
            perp = next(s for s in linear if s.type == "perpetual")
            target = perp if self._rng.random() < _PERP_BURST_SHARE else linear[int(self._rng.integers(len(linear)))]
            end = now_ns + int(self._cfg.burst_duration_s * NANOS_PER_SECOND)
            self.bursts[und] = Burst(target.instrument_name, "buy" if sign > 0 else "sell", end)

    def _taker_actions(self, now_ns: int, dt_s: float, tops: Mapping[str, Top]) -> list[TakerOrder]:
        rates = self._rates.copy()
        burst_dir: dict[str, str] = {}
        for burst in self.bursts.values():
            if burst.end_ns > now_ns:
                burst_dir[burst.instrument_name] = burst.direction
        for i, spec in enumerate(self._specs):
            if spec.instrument_name in burst_dir:
                rates[i] *= self._cfg.burst_rate_multiplier
        counts = self._rng.poisson(rates * dt_s)
        out: list[TakerOrder] = []
        for j in np.flatnonzero(counts).tolist():
            spec = self._specs[j]
            for _ in range(int(counts[j])):
                direction = burst_dir.get(spec.instrument_name)
                if direction is None:
                    direction = "buy" if self._rng.random() < 0.5 else "sell"
                amount = self._taker_amount(spec)
                top = tops.get(spec.instrument_name)
                opposite = None if top is None else (top[2] if direction == "buy" else top[0])
                if opposite is not None:
                    out.append(TakerOrder(spec.instrument_name, direction, amount))
        return out

    def _taker_amount(self, spec: InstrumentSpec) -> float:
        index = self._model.index_price(spec.underlying)
        raw = float(self._rng.exponential(self._cfg.taker_size_usd / index))
        return max(floor_to(raw, spec.volume_tick_size), spec.min_order_amount)
