"""Avellaneda-Stoikov market making (2008) with a rolling horizon, bounded skew and inventory limits, in Guéant's
form for trades of a given size.

Units (docs/quoting_model.md): prices in USD per unit of the underlying; sigma the price's vol in USD per
sqrt(second); time in seconds; amounts in the underlying. ``gamma`` is the absolute risk aversion of the exponential
utility of P&L, per USD. ``kappa`` is the decay of the fill intensity ``A exp(-kappa delta)`` with the quote's
distance ``delta`` from the mid, per USD of price. ``order_size`` (Delta) is the amount each fill trades, in the
underlying. With ``gamma Delta / kappa`` dimensionless, the spread terms are ``gamma Delta sigma**2 T`` and
``(2 / (gamma Delta)) ln(1 + gamma Delta / kappa)``; the inventory skew ``q gamma sigma**2 T`` takes the position q.
Inside the strategy prices become integer ticks with the :class:`Instrument`'s rounding (bids floor, asks ceil).

The quoting math itself is one compiled kernel (:mod:`.as_kernel`); the formula functions below state the
model and are what the kernel computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from thalex_modular.platform.domain.entities import Fill, Instrument, Quote, Trade
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.jit import entry
from thalex_modular.platform.domain.quote_array import QuoteArray, new_quote_array

from .as_kernel import (
    ERR_CAPACITY,
    ERR_FAIR_PRICE,
    ERR_POSITION,
    ERR_RISK_MULTIPLIER,
    ERR_SIGMA,
    QUOTE_KERNEL_SIGNATURE,
    pack_parameters,
    quote_kernel,
)
from .kappa_estimator import KappaEstimator
from .kappa_sampler import KappaSampler
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
        mid: USD. inventory: signed, underlying. gamma: per USD (of P&L).
        sigma: USD per sqrt(second). time_left: seconds.
    """
    return mid - inventory * gamma * sigma**2 * time_left


def optimal_spread(gamma: float, sigma: float, time_left: float, kappa: float, order_size: float = 1.0) -> float:
    """Optimal total spread (USD) for fills of ``order_size``:
    ``gamma * Delta * sigma**2 * time_left + (2 / (gamma * Delta)) * ln(1 + gamma * Delta / kappa)``.

    The default order size of one unit of the underlying is the paper's formula. A market maker quoting 0.01 BTC
    at gamma 0.002 /USD bears the inventory risk of 0.01 BTC per fill, not of a whole BTC: its inventory term is a
    hundredth of the unit-size one, and the intensity term tends to ``2 / kappa``.

    Args:
        gamma: > 0, per USD. sigma: USD per sqrt(second). time_left: seconds.
        kappa: > 0, order-arrival decay per USD. order_size: > 0, underlying.
    """
    risk = gamma * order_size
    return risk * sigma**2 * time_left + (2.0 / risk) * math.log1p(risk / kappa)


