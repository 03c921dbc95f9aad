"""Statistics of a finished replay, from the recorder's fills and samples. No I/O.

PnL decomposition (USD, each fill valued against the book mid when it reached us):

* spread capture = sum over fills of side x (mid - price) x amount: what the quotes earned against the mid;
* inventory PnL = gross PnL - spread capture: the mark-to-market of the position held between fills;
* fees = maker/taker fees paid (negative: rebates), as the simulated exchange books them;
* funding = perpetual funding received (negative: paid) on the position held, at the rate and index in force
  (:mod:`.funding`, the emulator's convention); 0 when the history carries no funding rate (``funding_updates`` = 0).

The identity (tested): ``pnl_usd`` = spread capture + inventory PnL - fees + funding
= cash + position x last mark - fees + funding. Inventory PnL is defined as the rest, so it holds by construction;
what the tests check is that each term is booked as its definition says (funding to the cent against the formula).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from .recorder import MARKOUT_HORIZONS_NS, NANOS_PER_SECOND

SECONDS_PER_YEAR: Final = 365.0 * 24.0 * 3600.0
#: Sharpe and Sortino are computed on PnL changes over steps of at least this long (s), then annualised.
RETURN_STEP_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class BacktestMetrics:
    """The figures of one run (money USD, amounts underlying, times s unless named). NaN: not defined (e.g. a
    Sharpe ratio without two return steps, a markout without fills)."""

    events: int
    fills: int
    requests: int
    inserts: int
    denials: int
    pnl_usd: float
    spread_capture_usd: float
    inventory_pnl_usd: float
    fees_usd: float
    funding_usd: float
    funding_updates: int
    max_drawdown_usd: float
    sharpe: float
    sortino: float
    fill_ratio: float
    volume: float
    notional_usd: float
    markout_1s_bps: float
    markout_10s_bps: float
    markout_60s_bps: float
    position_final: float
    inventory_mean: float
    inventory_std: float
    inventory_mean_abs: float
    inventory_max_abs: float
    inventory_half_life_s: float
    quote_uptime: float
    bid_uptime: float
    ask_uptime: float
    mqp_score: float
    feed_latency_ms: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def markouts_bps(fills: npt.NDArray[np.void]) -> tuple[float, ...]:
    """Amount-weighted markout per horizon, bps of the fill price: side x (mid later - price) / price. Positive
    means the fill was good for us; fills whose horizon the replay did not reach are left out."""
    out = []
    side, price, amount = fills["side"], fills["price"], fills["amount"]  # field views: a month has 1M+ fills
    for horizon_ns in MARKOUT_HORIZONS_NS:
        later = fills[f"mid_{horizon_ns // NANOS_PER_SECOND}s"]
        ok = ~np.isnan(later)
        if not ok.any():
            out.append(math.nan)
            continue
        paid = price[ok]
        edge_bps = side[ok] * (later[ok] - paid) / paid * 1e4
        out.append(float(np.average(edge_bps, weights=amount[ok])))
    return tuple(out)


def max_drawdown(equity: npt.NDArray[np.float64]) -> float:
    """The largest fall of ``equity`` from a running peak (>= 0, same unit)."""
    if len(equity) == 0:
        return 0.0
    return float(np.max(np.maximum.accumulate(equity) - equity))


def sharpe_sortino(equity: npt.NDArray[np.float64], step_s: float) -> tuple[float, float]:
    """Annualised Sharpe and Sortino of the PnL changes of ``equity`` sampled every ``step_s`` seconds,
    resampled to steps of at least :data:`RETURN_STEP_S`. The PnL is in USD with no capital base, so these are
    mean / deviation of USD changes (no risk-free rate), x sqrt(steps per year)."""
    stride = max(1, math.ceil(RETURN_STEP_S / step_s))
    changes = np.diff(equity[::stride])
    if len(changes) < 2:
        return math.nan, math.nan
    per_year = math.sqrt(SECONDS_PER_YEAR / (step_s * stride))
    std = float(np.std(changes, ddof=1))
    mean = float(np.mean(changes))
    sharpe = mean / std * per_year if std > 0 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(changes, 0.0) ** 2)))
    sortino = mean / downside * per_year if downside > 0 else math.nan
    return sharpe, sortino


def half_life_s(inventory: npt.NDArray[np.float64], step_s: float) -> float:
    """Inventory half-life (s) of an AR(1) fit x[t+1] = phi x[t] on the samples: ln 2 / -ln phi x step. NaN when
    the inventory does not mean-revert (phi not in (0, 1)) or is never away from 0."""
    x, y = inventory[:-1], inventory[1:]
    denominator = float(np.dot(x, x))
    if len(x) < 2 or denominator == 0.0:
        return math.nan
    phi = float(np.dot(x, y)) / denominator
    if not 0.0 < phi < 1.0:
        return math.nan
    return math.log(2.0) / -math.log(phi) * step_s


def compute_metrics(
    fills: npt.NDArray[np.void], samples: npt.NDArray[np.void], *, sample_interval_ns: int, events: int,
    requests: int, inserts: int, offered_amount: float, denials: int, pnl_usd: float, spread_capture_usd: float,
    fees_usd: float, position_final: float, feed_latency_ns: int, funding_usd: float = 0.0, funding_updates: int = 0,
) -> BacktestMetrics:
    """Every figure of :class:`BacktestMetrics` from a replay's recorded arrays and end state. ``fill_ratio`` is
    the amount filled over the amount our orders offered (inserts, plus what amends added). ``pnl_usd`` includes
    ``funding_usd``; ``funding_updates``: funding rate observations replayed (0: the data had none)."""
    step_s = sample_interval_ns / NANOS_PER_SECOND
    equity = samples["equity_usd"]
    inventory = samples["position"]
    sharpe, sortino = sharpe_sortino(equity, step_s)
    m1, m10, m60 = markouts_bps(fills)
    volume = float(fills["amount"].sum())
    n = max(len(samples), 1)
    has_bid = ~np.isnan(samples["bid_price"])
    has_ask = ~np.isnan(samples["ask_price"])
    return BacktestMetrics(
        events=events,
        fills=len(fills),
        requests=requests,
        inserts=inserts,
        denials=denials,
        pnl_usd=pnl_usd,
        spread_capture_usd=spread_capture_usd,
        inventory_pnl_usd=pnl_usd + fees_usd - spread_capture_usd - funding_usd,
        fees_usd=fees_usd,
        funding_usd=funding_usd,
        funding_updates=funding_updates,
        max_drawdown_usd=max_drawdown(equity),
        sharpe=sharpe,
        sortino=sortino,
        fill_ratio=volume / offered_amount if offered_amount > 0 else math.nan,
        volume=volume,
        notional_usd=float((fills["price"] * fills["amount"]).sum()),
        markout_1s_bps=m1,
        markout_10s_bps=m10,
        markout_60s_bps=m60,
        position_final=position_final,
        inventory_mean=float(inventory.mean()) if len(inventory) else 0.0,
        inventory_std=float(inventory.std()) if len(inventory) else 0.0,
        inventory_mean_abs=float(np.abs(inventory).mean()) if len(inventory) else 0.0,
        inventory_max_abs=float(np.abs(inventory).max()) if len(inventory) else 0.0,
        inventory_half_life_s=half_life_s(inventory, step_s),
        quote_uptime=float((has_bid & has_ask).sum()) / n,
        bid_uptime=float(has_bid.sum()) / n,
        ask_uptime=float(has_ask.sum()) / n,
        mqp_score=float(samples["mqp_size"].mean()) if len(samples) else 0.0,
        feed_latency_ms=feed_latency_ns / 1e6,
    )
