"""One underlying's index: the pre-start 1m candle history and the live path on the sim grid.

The live grid is anchored at ``origin_ns`` (start rounded down to the minute); grid step k is at
``origin_ns + k * step_ns``. Minute j of the live path is one generated chunk (steps j*spm+1 .. (j+1)*spm),
so its candle is exact and the path does not depend on how often ``advance`` is called. History covers the
``history_days`` whole minutes before ``origin_ns`` and ends at the configured initial price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .config import NANOS_PER_SECOND, MarketConfig, UnderlyingConfig
from .index_process import IndexProcess, diffusive_annual_vol

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Candles:
    """1m index candles: ``t`` minute start (Unix s), o/h/l/c in USD, ``vol`` mean annualised diffusive vol."""

    t: IntArray
    o: FloatArray
    h: FloatArray
    l: FloatArray  # noqa: E741 - OHLC naming
    c: FloatArray
    vol: FloatArray

    def __len__(self) -> int:
        return len(self.t)


def _ohlc_from_path(open_x: float, x: FloatArray, per: int) -> tuple[FloatArray, ...]:
    """OHLC (log) of consecutive groups of ``per`` steps; the open of a group is the previous close."""
    grid = x.reshape(-1, per)
    closes = grid[:, -1]
    opens = np.concatenate(([open_x], closes[:-1]))
    highs = np.maximum(grid.max(axis=1), opens)
    lows = np.minimum(grid.min(axis=1), opens)
    return opens, highs, lows, closes


class IndexState:
    """History plus live path of one underlying's index. Prices in USD, times in Unix s / ns as named."""

    def __init__(self, config: MarketConfig, u: UnderlyingConfig, stream: int) -> None:
        self.u = u
        self.name = f"{u.currency}USD"
        minute_ns = 60 * NANOS_PER_SECOND
        self.origin_ns = config.start_ns - config.start_ns % minute_ns
        self.origin_s = self.origin_ns // NANOS_PER_SECOND
        self.step_ns = config.step_ns
        self.spm = minute_ns // config.step_ns  # steps per minute
        hist_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(stream, 0)))
        live_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(stream, 1)))
        self.history, h_end = self._make_history(config, hist_rng)
        self._log_p0 = math.log(u.initial_price_usd)
        self._process = IndexProcess(u, live_rng, config.step_ns / NANOS_PER_SECOND, self._log_p0, h_end)
        self._live: list[tuple[float, float, float, float, float]] = []  # completed minutes: o, h, l, c, vol
        self._chunk_x: FloatArray = np.empty(0)
        self._chunk_vol: FloatArray = np.empty(0)
        self._chunk_open_x = self._log_p0
        self._chunks = 0  # chunks generated; the current one is index _chunks - 1
        self._k = 0
        self.price = u.initial_price_usd
        self.vol = diffusive_annual_vol(u) * math.exp(h_end - u.vol_of_vol**2)

    def _make_history(self, config: MarketConfig, rng: np.random.Generator) -> tuple[Candles, float]:
        per = 60 // config.history_substep_s
        n_min = config.history_days * 1440
        h0 = float(rng.normal(0.0, self.u.vol_of_vol))
        proc = IndexProcess(self.u, rng, float(config.history_substep_s), 0.0, h0)
        x, sig = proc.generate(n_min * per)
        shift = math.log(self.u.initial_price_usd) - float(x[-1])
        o, h, lo, c = _ohlc_from_path(shift, x + shift, per)
        t = self.origin_s - 60 * np.arange(n_min, 0, -1, dtype=np.int64)
        vol = sig.reshape(-1, per).mean(axis=1)
        candles = Candles(t, np.exp(o), np.exp(h), np.exp(lo), np.exp(c), vol)
        return candles, proc.log_vol_factor

    def advance(self, now_ns: int) -> None:
        """Move to the last grid step at or before ``now_ns`` (earlier times than the current step: no-op)."""
        k = max(0, (now_ns - self.origin_ns) // self.step_ns)
        if k <= self._k:
            return
        self._k = k
        needed = (k - 1) // self.spm
        while self._chunks <= needed:
            if self._chunks > 0:
                x, v = self._chunk_x, self._chunk_vol
                self._live.append(
                    (
                        math.exp(self._chunk_open_x),
                        math.exp(max(float(x.max()), self._chunk_open_x)),
                        math.exp(min(float(x.min()), self._chunk_open_x)),
                        math.exp(float(x[-1])),
                        float(v.mean()),
                    )
                )
                self._chunk_open_x = float(x[-1])
            self._chunk_x, self._chunk_vol = self._process.generate(self.spm)
            self._chunks += 1
        pos = (k - 1) % self.spm
        self.price = math.exp(float(self._chunk_x[pos]))
        self.vol = float(self._chunk_vol[pos])

    def trend_direction(self) -> int:
        """+1 / -1 while a trending spell is active at the current step, else 0."""
        return self._process.trend_at(self._k * self.step_ns / NANOS_PER_SECOND)

    def candles(self, from_s: float, to_s: float) -> Candles:
        """1m candles with minute start in [from_s, to_s), up to and including the current (partial) minute."""
        hist = self.history
        t_live, rows = self._live_rows()
        t = np.concatenate((hist.t, t_live))
        cols = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        lo_i, hi_i = np.searchsorted(t, math.ceil(from_s)), np.searchsorted(t, math.ceil(to_s))
        sl = slice(int(lo_i), int(hi_i))

        def col(hist_col: FloatArray, j: int) -> FloatArray:
            return np.concatenate((hist_col, cols[:, j]))[sl]

        return Candles(t[sl], col(hist.o, 0), col(hist.h, 1), col(hist.l, 2), col(hist.c, 3), col(hist.vol, 4))

    def _live_rows(self) -> tuple[IntArray, list[tuple[float, float, float, float, float]]]:
        rows = list(self._live)
        if self._k == 0:
            p0 = self.u.initial_price_usd
            rows.append((p0, p0, p0, p0, self.vol))
        else:
            pos = (self._k - 1) % self.spm
            part = self._chunk_x[: pos + 1]
            ox = self._chunk_open_x
            rows.append(
                (
                    math.exp(ox),
                    math.exp(max(float(part.max()), ox)),
                    math.exp(min(float(part.min()), ox)),
                    math.exp(float(part[-1])),
                    float(self._chunk_vol[: pos + 1].mean()),
                )
            )
        t = self.origin_s + 60 * np.arange(len(rows), dtype=np.int64)
        return t, rows
