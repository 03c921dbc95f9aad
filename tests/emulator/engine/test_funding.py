"""Perpetual funding in the accounts: accrual sign and size, realisation on reduce and at the 08:00 UTC
settlement, PortfolioEntry fields and re-sends, account summary."""

from __future__ import annotations

import pytest
from engine_kit import FUT, PERP, START_NS, Env

from thalex_modular.emulator.engine.funding import DAY_NS, SETTLEMENT_OFFSET_NS, next_settlement_ns

HOUR_NS = 3_600 * 1_000_000_000
RATE = 0.01  # per 24 h: a long pays 1 % of the index a day
INDEX = 100.0


def _trade(env: Env, buyer: int, seller: int, amount: float, price: float = 100.0) -> None:
    env.order(seller, "sell", price, amount)
    env.order(buyer, "buy", price, amount)


def _entry(env: Env, account: str) -> dict[str, object]:
    lines = [e for e in env.core.portfolio_snapshot(account) if e["instrument_name"] == PERP]
    assert len(lines) == 1
    return lines[0]


def _accrue(env: Env, hours: float, rate: float = RATE) -> list[object]:
    env.clock.advance_by(int(hours * HOUR_NS))
    return list(env.core.accrue_funding(PERP, rate, INDEX, env.clock.now_ns()))


@pytest.fixture
def long_a(env: Env) -> Env:
    """A long 1.0 BTC-PERPETUAL at 100 against B short 1.0; funding clock started at 0.01 / day."""
    env.core.set_market(PERP, 100.0, INDEX, 50.0, 150.0)
    _trade(env, env.a, env.b, 1.0)
    env.core.accrue_funding(PERP, RATE, INDEX, env.clock.now_ns())
    return env


def test_settlement_grid_is_08_utc() -> None:
    assert (START_NS % DAY_NS) > SETTLEMENT_OFFSET_NS  # the kit starts at 22:13 UTC
    first = next_settlement_ns(START_NS)
    assert first % DAY_NS == SETTLEMENT_OFFSET_NS and 0 < first - START_NS < DAY_NS
    assert next_settlement_ns(first) == first + DAY_NS


def test_long_pays_and_short_receives_positive_rate(long_a: Env) -> None:
    _accrue(long_a, 6)  # a quarter day: 0.01 x 100 USD x 0.25 = 0.25 USD per BTC
    a, b = _entry(long_a, "A000000001"), _entry(long_a, "A000000002")
    assert a["unrealised_perpetual_funding"] == pytest.approx(-0.25)
    assert b["unrealised_perpetual_funding"] == pytest.approx(0.25)
    # both entered at funding value 0: the entry value is omitted
    assert "perpetual_funding_entry_value" not in a and "perpetual_funding_entry_value" not in b
    # positional unrealised PnL (mark = start) is 0; the summary's unrealised PnL is the funding
    assert a["unrealised_pnl"] == 0.0
    summary, _ = long_a.core.account_summary(long_a.a)
    assert summary["unrealised_pnl"] == pytest.approx(-0.25)  # type: ignore[index]
    assert summary["margin"] == pytest.approx(summary["cash_collateral"] - 0.25)  # type: ignore[index]


def test_negative_rate_pays_longs(long_a: Env) -> None:
    # each interval runs at the rate given at its start: 3 h at +0.01, then 3 h at -0.03
    _accrue(long_a, 1)
    _accrue(long_a, 2, rate=-0.03)
    _accrue(long_a, 3)
    expected = -(0.01 * INDEX * 3 / 24) - (-0.03 * INDEX * 3 / 24)
    assert expected > 0.0
    assert _entry(long_a, "A000000001")["unrealised_perpetual_funding"] == pytest.approx(expected)
    assert _entry(long_a, "A000000002")["unrealised_perpetual_funding"] == pytest.approx(-expected)