# -- configuration -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AvellanedaStoikovConfig:
    """Parameters of :class:`AvellanedaStoikovStrategy`.

    Args:
        gamma: absolute risk aversion, per USD of P&L.
        max_position_underlying: |position| limit, underlying; quotes never take it beyond (own size included).
        level_amounts: amount per level, underlying, nearest level first; its length is the number of levels.
            The nearest level's amount is the order size Delta of the spread terms (:func:`optimal_spread`).
        horizon_s: rolling horizon T - t, seconds (time to expiry instead when that is shorter).
        kappa_per_usd: fixed order-arrival decay per USD; None estimates it online from public trades.
        kappa_fallback_per_usd, kappa_min_per_usd, kappa_max_per_usd: online estimate's fallback and bounds.
        kappa_window_trades, kappa_min_trades: online estimate's window and the trades it needs before use.
        kappa_own_fill_wait_s: how long a public print waits for our own fill to claim it (ours are not market
            arrivals), seconds (:class:`~.kappa_sampler.KappaSampler`).
        kappa_book_max_age_s: the oldest book a print's distance is measured from, seconds.
        min_spread_ticks: minimum bid-ask distance of our own quotes, ticks (>= 1).
        max_cross_ticks: how far a quote may cross the touch, ticks: ``bid <= best_ask - 1 + max_cross_ticks``
            and ``ask >= best_bid + 1 - max_cross_ticks`` (0 = never take liquidity).
        level_spacing_ticks: distance between consecutive levels of one side, ticks (>= 1).
        max_skew_ticks: cap of the inventory shift ``|mid - reservation|``, ticks (>= 0).
        maker_fee_bps: the venue's maker fee, bps of the quoted price (negative = a rebate); the half spread is
            at least ``maker_fee_bps + min_edge_bps`` of the fair price.
        min_edge_bps: the edge a fill must earn beyond the maker fee, bps of the price (>= 0).
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
    kappa_own_fill_wait_s: float = 1.0
    kappa_book_max_age_s: float = 1.0
    min_spread_ticks: int = 2
    max_cross_ticks: int = 0
    level_spacing_ticks: int = 1
    max_skew_ticks: int = 20
    maker_fee_bps: float = 0.0
    min_edge_bps: float = 0.0

    def __post_init__(self) -> None:
        for name in ("kappa_own_fill_wait_s", "kappa_book_max_age_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidValue(f"AvellanedaStoikovConfig.{name} must be finite and >= 0, was {value!r}")
        for name in ("gamma", "max_position_underlying", "horizon_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidValue(f"AvellanedaStoikovConfig.{name} must be finite and > 0, was {value!r}")
        if self.kappa_per_usd is not None and not (math.isfinite(self.kappa_per_usd) and self.kappa_per_usd > 0):
            raise InvalidValue(
                f"AvellanedaStoikovConfig.kappa_per_usd must be None or finite and > 0, was {self.kappa_per_usd!r}"
            )
        if not math.isfinite(self.maker_fee_bps):
            raise InvalidValue(f"AvellanedaStoikovConfig.maker_fee_bps must be finite, was {self.maker_fee_bps!r}")
        if not (math.isfinite(self.min_edge_bps) and self.min_edge_bps >= 0):
            raise InvalidValue(
                f"AvellanedaStoikovConfig.min_edge_bps must be finite and >= 0, was {self.min_edge_bps!r}"
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

    @property
    def order_size_underlying(self) -> float:
        """Delta of the spread terms: the nearest level's amount (what a fill at the touch quote trades)."""
        return self.level_amounts[0]


# -- the strategy --------------------------------------------------------------------------------------------


