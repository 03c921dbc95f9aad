"""session.mm_protection items: which ones mean the exchange pulled the group's quotes."""

from __future__ import annotations

import pytest

from thalex_modular.platform.adapters.exchanges.thalex.codec import decode_mm_protection
from thalex_modular.platform.domain.events import MmProtectionUpdate


@pytest.mark.parametrize(
    ("remaining", "reason", "needs_refill", "tripped"),
    [
        (0.5, "refill", False, False),  # our own set_mm_protection
        (0.3, "executions", False, False),  # part of the budget used: quotes still live
        (0.0, "executions", True, True),
        (-0.02, "executions", True, True),  # a single aggressive fill may overshoot
        (0.0, "client_cancel", True, False),  # cancel_mass_quote resets the group
        (0.0, "session_end", True, False),
        (0.0, "failover", True, False),
    ],
)
def test_trips_and_resets_need_a_refill(remaining: float, reason: str, needs_refill: bool, tripped: bool) -> None:
    update = MmProtectionUpdate("FBTCUSD", remaining, reason, 0)
    assert (update.needs_refill, update.tripped) == (needs_refill, tripped)


def test_the_notification_payload_decodes_to_updates() -> None:
    payload = b'[{"product":"FBTCUSD","remaining_amount":-0.017,"reason":"executions"}]'
    assert decode_mm_protection(payload, 7) == [MmProtectionUpdate("FBTCUSD", -0.017, "executions", 7)]