def test_adding_to_a_position_sets_entry_value(long_a: Env) -> None:
    _accrue(long_a, 6)
    _trade(long_a, long_a.a, long_a.b, 1.0)  # both add 1.0 at funding value -0.25
    a = _entry(long_a, "A000000001")
    assert a["perpetual_funding_entry_value"] == pytest.approx(-0.25)
    assert a["unrealised_perpetual_funding"] == pytest.approx(-0.25)  # -0.25 x 2 - (-0.25)
    assert _entry(long_a, "A000000002")["perpetual_funding_entry_value"] == pytest.approx(0.25)


def test_reduce_realises_closed_part_into_cash_and_trade(long_a: Env) -> None:
    _accrue(long_a, 6)
    _trade(long_a, long_a.a, long_a.b, 1.0)  # A long 2.0 with -0.25 unrealised funding, B short 2.0 with +0.25
    acct_a = long_a.core.ex.accounts["A000000001"]
    before_balance, before_realised, before_fees = acct_a.balance, acct_a.realised, acct_a.fees_paid
    _trade(long_a, long_a.b, long_a.a, 0.5)  # A sells a quarter at the entry price: no positional PnL
    trades, _ = long_a.core.trade_history(long_a.a, {})
    last = trades["trades"][0]  # type: ignore[index]
    assert last["direction"] == "sell"
    assert last["perpetual_funding_pnl"] == pytest.approx(-0.0625)
    assert last["position_pnl"] == 0.0
    fee = acct_a.fees_paid - before_fees
    assert acct_a.balance - before_balance == pytest.approx(-0.0625 - fee)
    assert acct_a.realised - before_realised == pytest.approx(-0.0625)
    a = _entry(long_a, "A000000001")
    assert a["unrealised_perpetual_funding"] == pytest.approx(-0.1875)
    assert a["realised_pnl"] == pytest.approx(-0.0625)
    b_trade = long_a.core.trade_history(long_a.b, {})[0]["trades"][0]  # type: ignore[index]
    assert b_trade["perpetual_funding_pnl"] == pytest.approx(0.0625)
    # a trade that only adds reports no funding PnL
    first_buy = [t for t in trades["trades"] if t["direction"] == "buy"]  # type: ignore[index]
    assert all("perpetual_funding_pnl" not in t for t in first_buy)


def test_close_and_flip_realise_everything_then_restart(long_a: Env) -> None:
    _accrue(long_a, 6)
    _trade(long_a, long_a.b, long_a.a, 1.5)  # A flips to short 0.5 at funding value -0.25
    acct_a = long_a.core.ex.accounts["A000000001"]
    assert acct_a.positions[PERP].funding_realised == pytest.approx(-0.25)
    a = _entry(long_a, "A000000001")
    assert a["position"] == pytest.approx(-0.5)
    assert a["perpetual_funding_entry_value"] == pytest.approx(0.125)  # -0.25 x -0.5
    assert a["unrealised_perpetual_funding"] == pytest.approx(0.0)
    _accrue(long_a, 3)  # before 08:00 UTC: the short 0.5 receives 0.5 x 0.01 x 100 x 3 / 24
    assert _entry(long_a, "A000000001")["unrealised_perpetual_funding"] == pytest.approx(0.0625)


def test_daily_settlement_realises_all_accrued_funding(long_a: Env) -> None:
    acct_a = long_a.core.ex.accounts["A000000001"]
    acct_b = long_a.core.ex.accounts["A000000002"]
    balances = acct_a.balance, acct_b.balance
    to_settlement = (next_settlement_ns(long_a.clock.now_ns()) - long_a.clock.now_ns()) / HOUR_NS
    events = _accrue(long_a, to_settlement + 2)  # past 08:00 UTC
    paid_before = RATE * INDEX * to_settlement / 24
    assert acct_a.balance - balances[0] == pytest.approx(-paid_before)
    assert acct_b.balance - balances[1] == pytest.approx(paid_before)
    assert acct_a.realised == pytest.approx(-paid_before)
    assert long_a.core.ex.listings[PERP].funding_value == pytest.approx(-RATE * INDEX * 2 / 24)
    a = _entry(long_a, "A000000001")
    assert "perpetual_funding_entry_value" not in a
    assert a["unrealised_perpetual_funding"] == pytest.approx(-RATE * INDEX * 2 / 24)
    portfolio = {e.key for e in events if e.channel_kind == "account.portfolio"}  # type: ignore[attr-defined]
    assert portfolio == {"A000000001", "A000000002"}


