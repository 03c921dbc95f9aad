"""Every exposure counted (fills reported ahead of their notifications, amends in flight, orders of the account that
are not ours, the exchange's position, collars, notional) and the reconciler's churn rules (one-sided price tolerance,
amount band for partial fills, the request budget)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from stubs import perpetual, ticker
from thalex_modular.platform.domain.entities import Order, OrderUpdate, PortfolioEntry, Quote
from thalex_modular.platform.domain.enums import ChangeReason, OrderStatus, OrderType, Side, TimeInForce
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, ClientOrderIds, InsertOrder
from thalex_modular.platform.domain.risk import OpenBook, RiskCheck, RiskConfig, RiskContext, RiskLimit
from thalex_modular.platform.domain.tracking.account_exposure import AccountExposure
from thalex_modular.platform.use_cases.order_reconciler import OrderReconciler
from thalex_modular.platform.use_cases.quoting_core import QuotingCore
from thalex_modular.platform.use_cases.sim_session import CoreParameters, build_core
from thalex_modular.strategies.protocol import QuoteContext

BTC = perpetual()  # tick 1 USD, volume tick 0.001 BTC
NAME = BTC.instrument_name
NOW = 1_700_000_000 * 10**9
MARK = 100_000.0


def risk(**overrides: object) -> RiskCheck:
    values: dict[str, object] = {
        "max_position": 5.0, "max_order_amount": 5.0, "max_notional_usd": 1e9, "max_open_orders": 20,
        "price_band_bps": 100.0,
    }
    values.update(overrides)
    return RiskCheck(RiskConfig(**values))  # type: ignore[arg-type]


def reconciler(check: RiskCheck | None = None, **kw: object) -> OrderReconciler:
    return OrderReconciler(check or risk(), ClientOrderIds(1000), **kw)  # type: ignore[arg-type]


def resting(cid: int, side: Side, price: float, amount: float, filled: float = 0.0) -> Order:
    status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.OPEN
    return Order(cid, NAME, side, price, amount, NOW, order_id=f"ex-{cid}", filled_amount=filled, status=status)


def ctx(position: float = 0.0, **kw: object) -> RiskContext:
    return RiskContext(position, MARK, NOW, **kw)  # type: ignore[arg-type]


def bid(ticks: int, lots: int, level: int = 0) -> Quote:
    return Quote(Side.BUY, ticks, lots, level)


def ask(ticks: int, lots: int, level: int = 0) -> Quote:
    return Quote(Side.SELL, ticks, lots, level)


class FixedQuotes:
    """A strategy quoting what the test says (the core's objects do everything else)."""

    def __init__(self, quotes: Sequence[Quote]) -> None:
        self.quotes = list(quotes)

    def compute_quotes(self, ctx: QuoteContext) -> Sequence[Quote]:
        return self.quotes

    def on_trade(self, trade: object) -> None:
        return None


def core_quoting(quotes: Sequence[Quote], max_position: float = 1.0, exposure: AccountExposure | None = None
                 ) -> QuotingCore:
    core = build_core(BTC, CoreParameters(max_position_underlying=max_position, max_order_amount=5.0,
                                          max_notional_usd=1e9, fill_report_grace_ns=1_000_000_000), exposure=exposure)
    core.strategy = FixedQuotes(quotes)
    core.observe(ticker(mark=MARK, ts_ns=NOW))
    return core


def update(order_id: str, cid: int | None, side: Side, price: float, amount: float, filled: float,
           status: OrderStatus, reason: ChangeReason, name: str = NAME) -> OrderUpdate:
    return OrderUpdate(order_id, cid, name, side, OrderType.LIMIT, TimeInForce.GTC, price, amount, filled,
                       amount - filled, status, reason, NOW, NOW, None, ())


# -- exposure that risk did not see ---------------------------------------------------------------------------


def test_a_fill_reported_by_a_reply_before_its_notification_counts_until_it_arrives() -> None:
    # Arrange: limit 1.0; our 0.5 bid's cancel reply says it was filled, before any fill notification
    core = core_quoting([bid(99_900, 600)])
    tracker = core.tracker
    tracker.register_pending(InsertOrder(1, NAME, Side.BUY, 99_950.0, 0.5), NOW)
    tracker.on_order_update(update("o1", 1, Side.BUY, 99_950.0, 0.5, 0.0, OrderStatus.OPEN, ChangeReason.INSERT))
    tracker.register_cancel(CancelOrder(1, "o1", NAME), NOW)
    tracker.on_order_update(update("o1", 1, Side.BUY, 99_950.0, 0.5, 0.5, OrderStatus.FILLED, ChangeReason.CANCEL))
    assert tracker.position_amount(NAME) == 0.0 and tracker.open_orders(NAME) == []
    # Act: the strategy wants a 0.6 bid
    plan = core.requote(NOW)
    # Assert: the 0.5 the exchange already filled counts: 0 + 0.5 + 0.6 > 1.0 is refused (was sent before)
    assert plan.requests == []
    assert [d.limit for d in plan.denials] == [RiskLimit.MAX_POSITION]
    assert core.extra_exposure(0.0) == (0.5, 0.0, 0.0)


def test_an_amend_in_flight_counts_at_the_larger_amount() -> None:
    # Arrange: limit 1.0; a 0.1 bid with an amend to 1.0 in flight
    core = core_quoting([bid(99_900, 100), bid(99_800, 900, 1)])
    tracker = core.tracker
    tracker.register_pending(InsertOrder(1, NAME, Side.BUY, 99_900.0, 0.1), NOW)
    tracker.on_order_update(update("o1", 1, Side.BUY, 99_900.0, 0.1, 0.0, OrderStatus.OPEN, ChangeReason.INSERT))
    tracker.register_amend(AmendOrder(1, "o1", NAME, 99_900.0, 1.0), NOW)
    # Act: the strategy wants a further 0.9 bid
    plan = core.requote(NOW)
    # Assert: the order counts as 1.0 until the amend is answered: no 0.9 bid (worst case was 1.9 against 1.0)
    assert not [r for r in plan.requests if isinstance(r, InsertOrder)]
    assert [d.limit for d in plan.denials] == [RiskLimit.MAX_POSITION]
    assert core.order_rows.floats[0, 0] == pytest.approx(1.0)


def test_orders_of_the_account_that_are_not_ours_and_the_exchanges_position_count() -> None:
    # Arrange: another session of the account rests a 0.4 bid; the exchange reports us 0.3 long while our fills say 0
    exposure = AccountExposure()
    exposure.replace_orders([update("m1", None, Side.BUY, 99_000.0, 0.4, 0.0, OrderStatus.OPEN,
                                    ChangeReason.EXISTING)])
    exposure.on_portfolio([PortfolioEntry(NAME, 0.3, MARK)], complete=True)
    core = core_quoting([bid(99_900, 400), ask(100_100, 400)], exposure=exposure)
    # Act
    plan = core.requote(NOW)
    # Assert: bids: 0 (ours) + 0.3 (the exchange's position is worse) + 0.4 (theirs) + 0.4 > 1.0: refused; asks fine
    assert [(type(r).__name__, r.side) for r in plan.requests] == [("InsertOrder", Side.SELL)]  # type: ignore[union-attr]
    assert [d.limit for d in plan.denials] == [RiskLimit.MAX_POSITION]
    assert core.extra_exposure(0.0)[:2] == pytest.approx((0.7, 0.0))


def test_collars_are_checked_before_sending() -> None:
    check = risk()
    book = OpenBook()
    # a bid above collar_high and an ask below collar_low would be refused by Thalex (43): not sent
    denial = check.check_insert(BTC, Side.BUY, 100_050.0, 0.1, ctx(collar_low=99_900.0, collar_high=100_040.0), book)
    assert denial is not None and denial.limit == RiskLimit.COLLAR and "collar_high" in denial.reason
    denial = check.check_insert(BTC, Side.SELL, 99_890.0, 0.1, ctx(collar_low=99_900.0, collar_high=100_040.0), book)
    assert denial is not None and denial.limit == RiskLimit.COLLAR and "collar_low" in denial.reason
    assert check.check_insert(BTC, Side.BUY, 100_040.0, 0.1, ctx(collar_high=100_040.0), book) is None
    # and the tick path reads them from the ticker
    core = core_quoting([bid(100_050, 100)])
    core.observe(ticker(mark=MARK, ts_ns=NOW + 1, collar_low=99_900.0, collar_high=100_040.0))
    plan = core.requote(NOW + 1)
    assert plan.requests == [] and [d.limit for d in plan.denials] == [RiskLimit.COLLAR]


def test_the_instruments_and_the_accounts_notional_are_limited() -> None:
    check = risk(max_instrument_notional_usd=60_000.0, max_account_notional_usd=100_000.0)
    # 0.5 long + a 0.2 bid = 0.7 x 100k = 70k > 60k
    denial = check.check_insert(BTC, Side.BUY, 99_900.0, 0.2, ctx(position=0.5), OpenBook())
    assert denial is not None and denial.limit == RiskLimit.MAX_INSTRUMENT_NOTIONAL_USD
    # an ask reduces the long: never refused by the notional limits, whatever the rest of the account holds
    assert check.check_insert(BTC, Side.SELL, 100_100.0, 0.2, ctx(position=0.5, other_notional_usd=1e6),
                              OpenBook()) is None
    # 0.3 long (30k) + 80k on other instruments > 100k
    denial = check.check_insert(BTC, Side.BUY, 99_900.0, 0.1, ctx(position=0.2, other_notional_usd=80_000.0),
                                OpenBook())
    assert denial is not None and denial.limit == RiskLimit.MAX_ACCOUNT_NOTIONAL_USD
    assert "80000.00" in denial.reason


def test_the_account_exposure_values_other_instruments_at_their_marks() -> None:
    exposure = AccountExposure()
    exposure.on_portfolio([PortfolioEntry(NAME, 0.1, MARK), PortfolioEntry("ETH-PERPETUAL", -2.0, 3_000.0)], True)
    exposure.replace_orders([update("e1", 5, Side.SELL, 3_100.0, 1.0, 0.0, OrderStatus.OPEN, ChangeReason.EXISTING,
                                    "ETH-PERPETUAL")])
    # ETH: short 2 + an open ask of 1 = 3 x 3000 = 9000; BTC's own line is left out
    assert exposure.other_notional_usd(NAME) == pytest.approx(9_000.0)
    assert exposure.other_notional_usd("ETH-PERPETUAL") == pytest.approx(10_000.0)
    exposure.on_order(update("e1", 5, Side.SELL, 3_100.0, 1.0, 1.0, OrderStatus.FILLED, ChangeReason.FILL,
                             "ETH-PERPETUAL"))
    assert exposure.open_amount("ETH-PERPETUAL", Side.SELL) == 0.0
    assert exposure.other_notional_usd(NAME) == pytest.approx(6_000.0)


# -- churn ------------------------------------------------------------------------------------------------------


def test_an_order_more_aggressive_than_wanted_is_moved_even_within_the_tolerance() -> None:
    rec = reconciler(amend_tolerance_ticks=3)
    live = [resting(1, Side.BUY, 99_992.0, 0.1), resting(2, Side.SELL, 100_008.0, 0.1)]
    # the bid is 2 ticks above its quote, the ask 2 below: both undercut the inventory skew
    plan = rec.reconcile(BTC, [bid(99_990, 100), ask(100_010, 100)], live, ctx())
    assert plan.requests == [
        AmendOrder(1, "ex-1", NAME, 99_990.0, 0.1), AmendOrder(2, "ex-2", NAME, 100_010.0, 0.1)
    ]
    # behind the quote by up to the tolerance: kept (queue priority)
    live = [resting(1, Side.BUY, 99_987.0, 0.1), resting(2, Side.SELL, 100_013.0, 0.1)]
    assert rec.reconcile(BTC, [bid(99_990, 100), ask(100_010, 100)], live, ctx()).requests == []


def test_the_tolerance_in_basis_points_scales_with_the_price() -> None:
    rec = reconciler(amend_tolerance_ticks=3, amend_tolerance_bps=1.0)  # 1 bp of 99 990 = 9.999 -> 9 ticks
    assert rec.reconcile(BTC, [bid(99_990, 100)], [resting(1, Side.BUY, 99_981.0, 0.1)], ctx()).requests == []
    plan = rec.reconcile(BTC, [bid(99_990, 100)], [resting(1, Side.BUY, 99_980.0, 0.1)], ctx())
    assert plan.requests == [AmendOrder(1, "ex-1", NAME, 99_990.0, 0.1)]


def test_a_partially_filled_order_keeps_its_place_while_its_remainder_is_within_tolerance() -> None:
    partial = [resting(1, Side.BUY, 99_990.0, 0.1, filled=0.04)]  # 0.06 remaining of a 0.1 quote
    assert reconciler(amount_tolerance=0.5).reconcile(BTC, [bid(99_990, 100)], partial, ctx()).requests == []
    # without the band it is amended back up to filled + desired, to the back of the queue
    plan = reconciler().reconcile(BTC, [bid(99_990, 100)], partial, ctx())
    assert plan.requests == [AmendOrder(1, "ex-1", NAME, 99_990.0, 0.14)]
    # below the band, or above the quote (risk: never more than wanted), it is amended
    small = [resting(1, Side.BUY, 99_990.0, 0.1, filled=0.07)]
    assert reconciler(amount_tolerance=0.5).reconcile(BTC, [bid(99_990, 100)], small, ctx()).requests != []
    large = [resting(1, Side.BUY, 99_990.0, 0.2)]
    plan = reconciler(amount_tolerance=0.5).reconcile(BTC, [bid(99_990, 100)], large, ctx())
    assert plan.requests == [AmendOrder(1, "ex-1", NAME, 99_990.0, 0.1)]


def test_the_request_budget_defers_the_least_useful_amends_first_and_never_a_cancel() -> None:
    rec = reconciler()
    live = [
        resting(1, Side.BUY, 99_980.0, 0.1), resting(2, Side.BUY, 99_970.0, 0.1), resting(3, Side.BUY, 99_960.0, 0.1),
        resting(4, Side.SELL, 100_020.0, 0.1), resting(5, Side.SELL, 100_070.0, 0.1),
    ]
    desired = [
        bid(99_990, 100, 0), bid(99_975, 100, 1), bid(99_959, 100, 2),  # moves: 10, 5, 1 tick
        ask(100_010, 100, 0),  # moves 10 ticks; ask 5 has no quote: cancelled
        ask(100_030, 100, 1),  # but it pairs with the far ask: a 40-tick move at level 1
    ]
    # Act: tokens for two requests
    plan = rec.plan(BTC, *_rows(rec, desired, live), ctx(), budget=2)
    # Assert: both level-0 amends go; the deeper ones wait for the next run
    assert [(type(r).__name__, r.client_order_id) for r in plan.requests] == [("AmendOrder", 1), ("AmendOrder", 4)]
    assert plan.deferred == 3
    # an extra order is cancelled whatever the budget (cancels have their own)
    plan = rec.plan(BTC, *_rows(rec, [bid(99_990, 100)], live[:2]), ctx(), budget=0)
    assert [type(r).__name__ for r in plan.requests] == ["CancelOrder"] and plan.deferred == 1


def _rows(rec: OrderReconciler, desired: list[Quote], live: list[Order]):  # type: ignore[no-untyped-def]
    from thalex_modular.platform.domain.quote_array import new_quote_array, quotes_into_array
    from thalex_modular.platform.use_cases.order_rows import OrderRows

    array = new_quote_array(max(16, len(desired)))
    n = quotes_into_array(desired, array)
    rows = OrderRows(BTC)
    rows.load(live)
    return array, n, rows