class AvellanedaStoikovStrategy:
    """Quotes both sides around the A-S reservation price; implements :class:`~.protocol.ArrayStrategy`.

    Per call: mid = the fair price (the owner's price reference: the mark by default); sigma converted to
    USD once; the half spread is half :func:`optimal_spread` for the nearest level's size, at least the maker fee
    plus the minimum edge (bps of the fair price), times the regime's ``risk_multiplier`` (never below that fee
    floor: a multiplier above 1 always widens); the inventory shift ``q * risk_multiplier * gamma * sigma² * T`` is
    capped to ``max_skew_ticks`` (so it moves both quotes toward reducing inventory: the side that adds
    inventory moves away from the mid, the other closer; it grows at most linearly and is bounded); the half
    spread is at least ``min_spread_ticks / 2``. Bids round down, asks up, then each is held behind the touch
    (``max_cross_ticks``). Sizes are floored to lots; each side stops where it would take ``|position|`` past the
    limit. No quotes on or after a dated instrument's expiry.

    :meth:`quote_into` writes the quotes as int64 rows (the tick path); :meth:`compute_quotes` returns them as
    :class:`Quote` values. Both run :func:`~.as_kernel.quote_kernel`.
    """

    __slots__ = (
        "_book_ask",
        "_book_bid",
        "_book_ns",
        "_estimator",
        "_fp",
        "_inst",
        "_ip",
        "_kappa",
        "_last_count",
        "_last_ladder",
        "_last_rows",
        "_params",
        "_quote_kernel",
        "_quoted_name",
        "_rows",
        "_sampler",
        "config",
    )

    def __init__(self, config: AvellanedaStoikovConfig) -> None:
        self.config = config
        self._quote_kernel = entry(self._model_kernel(), QUOTE_KERNEL_SIGNATURE)
        self._estimator: KappaEstimator | None = None
        self._sampler: KappaSampler | None = None
        if config.kappa_per_usd is None:
            self._estimator = KappaEstimator(
                config.kappa_window_trades,
                config.kappa_min_trades,
                config.kappa_min_per_usd,
                config.kappa_max_per_usd,
                config.kappa_fallback_per_usd,
            )
            self._sampler = KappaSampler(self._estimator, round(config.kappa_own_fill_wait_s * 1e9),
                                         round(config.kappa_book_max_age_s * 1e9))
        # the kappa in use; NaN = ask the estimator again (only a counted sample changes its answer)
        self._kappa = math.nan if config.kappa_per_usd is None else float(config.kappa_per_usd)
        self._quoted_name: str | None = None
        # the book of the last quote (USD; None = that side empty) and its decision time: kappa's samples are
        # measured from it
        self._book_bid: float | None = None
        self._book_ask: float | None = None
        self._book_ns = 0
        # kernel parameters per instrument, and those of the instrument quoted last
        self._params: dict[Instrument, tuple[NDArray[np.float64], NDArray[np.int64]]] = {}
        self._inst: Instrument | None = None
        self._fp: NDArray[np.float64] = np.empty(0, dtype=np.float64)
        self._ip: NDArray[np.int64] = np.empty(0, dtype=np.int64)
        # compute_quotes' rows, and its last ladder with its count and the rows' bytes: an unchanged ladder is
        # returned as the same tuple (no rebuild)
        self._rows = new_quote_array(2 * config.levels)
        self._last_count = 0
        self._last_rows = b""
        self._last_ladder: tuple[Quote, ...] = ()

    def _model_kernel(self) -> QuoteKernel:
        """The compiled quoting model (a subclass quotes with another kernel of the same signature and layout)."""
        return quote_kernel

    def _pack(self, instrument: Instrument) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """The model kernel's parameters for ``instrument``."""
        return pack_parameters(instrument, self.config)

    @property
    def max_quotes(self) -> int:
        """Rows :meth:`quote_into` may write: both sides, all levels."""
        return 2 * self.config.levels

    def kappa_per_usd(self) -> float:
        """The kappa in use: configured, or the online estimate (per USD)."""
        if self._estimator is None:
            return self._kappa
        return self._estimator.kappa_per_usd()

    def on_trade(self, trade: Trade) -> None:
        """A public print: a kappa sample unless our own fill claims it (:class:`~.kappa_sampler.KappaSampler`).
        Ignored before the first quote, for other instruments, or when kappa is configured."""
        sampler = self._sampler
        if sampler is not None and trade.instrument_name == self._quoted_name:
            self._estimate_moved(sampler.on_print(trade, self._quoted_instrument(), self._book_bid, self._book_ask,
                                                  self._book_ns))

    def on_own_fill(self, fill: Fill) -> None:
        """One of our fills: its print on the public tape is not a market arrival."""
        sampler = self._sampler
        if sampler is not None and fill.instrument_name == self._quoted_name:
            self._estimate_moved(sampler.on_own_fill(fill, self._quoted_instrument()))

    def _quoted_instrument(self) -> Instrument:
        assert self._inst is not None  # set with _quoted_name
        return self._inst

    def _estimate_moved(self, moved: bool) -> None:
        if moved:
            self._kappa = _NAN  # ask the estimator again at the next quote

    def quote_into(
        self,
        out: QuoteArray,
        instrument: Instrument,
        best_bid_price: float | None,
        best_ask_price: float | None,
        fair_price: float,
        position: float,
        sigma_per_s: float,
        risk_multiplier: float,
        now_ns: int,
    ) -> int:
        """Write the desired bids (nearest first) then asks (nearest first) into ``out[:n]``; return n.

        Args:
            out: int64 rows ``[is_buy, price_ticks, amount_lots, level]``, at least :attr:`max_quotes` rows; held
                by the strategy between calls (rows past n are left as they are).
            instrument: what we quote.
            best_bid_price, best_ask_price: the touch, USD; None when that side of the book is empty.
            fair_price: the price to centre on, USD. position: signed, underlying.
            sigma_per_s: relative (log-return) vol per sqrt(second). risk_multiplier: the regime's (> 0).
            now_ns: decision time, int ns.

        Raises:
            InvalidValue: what :class:`QuoteContext` refuses (same messages); ``out`` too small; quotes priced
                beyond +-2**62 ticks or at NaN/inf (absurd inputs, e.g. an overflowing ``sigma**2``).
        """
        if instrument is not self._inst:
            self._use(instrument)
        sampler = self._sampler
        if sampler is not None and sampler.pending and sampler.flush(now_ns):
            self._kappa = _NAN
        kappa = self._kappa
        if kappa != kappa:  # NaN: the estimate may have moved
            assert self._estimator is not None
            kappa = self._kappa = self._estimator.kappa_per_usd()
        # exact scalar types: the kernel's entry takes exactly QUOTE_KERNEL_SIGNATURE (numba does not check them)
        n: int = self._quote_kernel(
            out,
            self._fp,
            self._ip,
            _NAN if best_bid_price is None else float(best_bid_price),
            _NAN if best_ask_price is None else float(best_ask_price),
            float(fair_price),
            float(position),
            float(sigma_per_s),
            float(risk_multiplier),
            int(now_ns),
            kappa,
        )
        if n < 0:
            self._refuse(n, out, instrument, best_bid_price, best_ask_price, fair_price, position, sigma_per_s,
                         risk_multiplier, now_ns)
        # the quoting state moves on: the instrument quoted last and its book (stores only: the tick path)
        self._quoted_name = instrument.instrument_name
        self._book_bid = best_bid_price
        self._book_ask = best_ask_price
        self._book_ns = now_ns
        return n

    def compute_quotes(self, ctx: QuoteContext) -> Sequence[Quote]:
        """The desired bids (nearest first) then asks (nearest first); empty when nothing may be quoted."""
        tk = ctx.ticker
        rows = self._rows
        n = self.quote_into(
            rows, ctx.instrument, tk.best_bid_price, tk.best_ask_price, ctx.fair_price, ctx.position,
            ctx.sigma_per_s, ctx.risk_multiplier, ctx.now_ns,
        )
        # rows past n hold older quotes: equal (n, all rows) means an equal ladder; unequal may rebuild needlessly
        key = rows.tobytes()
        if n != self._last_count or key != self._last_rows:
            self._last_ladder = tuple(
                [_new_quote(Quote, (_SIDE_OF[row[0]], row[1], row[2], row[3])) for row in rows.tolist()[:n]]
            )
            self._last_count = n
            self._last_rows = key
        return self._last_ladder

    def _use(self, instrument: Instrument) -> None:
        params = self._params.get(instrument)
        if params is None:
            params = self._params[instrument] = self._pack(instrument)
        self._fp, self._ip = params
        self._inst = instrument

    def _refuse(
        self, code: int, out: QuoteArray, instrument: Instrument, best_bid_price: float | None,
        best_ask_price: float | None, fair_price: float, position: float, sigma_per_s: float, risk_multiplier: float,
        now_ns: int,
    ) -> None:
        if code == ERR_FAIR_PRICE:
            raise InvalidValue(f"QuoteContext.fair_price must be finite and > 0, was {fair_price!r}")
        if code == ERR_POSITION:
            raise InvalidValue(f"QuoteContext.position must be finite, was {position!r}")
        if code == ERR_SIGMA:
            raise InvalidValue(f"QuoteContext.sigma_per_s must be finite and >= 0, was {sigma_per_s!r}")
        if code == ERR_RISK_MULTIPLIER:
            raise InvalidValue(f"QuoteContext.risk_multiplier must be finite and > 0, was {risk_multiplier!r}")
        if code == ERR_CAPACITY:
            raise InvalidValue(
                f"{type(self).__name__}.quote_into: out must be an int64 array of at least {self.max_quotes} "
                f"rows of 4, was of shape {out.shape}"
            )
        # ERR_RANGE: the inputs were valid, so the quoting state moves on as compute_quotes' always did
        self._quoted_name = instrument.instrument_name
        self._book_bid, self._book_ask, self._book_ns = best_bid_price, best_ask_price, now_ns
        raise InvalidValue(
            f"{type(self).__name__}: quotes of {instrument.instrument_name} would be priced beyond +-2**62 "
            f"ticks or at NaN/inf "
            f"(fair_price {fair_price!r}, position {position!r}, sigma_per_s {sigma_per_s!r}, "
            f"risk_multiplier {risk_multiplier!r})"
        )


_NAN = math.nan
QuoteKernel = Callable[..., int]  # a kernel of QUOTE_KERNEL_SIGNATURE
_SIDE_OF = (Side.SELL, Side.BUY)  # by the is_buy column
# tuple.__new__ builds a Quote without the Python-level NamedTuple constructor (half the cost, same value)
_new_quote = tuple.__new__