def test_several_settlements_in_one_step(long_a: Env) -> None:
    acct_a = long_a.core.ex.accounts["A000000001"]
    balance = acct_a.balance
    to_settlement = (next_settlement_ns(long_a.clock.now_ns()) - long_a.clock.now_ns()) / HOUR_NS
    _accrue(long_a, to_settlement + 48)  # three 08:00s: everything up to the last one is realised
    assert acct_a.balance - balance == pytest.approx(-RATE * INDEX * (to_settlement + 48) / 24)
    assert _entry(long_a, "A000000001")["unrealised_perpetual_funding"] == pytest.approx(0.0, abs=1e-9)


def test_portfolio_resent_only_when_funding_moves_materially(long_a: Env) -> None:
    long_a.core.portfolio_snapshot("A000000001")  # marks the lines as sent
    long_a.core.portfolio_snapshot("A000000002")
    # notional 100 USD: 1 bp = 0.01 USD; 0.01 x 100 / 24 per hour = 0.0417 USD, a minute 0.0007 USD
    assert _accrue(long_a, 1 / 60) == []
    events = _accrue(long_a, 1)
    keys = sorted(str(e.key) for e in events if e.channel_kind == "account.portfolio")  # type: ignore[attr-defined]
    assert keys == ["A000000001", "A000000002"]
    assert _accrue(long_a, 1 / 60) == []  # the re-send reset the reference


def test_time_going_backwards_and_first_call_accrue_nothing(long_a: Env) -> None:
    now = long_a.clock.now_ns()
    assert long_a.core.accrue_funding(PERP, 5.0, INDEX, now - HOUR_NS) == []
    assert long_a.core.ex.listings[PERP].funding_value == 0.0
    assert long_a.core.ex.listings[PERP].funding_rate == RATE


def test_bad_inputs_are_refused(env: Env) -> None:
    now = env.clock.now_ns()
    with pytest.raises(ValueError, match="perpetual"):
        env.core.accrue_funding(FUT, RATE, INDEX, now)
    with pytest.raises(ValueError, match="funding_rate"):
        env.core.accrue_funding(PERP, float("nan"), INDEX, now)
    with pytest.raises(ValueError, match="index"):
        env.core.accrue_funding(PERP, RATE, 0.0, now)


def test_futures_carry_no_funding(env: Env) -> None:
    env.core.set_market(FUT, 100.0, INDEX, 50.0, 150.0)
    env.order(env.b, "sell", 100, 1.0, instrument_name=FUT)
    env.order(env.a, "buy", 100, 1.0, instrument_name=FUT)
    line = env.core.portfolio_snapshot("A000000001")[0]
    assert "unrealised_perpetual_funding" not in line and "perpetual_funding_entry_value" not in line
    trade = env.core.trade_history(env.a, {})[0]["trades"][0]  # type: ignore[index]
    assert "perpetual_funding_pnl" not in trade


def test_venue_market_step_accrues_funding() -> None:
    """Wiring: ``Venue.step_market`` feeds MARKET's funding_rate and index to ``accrue_funding``."""
    from thalex_modular.emulator.config import EmulatorConfig
    from thalex_modular.emulator.runtime import SimTime, Venue

    start_s = 1_700_000_000.0
    venue = Venue(EmulatorConfig(start_time_s=start_s, flow_agents=False))
    mono = [0]
    venue.time = SimTime(int(start_s * 1e9), 1.0, mono_ns=lambda: mono[0])
    perp = next(n for n, s in venue.specs.items() if s.type == "perpetual")
    listing = venue.core.ex.listings[perp]
    assert listing.funding_ns == int(start_s * 1e9)  # the constructor's first push started the clock
    for _ in range(3):
        mono[0] += 60 * 1_000_000_000
        venue.step_market()
    ticker = venue.ticker(perp)
    assert listing.funding_ns == venue.time.now_ns()
    assert listing.funding_rate == ticker["funding_rate"]
    assert listing.funding_index == ticker["index"]
