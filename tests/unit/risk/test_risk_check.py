"""RiskCheck: limits per side against the book as it will be, price validity, band, kill switch."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from stubs import perpetual
from thalex_modular.platform.domain.entities import Order
from thalex_modular.platform.domain.enums import OrderStatus, Side
from thalex_modular.platform.domain.errors import InvalidValue
from thalex_modular.platform.domain.risk import (
    BandReference,
    Denial,
    OpenBook,
    RiskCheck,
    RiskConfig,
    RiskContext,
    RiskLimit,
    open_book,
)

BTC = perpetual()  # tick 1 USD, volume tick 0.001, min order 0.001
NOW = 1_700_000_000 * 10**9


def config(**overrides: object) -> RiskConfig:
    values: dict[str, object] = {
        "max_position": 1.0,
        "max_order_amount": 2.0,
        "max_notional_usd": 250_000.0,
        "max_open_orders": 4,
        "price_band_bps": 50.0,
    }
    values.update(overrides)
    return RiskConfig(**values)  # type: ignore[arg-type]


def ctx(position: float = 0.0, mark: float = 100_000.0, **kw: object) -> RiskContext:
    return RiskContext(position, mark, NOW, **kw)  # type: ignore[arg-type]


def order(side: Side, price: float, amount: float, filled: float = 0.0, cid: int = 1) -> Order:
    return Order(
        cid,
        BTC.instrument_name,
        side,
        price,
        amount,
        NOW,
        order_id=f"o{cid}",
        filled_amount=filled,
        status=OrderStatus.OPEN,
    )


def limit_of(denial: Denial | None) -> str | None:
    return None if denial is None else denial.limit


# -- config -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_position", 0.0),
        ("max_order_amount", -1.0),
        ("max_notional_usd", math.nan),
        ("price_band_bps", 0),
        ("max_open_orders", 0),
        ("max_mark_age_ns", 0),
    ],
)
def test_config_refuses_bad_limits_naming_field_and_value(field: str, value: float) -> None:
    with pytest.raises(InvalidValue, match=field) as info:
        config(**{field: value})
    assert repr(value) in str(info.value) or str(value) in str(info.value)


# -- position limit per side (LESSONS 10) --------------------------------------------------------------


def test_bid_counts_position_and_all_open_bids() -> None:
    # Arrange: long 0.5 with 0.4 of bids resting; limit 1.0
    risk = RiskCheck(config())
    book = OpenBook(bid_amount=0.4, ask_amount=3.0, order_count=2)
    # Act / Assert
    assert risk.check_insert(BTC, Side.BUY, 99_990.0, 0.1, ctx(0.5), book) is None
    denial = risk.check_insert(BTC, Side.BUY, 99_990.0, 0.2, ctx(0.5), book)
    assert denial is not None and denial.limit == RiskLimit.MAX_POSITION
    assert "max_position 1.0" in denial.reason and "0.2" in denial.reason


def test_ask_counts_position_minus_all_open_asks() -> None:
    risk = RiskCheck(config(max_order_amount=5.0, max_notional_usd=1e9))
    book = OpenBook(bid_amount=5.0, ask_amount=0.3, order_count=2)
    # 0.5 - 0.3 - 1.2 = -1.0: allowed; one more lot is not
    assert risk.check_insert(BTC, Side.SELL, 100_010.0, 1.2, ctx(0.5), book) is None
    denial = risk.check_insert(BTC, Side.SELL, 100_010.0, 1.201, ctx(0.5), book)
    assert limit_of(denial) == RiskLimit.MAX_POSITION
    assert denial is not None and "-max_position -1.0" in denial.reason


def test_reducing_side_allowed_when_position_already_beyond_limit() -> None:
    risk = RiskCheck(config())
    book = OpenBook()
    assert limit_of(risk.check_insert(BTC, Side.BUY, 99_990.0, 0.001, ctx(1.5), book)) == RiskLimit.MAX_POSITION
    assert risk.check_insert(BTC, Side.SELL, 100_010.0, 0.5, ctx(1.5), book) is None


def test_amend_replaces_the_orders_old_remaining_amount() -> None:
    # Arrange: our bid of 0.4 is in the book; position 0.5; limit 1.0
    risk = RiskCheck(config())
    bid = order(Side.BUY, 99_990.0, 0.4)
    book = open_book([bid], BTC.instrument_name)
    # Act / Assert: amending to 0.5 total gives 0.5 + 0.5 = 1.0, fine; 0.6 is too much
    assert risk.check_amend(BTC, bid, 99_995.0, 0.5, ctx(0.5), book) is None
    assert limit_of(risk.check_amend(BTC, bid, 99_995.0, 0.6, ctx(0.5), book)) == RiskLimit.MAX_POSITION


def test_amend_amount_is_the_total_including_fills() -> None:
    # A bid of 1.0 with 0.7 filled (position now 0.7): amending to total 1.0 keeps 0.3 resting → 0.7 + 0.3 = 1.0
    risk = RiskCheck(config())
    bid = order(Side.BUY, 99_990.0, 1.0, filled=0.7)
    book = open_book([bid], BTC.instrument_name)
    assert risk.check_amend(BTC, bid, 99_991.0, 1.0, ctx(0.7), book) is None
    assert limit_of(risk.check_amend(BTC, bid, 99_991.0, 1.001, ctx(0.7), book)) == RiskLimit.MAX_POSITION
    denial = risk.check_amend(BTC, bid, 99_991.0, 0.7, ctx(0.7), book)
    assert denial is not None and denial.limit == RiskLimit.AMOUNT and "filled_amount 0.7" in denial.reason


@settings(max_examples=150, deadline=None)
@given(
    position=st.integers(-1500, 1500),
    open_bids=st.integers(0, 1500),
    open_asks=st.integers(0, 1500),
    lots=st.integers(1, 2000),
    side=st.sampled_from(Side),
)
def test_accepted_order_never_lets_a_side_exceed_the_limit(
    position: int, open_bids: int, open_asks: int, lots: int, side: Side
) -> None:
    risk = RiskCheck(config(max_order_amount=10.0, max_notional_usd=1e9, max_open_orders=100))
    pos, bids, asks, amount = (BTC.amount(x) for x in (position, open_bids, open_asks, lots))
    denial = risk.check_insert(BTC, side, 100_000.0, amount, ctx(pos), OpenBook(bids, asks, 2))
    worst_lots = position + open_bids + lots if side is Side.BUY else -(position - open_asks - lots)
    assert (denial is None) == (worst_lots <= 1000)  # limit 1.0 BTC = 1000 lots
    if denial is not None:
        assert denial.limit == RiskLimit.MAX_POSITION


def test_open_book_sums_open_orders_of_the_instrument_only() -> None:
    orders = [
        order(Side.BUY, 99_990.0, 0.5, filled=0.2, cid=1),
        order(Side.SELL, 100_010.0, 0.3, cid=2),
        order(Side.SELL, 100_020.0, 0.3, cid=3),
        Order(4, "ETH-PERPETUAL", Side.BUY, 3_000.0, 9.0, NOW, status=OrderStatus.OPEN),
        Order(5, BTC.instrument_name, Side.BUY, 99_000.0, 9.0, NOW, status=OrderStatus.CANCELLED),
        Order(6, BTC.instrument_name, Side.BUY, 99_000.0, 0.1, NOW),  # pending insert counts
    ]
    book = open_book(orders, BTC.instrument_name)
    assert book.bid_amount == pytest.approx(0.4)
    assert book.ask_amount == pytest.approx(0.6)
    assert book.order_count == 4


# -- prices and amounts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "text"),
    [(math.nan, "nan"), (math.inf, "inf"), (0.0, "0.0"), (-5.0, "-5.0"), (100_000.5, "not on the tick grid")],
)
def test_bad_price_is_denied_with_field_and_value(price: float, text: str) -> None:
    risk = RiskCheck(config())
    denial = risk.check_insert(BTC, Side.BUY, price, 0.1, ctx(), OpenBook())
    assert denial is not None and denial.limit == RiskLimit.PRICE
    assert "price" in denial.reason and text in denial.reason
    amend = risk.check_amend(BTC, order(Side.BUY, 99_990.0, 0.1), price, 0.1, ctx(), OpenBook(0.1, 0, 1))
    assert limit_of(amend) == RiskLimit.PRICE


@pytest.mark.parametrize(
    ("amount", "limit", "text"),
    [
        (math.nan, RiskLimit.AMOUNT, "nan"),
        (0.0, RiskLimit.AMOUNT, "> 0"),
        (0.0015, RiskLimit.AMOUNT, "volume grid"),
        (2.001, RiskLimit.MAX_ORDER_AMOUNT, "max_order_amount 2.0"),
    ],
)
def test_bad_amount_is_denied(amount: float, limit: RiskLimit, text: str) -> None:
    risk = RiskCheck(config(max_position=10.0, max_notional_usd=1e9))
    denial = risk.check_insert(BTC, Side.SELL, 100_000.0, amount, ctx(), OpenBook())
    assert denial is not None and denial.limit == limit and text in denial.reason


def test_min_order_amount_of_the_instrument() -> None:
    inst = perpetual(min_order_amount=0.01)
    risk = RiskCheck(config())
    denial = risk.check_insert(inst, Side.BUY, 100_000.0, 0.005, ctx(), OpenBook())
    assert denial is not None and denial.limit == RiskLimit.MIN_ORDER_AMOUNT and "0.01" in denial.reason
    assert risk.check_insert(inst, Side.BUY, 100_000.0, 0.01, ctx(), OpenBook()) is None


def test_notional_per_order() -> None:
    risk = RiskCheck(config(max_notional_usd=50_000.0))
    assert risk.check_insert(BTC, Side.BUY, 100_000.0, 0.5, ctx(), OpenBook()) is None
    denial = risk.check_insert(BTC, Side.BUY, 100_000.0, 0.501, ctx(), OpenBook())
    assert denial is not None and denial.limit == RiskLimit.MAX_NOTIONAL_USD and "50000.0" in denial.reason


def test_max_open_orders_counts_inserts_not_amends() -> None:
    risk = RiskCheck(config(max_open_orders=2))
    bid = order(Side.BUY, 99_990.0, 0.1)
    full = OpenBook(0.1, 0.1, 2)
    denial = risk.check_insert(BTC, Side.BUY, 99_990.0, 0.1, ctx(), full)
    assert denial is not None and denial.limit == RiskLimit.MAX_OPEN_ORDERS and "max_open_orders 2" in denial.reason
    assert risk.check_amend(BTC, bid, 99_991.0, 0.2, ctx(), full) is None


# -- price band (mark price, or index) ------------------------------------------------------------------


def test_price_band_around_mark() -> None:
    risk = RiskCheck(config(price_band_bps=50.0, max_notional_usd=1e9))
    assert risk.check_insert(BTC, Side.SELL, 100_500.0, 0.1, ctx(mark=100_000.0), OpenBook()) is None
    assert risk.check_insert(BTC, Side.BUY, 99_500.0, 0.1, ctx(mark=100_000.0), OpenBook()) is None
    denial = risk.check_insert(BTC, Side.SELL, 100_501.0, 0.1, ctx(mark=100_000.0), OpenBook())
    assert denial is not None and denial.limit == RiskLimit.PRICE_BAND
    assert "mark_price 100000.0" in denial.reason and "price_band_bps 50.0" in denial.reason


@pytest.mark.parametrize("mark", [math.nan, 0.0, -1.0])
def test_unusable_mark_denies_instead_of_guessing(mark: float) -> None:
    denial = RiskCheck(config()).check_insert(BTC, Side.BUY, 100_000.0, 0.1, ctx(mark=mark), OpenBook())
    assert denial is not None and denial.limit == RiskLimit.PRICE_BAND and "mark_price" in denial.reason


def test_band_from_index_when_configured() -> None:
    risk = RiskCheck(config(band_reference=BandReference.INDEX))
    far_from_mark = ctx(mark=90_000.0, index_price=100_000.0)
    assert risk.check_insert(BTC, Side.BUY, 100_000.0, 0.1, far_from_mark, OpenBook()) is None
    denial = risk.check_insert(BTC, Side.BUY, 100_000.0, 0.1, ctx(mark=100_000.0), OpenBook())
    assert denial is not None and denial.limit == RiskLimit.PRICE_BAND
    assert "index_price must be finite and > 0 for the band, was None" in denial.reason


def test_stale_or_unknown_mark_denies_when_age_is_limited() -> None:
    risk = RiskCheck(config(max_mark_age_ns=2_000_000_000))
    fresh = ctx(mark_ts_ns=NOW - 1_000_000_000)
    stale = ctx(mark_ts_ns=NOW - 3_000_000_000)
    assert risk.check_insert(BTC, Side.BUY, 100_000.0, 0.1, fresh, OpenBook()) is None
    assert limit_of(risk.check_insert(BTC, Side.BUY, 100_000.0, 0.1, stale, OpenBook())) == RiskLimit.MARK_AGE
    assert limit_of(risk.check_insert(BTC, Side.BUY, 100_000.0, 0.1, ctx(), OpenBook())) == RiskLimit.MARK_AGE


# -- kill switch ---------------------------------------------------------------------------------------------


def test_kill_switch_refuses_inserts_and_amends_until_released() -> None:
    risk = RiskCheck(config())
    bid = order(Side.BUY, 99_990.0, 0.1)
    risk.engage_kill_switch("feed stale")
    assert risk.kill_switch_engaged
    for denial in (
        risk.check_insert(BTC, Side.BUY, 99_990.0, 0.1, ctx(), OpenBook()),
        risk.check_amend(BTC, bid, 99_991.0, 0.1, ctx(), OpenBook(0.1, 0, 1)),
    ):
        assert denial is not None and denial.limit == RiskLimit.KILL_SWITCH and "feed stale" in denial.reason
    risk.release_kill_switch()
    assert not risk.kill_switch_engaged
    assert risk.check_insert(BTC, Side.BUY, 99_990.0, 0.1, ctx(), OpenBook()) is None
