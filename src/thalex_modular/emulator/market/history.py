"""Historical candles in the api.yaml row layouts, aggregated from 1m index candles.

Rows: index ``[t, o, h, l, c]``; perpetual ``[t, o, h, l, c, funding_payment, tob]``; future
``[t, o, h, l, c, tob]``; option ``[t, o, h, l, c, iv_o, iv_h, iv_l, iv_c, tob]``. ``t`` is the bucket start
(Unix s); ``tob`` = ``[bid_px, bid_sz, ask_px, ask_sz]`` of the liquidity providers at the minute's open at
``1m`` and ``null`` otherwise. Buckets are multiples of the resolution since the epoch; weeks start Monday
00:00 UTC. A bucket holds the 1m candles in [from, to) only.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .config import SECONDS_PER_YEAR, MarketConfig
from .errors import MarketLookupError
from .index_state import Candles
from .instruments import InstrumentSpec
from .lp_rules import quote_levels
from .pricing import PerpBasis, forward_price, option_mark

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RESOLUTION_S: dict[str, int] = {
    "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "1d": 86_400, "1w": 604_800,
}
_WEEK_OFFSET_S = 4 * 86_400  # 1970-01-01 was a Thursday; 1970-01-05 a Monday


def resolution_seconds(resolution: str) -> int:
    """Seconds per bucket of an api.yaml resolution; raises MarketLookupError for anything else."""
    try:
        return RESOLUTION_S[resolution]
    except KeyError:
        raise MarketLookupError(f"invalid `resolution` (one of {list(RESOLUTION_S)}), was {resolution!r}") from None


class _Buckets:
    """Groups consecutive 1m rows into resolution buckets and reduces columns per bucket."""

    def __init__(self, t: IntArray, res_s: int) -> None:
        offset = _WEEK_OFFSET_S if res_s == RESOLUTION_S["1w"] else 0
        b = (t - offset) // res_s * res_s + offset
        self.n = len(t)
        self.starts = np.flatnonzero(np.r_[True, np.diff(b) != 0]) if self.n else np.empty(0, dtype=np.int64)
        self.ends = np.r_[self.starts[1:] - 1, self.n - 1] if self.n else self.starts
        self.t = b[self.starts] if self.n else b

    def first(self, col: FloatArray) -> FloatArray:
        return col[self.starts]

    def last(self, col: FloatArray) -> FloatArray:
        return col[self.ends]

    def max(self, col: FloatArray) -> FloatArray:
        return np.maximum.reduceat(col, self.starts) if self.n else col

    def min(self, col: FloatArray) -> FloatArray:
        return np.minimum.reduceat(col, self.starts) if self.n else col

    def sum(self, col: FloatArray) -> FloatArray:
        return np.add.reduceat(col, self.starts) if self.n else col


def _ohlc(g: _Buckets, o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray) -> list[FloatArray]:
    return [g.first(o), g.max(h), g.min(lo), g.last(c)]


def index_rows(candles: Candles, res_s: int) -> list[list[float]]:
    """Index rows ``[t, o, h, l, c]`` at ``res_s`` buckets."""
    g = _Buckets(candles.t, res_s)
    cols = _ohlc(g, candles.o, candles.h, candles.l, candles.c)
    return [[int(t), *vals] for t, *vals in zip(g.t.tolist(), *(c.tolist() for c in cols), strict=True)]


def _tob(spec: InstrumentSpec, fair: FloatArray, ref: FloatArray, config: MarketConfig) -> list[list[float | None]]:
    out: list[list[float | None]] = []
    for f, r in zip(fair.tolist(), ref.tolist(), strict=True):
        bids, asks = quote_levels(spec, f, r, config.agents, 1)
        bid: list[float | None] = [bids[0][0], bids[0][1]] if bids else [None, None]
        out.append([*bid, asks[0][0], asks[0][1]])
    return out


def mark_rows(
    spec: InstrumentSpec, candles: Candles, res_s: int, config: MarketConfig, basis: PerpBasis
) -> list[list[object]]:
    """Mark rows of ``spec`` in the api.yaml layout of its type, from the index candles."""
    u = next(x for x in config.underlyings if x.currency + "USD" == spec.underlying)
    t = candles.t
    idx_cols = (candles.o, candles.h, candles.l, candles.c)
    g = _Buckets(t, res_s)
    extra: list[FloatArray] = []
    if spec.type == "perpetual":
        b = basis.bps(t.astype(np.float64) + 30.0)
        b = np.where(np.abs(b) <= config.mark_premium_deadband_bps, 0.0, b)
        marks = [col * (1.0 + b * 1e-4) for col in idx_cols]
        premium_bps = np.sign(b) * np.maximum(np.abs(b) - config.funding_dampener_bps, 0.0)
        funding = premium_bps * 1e-4 * candles.c * (60.0 / 86_400.0)  # USD paid per long contract per minute
        extra = [g.sum(funding)]
    else:
        expiry = spec.expiration_timestamp
        if expiry is None:
            raise MarketLookupError(f"`instrument_name` {spec.instrument_name!r} has no expiry")
        years = np.maximum((expiry - t.astype(np.float64) - 30.0) / SECONDS_PER_YEAR, 60.0 / SECONDS_PER_YEAR)
        if spec.type == "future":
            marks = [forward_price(col, u, years) for col in idx_cols]
        else:
            assert spec.strike_price is not None
            is_call = spec.option_type == "call"
            priced = [option_mark(col, candles.vol, years, spec.strike_price, is_call, u, config.smile)
                      for col in idx_cols]
            prices = np.stack([p[0] for p in priced])
            ivs = np.stack([p[1] for p in priced])
            marks = [prices[0], prices.max(axis=0), prices.min(axis=0), prices[3]]
            iv_cols = [ivs[0], ivs.max(axis=0), ivs.min(axis=0), ivs[3]]
            extra = _ohlc(g, *iv_cols)
    cols = [*_ohlc(g, *marks), *extra]
    tob: list[object] = _tob(spec, marks[0], candles.o, config) if res_s == 60 else [None] * len(g.t)  # type: ignore[assignment]
    return [[int(tt), *vals, tb] for tt, *vals, tb in zip(g.t.tolist(), *(c.tolist() for c in cols), tob, strict=True)]
