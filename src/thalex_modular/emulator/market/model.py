"""MarketModel: indexes, fair values and ticker marks of every instrument, in sim time.

Deterministic for ``MarketConfig.seed``; time is passed in as Unix ns of sim time and never runs backwards
(an earlier ``now_ns`` than the last step is a no-op). Prices USD, vols annualised.
"""

from __future__ import annotations

import math

import numpy as np

from . import black76, history
from .config import NANOS_PER_SECOND, MarketConfig
from .errors import MarketLookupError
from .index_state import IndexState
from .instruments import InstrumentSpec, build_catalogue
from .perpetual import PerpMarkState
from .pricing import PerpBasis, forward_price, option_mark, years_to_expiry


class MarketModel:
    """The simulated market. Call :meth:`step` with the sim time, then read prices.

    Public API: instruments(), instrument(name), step(now_ns), index_price(underlying), fair_price(name),
    ticker_fields(name, book_mid, now_ns), index_json(underlying, now_ns), mark_history(...),
    index_history(...), trend_direction(underlying), observe_book_mid(name, book_mid, now_ns).
    """

    def __init__(self, config: MarketConfig) -> None:
        self.config = config
        self._specs = build_catalogue(config)
        self._by_name = {s.instrument_name: s for s in self._specs}
        self._indexes = {u.currency + "USD": IndexState(config, u, i) for i, u in enumerate(config.underlyings)}
        self._basis = {
            name: PerpBasis(np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(i, 2))),
                            config.perp_basis_bps)
            for i, name in enumerate(self._indexes)
        }
        start_s = config.start_ns // NANOS_PER_SECOND
        self._perps = {
            s.instrument_name: PerpMarkState(start_s, config.mark_premium_deadband_bps, config.funding_dampener_bps)
            for s in self._specs
            if s.type == "perpetual"
        }
        options = [s for s in self._specs if s.type == "option"]
        self._chains = {
            und: (
                [s.instrument_name for s in options if s.underlying == und],
                np.array([s.strike_price for s in options if s.underlying == und], dtype=np.float64),
                np.array([s.option_type == "call" for s in options if s.underlying == und], dtype=np.bool_),
                np.array([s.expiry_ns() for s in options if s.underlying == und], dtype=np.int64),
            )
            for und in self._indexes
        }
        self._chain_index = {name: i for names, *_ in self._chains.values() for i, name in enumerate(names)}
        # per underlying: (sim ns, (marks, ivs, forwards, deltas)) of its option chain, priced in one pass
        self._chain_cache: dict[str, tuple[int, tuple[list[float], list[float], list[float], list[float]]]] = {}
        self._fair_cache: tuple[int, dict[str, float]] | None = None
        self._now_ns = config.start_ns
        self.step(config.start_ns)

    # -- lookup -----------------------------------------------------------------------------------------------

    def instruments(self) -> list[InstrumentSpec]:
        """Every listed instrument (perpetuals, futures, options of each underlying)."""
        return list(self._specs)

    def instrument(self, instrument_name: str) -> InstrumentSpec:
        """The spec of ``instrument_name``; raises MarketLookupError if unknown."""
        try:
            return self._by_name[instrument_name]
        except KeyError:
            raise MarketLookupError(f"unknown `instrument_name`, was {instrument_name!r}") from None

    def _index(self, underlying: str) -> IndexState:
        try:
            return self._indexes[underlying]
        except KeyError:
            known = sorted(self._indexes)
            raise MarketLookupError(f"unknown `underlying` (one of {known}), was {underlying!r}") from None

    @property
    def now_ns(self) -> int:
        """Sim time of the last step (Unix ns)."""
        return self._now_ns

    # -- time -------------------------------------------------------------------------------------------------

    def step(self, now_ns: int) -> None:
        """Advance indexes, perpetual marks and funding to ``now_ns`` (sim Unix ns)."""
        if now_ns < self._now_ns:
            return
        self._now_ns = now_ns
        for idx in self._indexes.values():
            idx.advance(now_ns)
        now_s = now_ns / NANOS_PER_SECOND
        for name, perp in self._perps.items():
            perp.advance(now_s, self._indexes[self._by_name[name].underlying].price)

    # -- prices -----------------------------------------------------------------------------------------------

    def index_price(self, underlying: str) -> float:
        """Index price (USD) of ``underlying`` (e.g. "BTCUSD") at the last step."""
        return self._index(underlying).price

    def trend_direction(self, underlying: str) -> int:
        """+1 / -1 while a trending spell of the index is active, else 0 (used by toxic taker bursts)."""
        return self._index(underlying).trend_direction()

    def fair_price(self, instrument_name: str) -> float:
        """The model's fair value in USD: perpetual index x (1 + basis), future forward, option Black-76."""
        spec = self.instrument(instrument_name)
        idx = self._indexes[spec.underlying]
        if spec.type == "perpetual":
            basis = self._basis[spec.underlying].bps_at(self._now_ns / NANOS_PER_SECOND)
            return idx.price * (1.0 + basis * 1e-4)
        return self._dated_marks(spec)[0]

    def fair_prices(self) -> dict[str, float]:
        """Fair value (USD) of every instrument at the last step, option chains priced in one vectorised pass
        (same values as :meth:`fair_price`)."""
        if self._fair_cache is not None and self._fair_cache[0] == self._now_ns:
            return self._fair_cache[1]
        out: dict[str, float] = {}
        for spec in self._specs:
            if spec.type != "option":
                out[spec.instrument_name] = self.fair_price(spec.instrument_name)
        for und, (names, *_) in self._chains.items():
            if names:
                out.update(zip(names, self._chain_marks(und)[0], strict=True))
        self._fair_cache = (self._now_ns, out)
        return out

    def _chain_marks(self, underlying: str) -> tuple[list[float], list[float], list[float], list[float]]:
        """(marks USD, ivs, forwards USD, deltas) of the underlying's option chain at the last step, in chain order:
        one vectorised pass per sim instant, shared by every option's ticker and by :meth:`fair_prices`."""
        cached = self._chain_cache.get(underlying)
        if cached is not None and cached[0] == self._now_ns:
            return cached[1]
        names, strikes, calls, expiries = self._chains[underlying]
        idx = self._indexes[underlying]
        years = years_to_expiry(self._now_ns, expiries)
        spot = np.full(len(names), idx.price)
        vol = np.full(len(names), idx.vol)
        marks, ivs, forwards = option_mark(spot, vol, years, strikes, calls, idx.u, self.config.smile)
        deltas = black76.delta_array(forwards, strikes, years, ivs, calls)
        chain = (marks.tolist(), ivs.tolist(), forwards.tolist(), deltas.tolist())
        self._chain_cache[underlying] = (self._now_ns, chain)
        return chain

    def _dated_marks(self, spec: InstrumentSpec) -> tuple[float, float | None, float, float]:
        """(mark USD, iv or None, forward USD, delta) of a future or option at the last step."""
        if spec.type == "option":
            marks, ivs, forwards, deltas = self._chain_marks(spec.underlying)
            i = self._chain_index[spec.instrument_name]
            return marks[i], ivs[i], forwards[i], deltas[i]
        expiry_ns = spec.expiry_ns()
        if expiry_ns is None:
            raise MarketLookupError(f"`instrument_name` {spec.instrument_name!r} has no expiry")
        fut = float(forward_price(np.asarray(self._indexes[spec.underlying].price), self._indexes[spec.underlying].u,
                                  years_to_expiry(self._now_ns, expiry_ns)))
        return fut, None, fut, 1.0

    def observe_book_mid(self, instrument_name: str, book_mid: float | None, now_ns: int) -> None:
        """Feed the perpetual's (constrained) book mid in USD; other instruments ignore it."""
        perp = self._perps.get(instrument_name)
        if perp is None:
            return
        self.step(now_ns)
        perp.observe(self._now_ns / NANOS_PER_SECOND, self._indexes[self._by_name[instrument_name].underlying].price,
                     book_mid)

    def ticker_fields(self, instrument_name: str, book_mid: float | None, now_ns: int) -> dict[str, object]:
        """The model part of an api.yaml Ticker: mark_price, mark_timestamp (Unix s), index, delta, collars;
        options add iv and forward; perpetuals add funding_rate (per 24 h, long pays when positive),
        funding_mark and realised_funding_24h (a long's funding value: negative while longs pay) and
        average_funding_rate_24h.

        ``book_mid`` (USD) feeds the perpetual's premium EMA; None means no two-sided book.
        """
        spec = self.instrument(instrument_name)
        self.observe_book_mid(instrument_name, book_mid, now_ns)
        idx = self._indexes[spec.underlying]
        out: dict[str, object] = {"mark_timestamp": self._now_ns / NANOS_PER_SECOND, "index": idx.price}
        if spec.type == "perpetual":
            perp = self._perps[instrument_name]
            mark = perp.mark(idx.price)
            out |= {
                "mark_price": mark, "delta": 1.0, "funding_rate": perp.funding_rate(),
                "funding_mark": perp.funding_mark, "realised_funding_24h": perp.realised_funding_24h(),
                "average_funding_rate_24h": perp.average_funding_rate_24h(),
            }
        else:
            mark, iv, fwd, d = self._dated_marks(spec)
            out |= {"mark_price": mark, "delta": d}
            if iv is not None:
                out |= {"iv": iv, "forward": fwd}
        low, high = self.collar(spec, mark)
        out |= {"collar_low": low, "collar_high": high}
        return out

    def collar(self, spec: InstrumentSpec, mark_usd: float) -> tuple[float, float]:
        """(collar_low, collar_high) in USD on the tick grid: mark -+ collar_pct_linear for perpetuals and
        futures; for options mark -+ max(collar_pct_option x mark, 10 ticks, 0.5 % of the index), low >= 1 tick."""
        tick = spec.tick_size
        if spec.type == "option":
            index = self._indexes[spec.underlying].price
            width = max(self.config.collar_pct_option * mark_usd, 10 * tick, 0.005 * index)
        else:
            width = self.config.collar_pct_linear * mark_usd
        low = max(math.floor((mark_usd - width) / tick) * tick, tick)
        high = math.ceil((mark_usd + width) / tick) * tick
        return float(low), float(high)

    def index_json(self, underlying: str, now_ns: int) -> dict[str, object]:
        """The api.yaml Index object: {index_name, price (USD), timestamp (Unix s)}."""
        idx = self._index(underlying)
        self.step(now_ns)
        return {"index_name": idx.name, "price": idx.price, "timestamp": self._now_ns / NANOS_PER_SECOND}

    # -- history ----------------------------------------------------------------------------------------------

    def mark_history(self, instrument_name: str, from_s: float, to_s: float, resolution: str) -> dict[str, object]:
        """api.yaml result of public/mark_price_historical_data (rows by instrument type, ``to`` exclusive)."""
        spec = self.instrument(instrument_name)
        idx = self._indexes[spec.underlying]
        res = history.resolution_seconds(resolution)
        candles = idx.candles(from_s, to_s)
        out: dict[str, object] = {"instrument_type": spec.type}
        out["mark"] = history.mark_rows(spec, candles, res, self.config, self._basis[spec.underlying])
        if to_s <= float(idx.history.t[0]):
            out["no_data"] = True
        return out

    def index_history(self, index_name: str, from_s: float, to_s: float, resolution: str) -> dict[str, object]:
        """api.yaml result of public/index_price_historical_data: rows [t, o, h, l, c], ``to`` exclusive."""
        idx = self._index(index_name)
        res = history.resolution_seconds(resolution)
        out: dict[str, object] = {"index": history.index_rows(idx.candles(from_s, to_s), res)}
        if to_s <= float(idx.history.t[0]):
            out["no_data"] = True
        return out
