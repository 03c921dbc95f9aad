"""Configuration of the simulated market: per-underlying dynamics, liquidity providers and taker flow.

Units: prices in USD, volatilities annualised (fraction per sqrt(year)) unless the name says otherwise,
times in seconds or int nanoseconds (the name says which), rates per second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NANOS_PER_SECOND = 1_000_000_000
SECONDS_PER_YEAR = 365.0 * 86_400.0
# Default start: 2024-12-01T00:00:00Z (a fixed instant so that a seed alone reproduces a run).
DEFAULT_START_NS = 1_733_011_200 * NANOS_PER_SECOND


@dataclass(frozen=True, slots=True, kw_only=True)
class UnderlyingConfig:
    """One underlying (index) and the contract rules of its instruments.

    ``currency`` is the coin ("BTC"), the index is ``currency + "USD"``. Price steps in USD, amount steps in
    the coin. Volatilities are annualised; ``vol_of_vol`` is the stationary standard deviation of the log
    volatility factor, ``vol_mean_reversion_s`` its mean-reversion time in seconds.
    """

    currency: str
    initial_price_usd: float
    annual_vol: float = 0.60
    vol_of_vol: float = 0.30
    vol_mean_reversion_s: float = 6 * 3600.0
    jumps_per_day: float = 2.0
    jump_sd: float = 0.01  # log-return standard deviation of one jump
    trend_spells_per_day: float = 2.0
    trend_mean_duration_s: float = 1800.0
    trend_move: float = 0.015  # expected |log move| over one mean-length spell
    carry_rate_annual: float = 0.05  # futures basis: forward = index * exp(carry * T)
    perp_tick: float = 1.0
    perp_volume_tick: float = 0.001
    perp_min_amount: float = 0.001
    option_tick: float = 5.0
    option_volume_tick: float = 0.1
    option_min_amount: float = 0.1
    strikes_per_side: int = 4  # strikes above and below the money per expiry


def _default_underlyings() -> tuple[UnderlyingConfig, ...]:
    return (
        UnderlyingConfig(currency="BTC", initial_price_usd=100_000.0, annual_vol=0.55),
        UnderlyingConfig(
            currency="ETH",
            initial_price_usd=3_500.0,
            annual_vol=0.70,
            perp_tick=0.1,
            perp_volume_tick=0.01,
            perp_min_amount=0.01,
            option_tick=0.5,
            option_volume_tick=1.0,
            option_min_amount=1.0,
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SmileConfig:
    """Implied-volatility smile: iv = atm * (1 + skew * m + curvature * m^2), m = ln(K/F) / (atm * sqrt(T_years))
    (standardised moneyness, clipped to [-4, 4]).

    ``vol_risk_premium`` lifts implied over realised volatility; ``term_decay_s`` blends the current
    realised level (short expiries) into the long-run level (long expiries).
    """

    skew: float = -0.04
    curvature: float = 0.03
    vol_risk_premium: float = 0.05
    term_decay_s: float = 14 * 86_400.0
    min_iv: float = 0.05
    max_iv: float = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """Background liquidity providers and taker flow.

    Spreads in bps of the fair price (options: also a floor in ticks). Arrival rates per second of sim time.
    """

    lp_levels: int = 3
    lp_half_spread_bps_perp: float = 2.0
    lp_half_spread_bps_future: float = 6.0
    lp_half_spread_bps_option: float = 150.0
    lp_option_min_half_spread_ticks: int = 2
    lp_level_step_bps: float = 3.0  # extra distance per deeper level (options: x10)
    lp_size_usd: float = 50_000.0  # first-level notional for perp/futures; options use min amount multiples
    lp_refresh_s: float = 2.0  # maximum quote age before a refresh
    lp_requote_ticks: int = 2  # requote when fair moves this many ticks
    lp_option_refresh_s: float = 10.0
    lp_option_requote_ticks: int = 4
    taker_rate_perp: float = 0.3
    taker_rate_future: float = 0.03
    taker_rate_option: float = 0.003
    taker_size_usd: float = 20_000.0  # mean notional of a taker order
    bursts_per_hour: float = 1.0  # one-sided burst starts per underlying (x3 during a trending spell)
    burst_duration_s: float = 20.0
    burst_rate_multiplier: float = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketConfig:
    """Everything the market model needs. Deterministic for ``seed``.

    ``start_ns``: sim start (Unix ns); ``history_days``: 1m candle history generated before start;
    ``step_ns``: index path grid (must divide one minute); ``history_substep_s``: grid of the pre-start path
    (must divide 60).
    """

    seed: int = 1
    start_ns: int = DEFAULT_START_NS
    history_days: int = 7
    step_ns: int = 100_000_000
    history_substep_s: int = 5
    underlyings: tuple[UnderlyingConfig, ...] = field(default_factory=_default_underlyings)
    smile: SmileConfig = field(default_factory=SmileConfig)
    agents: AgentConfig = field(default_factory=AgentConfig)
    perp_basis_bps: float = 4.0  # amplitude of the perpetual's fair premium over the index
    mark_premium_deadband_bps: float = 2.5  # premium samples within this band count as zero in the mark
    funding_dampener_bps: float = 2.5  # Thalex funding dampener
    collar_pct_linear: float = 0.02  # perp/future collar half-width as a fraction of mark
    collar_pct_option: float = 0.25  # option collar half-width as a fraction of mark (floored, see model)

    def __post_init__(self) -> None:
        minute_ns = 60 * NANOS_PER_SECOND
        if self.step_ns <= 0 or minute_ns % self.step_ns != 0:
            raise ValueError(f"invalid `step_ns`: must be > 0 and divide 60 s, was {self.step_ns}")
        if self.history_substep_s <= 0 or 60 % self.history_substep_s != 0:
            raise ValueError(f"invalid `history_substep_s`: must divide 60, was {self.history_substep_s}")
        if self.history_days < 1:
            raise ValueError(f"invalid `history_days` < 1, was {self.history_days}")
        if not self.underlyings:
            raise ValueError("invalid `underlyings`: empty")
        names = [u.currency for u in self.underlyings]
        if len(set(names)) != len(names):
            raise ValueError(f"invalid `underlyings`: duplicate currencies {names}")
