"""ToxicFlowDetector: one-sided aggressive bursts pull the threatened side, for a cool-down."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from stubs import trade
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.market.toxic_flow import ToxicFlowConfig, ToxicFlowDetector

S = 1_000_000_000


def make(**kwargs: object) -> ToxicFlowDetector:
    base: dict[str, object] = {"window_ns": 2 * S, "threshold_amount": 1.0, "cooldown_ns": 5 * S}
    base.update(kwargs)
    return ToxicFlowDetector(ToxicFlowConfig(**base))  # type: ignore[arg-type]


def test_buy_burst_threatens_asks_until_cooldown_ends() -> None:
    # Arrange
    det = make()
    # Act
    changed = [det.add(Side.BUY, 0.4, t * S // 10) for t in range(3)]  # 1.2 BTC of aggressive buys in 0.2 s
    # Assert
    assert changed == [False, False, True]
    assert det.threatened_sides(S) == frozenset({Side.SELL})
    assert det.threatened_sides(S // 5 + 5 * S - 1) == frozenset({Side.SELL})
    assert det.threatened_sides(S // 5 + 5 * S) == frozenset()
    assert det.next_expiry_ns(S) == S // 5 + 5 * S


def test_sell_burst_threatens_bids_and_both_sides_option() -> None:
    det = make(pull_both_sides=True)
    det.on_trade(trade(100_000.0, 2.0, Side.SELL, 0), 0)
    assert det.threatened_sides(1) == frozenset({Side.BUY, Side.SELL})
    det2 = make()
    det2.on_trade(trade(100_000.0, 2.0, Side.SELL, 0), 0)
    assert det2.threatened_sides(1) == frozenset({Side.BUY})


def test_two_sided_flow_is_not_toxic() -> None:
    det = make(min_one_sided_share=0.8)
    for i in range(10):
        det.add(Side.BUY if i % 2 else Side.SELL, 0.5, i * S // 100)
    assert det.threatened_sides(S // 10) == frozenset()
    assert det.window_volume(Side.BUY, S // 10) == pytest.approx(2.5)


def test_volume_leaves_the_window() -> None:
    det = make()
    det.add(Side.BUY, 0.6, 0)
    det.add(Side.BUY, 0.6, 3 * S)  # the first left the 2 s window: 0.6 < 1.0
    assert det.threatened_sides(3 * S) == frozenset()
    assert det.window_volume(Side.BUY, 3 * S) == pytest.approx(0.6)
    assert det.window_volume(Side.BUY, 10 * S) == 0.0


def test_continuing_burst_extends_the_cooldown() -> None:
    det = make(cooldown_ns=1 * S)
    det.add(Side.BUY, 1.0, 0)
    det.add(Side.BUY, 1.0, S // 2)
    assert det.threatened_sides(S + S // 4) == frozenset({Side.SELL})
    assert det.triggers == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_ns", 0), ("cooldown_ns", -1), ("threshold_amount", 0.0), ("min_one_sided_share", 1.5)],
)
def test_config_errors_name_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidValue, match=field):
        ToxicFlowConfig(**{field: value})  # type: ignore[arg-type]


def test_non_positive_amount_refused() -> None:
    with pytest.raises(InvalidValue, match="amount"):
        make().add(Side.BUY, 0.0, 0)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0.001, 2.0), st.integers(0, S)), max_size=60))
def test_window_volume_matches_brute_force(rows: list[tuple[bool, float, int]]) -> None:
    det = make()
    now = 0
    seen: list[tuple[int, Side, float]] = []
    for is_buy, amount, step in rows:
        now += step
        side = Side.BUY if is_buy else Side.SELL
        det.add(side, amount, now)
        seen.append((now, side, amount))
        expected = sum(a for t, s, a in seen if s is Side.BUY and t > now - 2 * S)
        assert det.window_volume(Side.BUY, now) == pytest.approx(expected, abs=1e-9)
        # a side is only ever pulled if its opposite taker side had the threshold in some window
        if Side.SELL in det.threatened_sides(now):
            assert any(s is Side.BUY for _, s, _ in seen)
