"""OperatorControls on its own (the QuotingService's pause and kill switch): what holds the quotes, in which order,
what each change tells the service, and the reject and resync triggers."""

from __future__ import annotations

from stubs import perpetual
from thalex_modular.platform.domain.clock import SimClock
from thalex_modular.platform.domain.kill_switch import KillSwitchConfig, LimitsUsed
from thalex_modular.platform.use_cases.operator_controls import OperatorControls
from thalex_modular.platform.use_cases.quoting_service_config import ServiceStats
from thalex_modular.platform.use_cases.sim_session import build_core

S = 1_000_000_000
T0 = 1_700_000_000 * S


def controls(kill_switch: KillSwitchConfig | None) -> tuple[OperatorControls, SimClock, ServiceStats, list[str]]:
    clock = SimClock(T0)
    stats = ServiceStats()
    changes: list[str] = []
    core = build_core(perpetual())
    made = OperatorControls(core, clock, stats, kill_switch, lambda: changes.append(str(made.held_reason)))
    return made, clock, stats, changes


def test_the_kill_switch_shows_before_a_pause_keeps_its_first_reason_and_resume_lifts_both() -> None:
    # Arrange
    made, _, stats, changes = controls(None)
    # Act
    made.pause("maintenance")
    made.kill("operator: flat now")
    made.kill("a second reason")
    # Assert: the kill switch is named first; the second kill changed nothing and told nobody
    assert made.held_reason == "kill switch: operator: flat now" and made.paused
    assert stats.kill_reason == "operator: flat now"
    assert changes == ["maintenance", "kill switch: operator: flat now"]
    # Act
    made.resume()
    # Assert
    assert made.held_reason is None and not made.paused and stats.kill_reason is None
    assert changes[-1] == "None"
    assert made.limits_used() is None  # no triggers configured


def test_repeated_rejects_engage_the_kill_switch_and_a_resume_counts_them_afresh() -> None:
    # Arrange: more than 2 rejects within 10 s trip
    made, clock, _, _ = controls(KillSwitchConfig(max_rejects=2, reject_window_ns=10 * S))
    # Act: two rejects: not yet; the third trips
    made.on_reject(clock.now_ns())
    made.on_reject(clock.now_ns())
    before = made.held_reason
    made.on_reject(clock.now_ns())
    # Assert
    assert before is None
    assert made.held_reason == "kill switch: 3 requests rejected within 10 s > max_rejects 2"
    # Act: resumed; two more rejects do not trip again (the count starts at the resume)
    made.resume()
    clock.advance_to(T0 + S)
    made.on_reject(clock.now_ns())
    made.on_reject(clock.now_ns())
    # Assert
    assert made.held_reason is None


def test_repeated_resyncs_engage_the_kill_switch() -> None:
    made, clock, _, _ = controls(KillSwitchConfig(max_resyncs=1, resync_window_ns=60 * S))
    made.on_resync(clock.now_ns())
    assert made.held_reason is None
    clock.advance_to(T0 + 30 * S)
    made.on_resync(clock.now_ns())
    assert made.held_reason == "kill switch: 2 resyncs within 60 s > max_resyncs 1"


def test_limits_carried_from_an_earlier_session_count_at_the_first_check() -> None:
    # Arrange: the earlier session lost 40 USD today; the limit is 50
    made, clock, _, _ = controls(KillSwitchConfig(max_daily_loss_usd=50.0))
    made.carry(LimitsUsed(day=T0 // (86_400 * S), loss_usd=40.0, drawdown_usd=40.0))
    # Act
    made.check(clock.now_ns())
    # Assert: nothing tripped (flat, equity unchanged), and the use reported includes the earlier session's
    assert made.held_reason is None
    used = made.limits_used()
    assert used is not None and used.loss_usd == 40.0 and used.drawdown_usd == 40.0
