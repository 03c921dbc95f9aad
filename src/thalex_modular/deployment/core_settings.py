"""The quoting core's and the simulator's parameters from the run config: one mapping for ``platform run``
(live and shadow) and ``platform backtest``. Imports no exchange adapter (a backtest cannot reach one)."""

from __future__ import annotations

from typing import Final

from thalex_modular.deployment.config import RunConfig, RunMode, ShadowSettings
from thalex_modular.platform.domain.sim.config import SimMatchConfig
from thalex_modular.platform.use_cases.sim_session import CoreParameters

_MS: Final = 1_000_000  # ms -> ns


def core_parameters(config: RunConfig) -> CoreParameters:
    """Strategy, risk and guard settings as :class:`CoreParameters`. The maker fee the strategy assumes: the
    configured one; else, outside live mode, the simulator's (``[shadow] maker_fee_bps``); else the venue's."""
    s, r, g = config.strategy, config.risk, config.guard
    return CoreParameters(
        gamma=s.gamma, max_position_underlying=r.max_position_underlying, level_amounts=s.level_amounts_underlying,
        horizon_s=s.horizon_s, min_spread_ticks=s.min_spread_ticks, amend_tolerance_ticks=s.amend_tolerance_ticks,
        amend_tolerance_bps=s.amend_tolerance_bps, amount_tolerance=s.amount_tolerance,
        max_order_amount=r.max_order_amount_underlying, max_notional_usd=r.max_notional_usd,
        max_instrument_notional_usd=r.max_instrument_notional_usd, max_account_notional_usd=r.max_account_notional_usd,
        max_open_orders=r.max_open_orders, price_band_bps=r.price_band_bps, max_mark_age_ns=r.max_mark_age_ms * _MS,
        fill_report_grace_ns=g.fill_report_grace_ms * _MS, label=s.label,
        maker_fee_bps=s.maker_fee_bps if s.maker_fee_bps is not None or config.mode is RunMode.LIVE
        else config.shadow.maker_fee_bps,
        min_edge_bps=s.min_edge_bps, sigma_floor_annual=s.sigma_floor_annual, model=s.model,
        arrival_intensity_per_s=s.arrival_intensity_per_s,
    )


def sim_match_config(shadow: ShadowSettings) -> SimMatchConfig:
    """The simulated exchange of the ``[shadow]`` section (latency legs ms -> ns)."""
    return SimMatchConfig(
        order_entry_latency_ns=round(shadow.order_entry_latency_ms * _MS),
        cancel_latency_ns=round(shadow.cancel_latency_ms * _MS),
        response_latency_ns=round(shadow.response_latency_ms * _MS),
        feed_latency_ns=round(shadow.feed_latency_ms * _MS),
        slippage_ticks=shadow.slippage_ticks,
        maker_fee_bps=shadow.maker_fee_bps,
        taker_fee_bps=shadow.taker_fee_bps,
    )
