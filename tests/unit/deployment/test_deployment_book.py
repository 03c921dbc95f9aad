"""The Controller's plain book: the spec, each instrument's last report, staleness, restarts, totals, event streams."""

from __future__ import annotations

import pickle

import msgspec
import pytest

from thalex_modular.deployment.carried_state import CarriedState
from thalex_modular.deployment.config import load_run_config
from thalex_modular.deployment.deployment_book import STALE_NS, DeploymentBook, DeploySpec
from thalex_modular.deployment.event_log import EventLog
from thalex_modular.deployment.snapshots import EquityEvent, FillEvent, InstrumentSnapshot, InstrumentState
from thalex_modular.platform.domain.kill_switch import LimitsUsed

S = 1_000_000_000
BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"


def snapshot(name: str, state: InstrumentState = InstrumentState.QUOTING, started_ns: int = 1, **kw: object
             ) -> InstrumentSnapshot:
    return InstrumentSnapshot(instrument=name, mode="shadow", state=state, started_ns=started_ns, **kw)  # type: ignore[arg-type]


def test_the_spec_carries_the_config_without_credentials_and_refuses_bad_instrument_lists() -> None:
    config = load_run_config(None, {"THALEX_KEY_ID": "K-secret", "THALEX_PRIVATE_KEY_PATH": "/k.pem"},
                             {"mode": "live", "strategy.gamma": 0.004})
    spec = DeploySpec.of(config, [BTC, ETH])
    assert "credentials" not in spec.config and "K-secret" not in repr(pickle.dumps(spec))
    btc = spec.run_config(BTC)
    assert btc.instrument == BTC and btc.strategy.gamma == 0.004 and btc.credentials.key_id is None
    assert spec.mode == "live" and spec.network == "local"
    with pytest.raises(ValueError, match="at least one instrument"):
        DeploySpec.of(config, [])
    with pytest.raises(ValueError, match="more than once: BTC-PERPETUAL"):
        DeploySpec.of(config, [BTC, ETH, BTC])


def test_status_follows_reports_marks_silent_actors_and_counts_restarts() -> None:
    book = DeploymentBook(DeploySpec.of(load_run_config(None, {}, {}), [BTC, ETH]))
    # before any report: syncing, in the spec's order
    assert [(s.instrument, s.state) for s in book.status(0)] == [(BTC, InstrumentState.SYNCING),
                                                                 (ETH, InstrumentState.SYNCING)]
    book.publish(snapshot(BTC, position=0.1, realised_pnl_usd=2.0, fees_usd=0.5, mark_price=100_000.0,
                          bids=((99_990.0, 0.01),)), [], S)
    book.publish(snapshot(ETH, realised_pnl_usd=-1.0), [], S)
    assert {s.state for s in book.status(2 * S)} == {InstrumentState.QUOTING}
    totals = book.account(2 * S)
    assert (totals.quoting, totals.realised_pnl_usd, totals.fees_usd, totals.open_quotes) == (2, 1.0, 0.5, 1)
    assert totals.gross_notional_usd == pytest.approx(10_000.0)
    # ETH's actor stops reporting: an error saying since when
    book.publish(snapshot(BTC), [], S + STALE_NS)
    eth = book.snapshot(ETH, S + STALE_NS + 1)
    assert eth.state is InstrumentState.ERROR and "no report from its actor for 5.0 s" in (eth.reason or "")
    # a new incarnation of BTC's actor counts as a restart; reports of instruments not deployed are ignored
    book.publish(snapshot(BTC, started_ns=2), [], 3 * S)
    book.publish(snapshot("SOL-PERPETUAL"), [], 3 * S)
    assert book.restarts == {BTC: 1, ETH: 0}
    with pytest.raises(KeyError, match="SOL-PERPETUAL"):
        book.snapshot("SOL-PERPETUAL", 3 * S)


def test_event_streams_give_what_a_reader_missed_and_say_how_much_fell_out() -> None:
    log = EventLog(capacity=3)
    fills = [FillEvent(BTC if i % 2 else ETH, i, f"t{i}", "buy", 100.0, 0.01, "maker", 0.01) for i in range(5)]
    log.add([*fills, EquityEvent(BTC, 9, 0.0, 1.0, 0.0, 0.0)])
    page = log.since("fills", after_id=0)
    assert [i for i, _ in page.events] == [3, 4, 5] and page.missed == 2 and page.last_id == 5
    assert log.since("fills", after_id=4).events == [(5, fills[4])] and log.since("fills", 4).missed == 0
    assert [e.instrument for _, e in log.since("fills", 0, instrument=BTC).events] == [BTC]
    assert log.since("fills", after_id=5).events == [] and log.since("equity", 0).events[0][0] == 1
    with pytest.raises(KeyError, match="unknown event stream 'orders'"):
        log.since("orders")
    # events travel as plain JSON
    assert msgspec.json.decode(msgspec.json.encode(fills[0]))["trade_id"] == "t0"


def test_the_spec_leaves_the_api_token_out_and_the_book_tracks_strategy_updates() -> None:
    config = load_run_config(None, {"THALEX_API__TOKEN": "tok-secret"}, {"strategy.gamma": 0.004})
    assert config.api.token is not None and config.api.host == "127.0.0.1"
    spec = DeploySpec.of(config, [BTC, ETH])
    assert "tok-secret" not in repr(pickle.dumps(spec)) and "token" not in spec.config["api"]
    book = DeploymentBook(spec)
    assert book.strategy(BTC)["gamma"] == 0.004
    book.set_strategy(BTC, {**book.strategy(BTC), "gamma": 0.01})
    assert book.strategy(BTC)["gamma"] == 0.01 and book.strategy(ETH)["gamma"] == 0.004
    assert not book.has_events_after({"equity": 0})
    book.publish(snapshot(BTC), [EquityEvent(BTC, 1, 0.0, 0.0, 0.0, 0.0)], 1)
    assert book.has_events_after({"equity": 0}) and not book.has_events_after({"equity": 1, "fills": 0})


def test_carried_state_is_kept_for_a_restarted_actor_and_a_tripped_kill_switch_holds_until_resumed() -> None:
    book = DeploymentBook(DeploySpec.of(load_run_config(None, {}, {"strategy.gamma": 0.004}), [BTC, ETH]))
    assert book.carried(BTC) == CarriedState() and book.strategy(BTC)["gamma"] == 0.004
    # commands: a pause for one, a strategy for the other
    book.pause([BTC], "operator")
    book.set_strategy(ETH, {**book.strategy(ETH), "gamma": 0.002})
    assert book.carried(BTC).paused == "operator" and book.carried(BTC).strategy is None
    assert book.carried(ETH).strategy is not None and book.strategy(ETH)["gamma"] == 0.002
    # ETH's kill switch trips by a limit: its report arms the carried, which a resume lifts
    book.publish(snapshot(ETH, InstrumentState.PAUSED, kill_reason="drawdown 3.00 USD", ts_ns=2 * S), [], 2 * S)
    assert book.carried(ETH).kill_reason == "drawdown 3.00 USD" and book.strategy(ETH)["gamma"] == 0.002
    book.resume([BTC, ETH], 3 * S)
    assert book.carried(BTC) == CarriedState() and book.carried(ETH).kill_reason is None
    # a report taken before the resume (in flight) does not re-arm it; a later trip does
    book.publish(snapshot(ETH, InstrumentState.PAUSED, kill_reason="drawdown 3.00 USD", ts_ns=3 * S - 1), [], 3 * S)
    assert book.carried(ETH).kill_reason is None
    book.publish(snapshot(ETH, InstrumentState.PAUSED, kill_reason="drawdown 4.00 USD", ts_ns=4 * S), [], 4 * S)
    assert book.carried(ETH).kill_reason == "drawdown 4.00 USD"
    # the loss limits used come with each report (a restart carries them on); a resume starts them again
    book.publish(snapshot(BTC, limits_used=LimitsUsed(3, 40.0, 12.0), ts_ns=5 * S), [], 5 * S)
    assert book.carried(BTC).limits_used == LimitsUsed(3, 40.0, 12.0)
    book.resume([BTC], 6 * S)
    assert book.carried(BTC).limits_used is None
    # the PnL and fees of the last report are handed on (a report includes what its actor was handed)
    book.publish(snapshot(BTC, realised_pnl_usd=12.5, fees_usd=0.75, ts_ns=7 * S), [], 7 * S)
    assert (book.carried(BTC).realised_pnl_usd, book.carried(BTC).fees_usd) == (12.5, 0.75)
    # an operator's kill keeps its own reason; a restarted Controller takes an actor's carried back, never over a
    # command it took since
    book.kill([BTC], "operator kill")
    book.take_back(BTC, CarriedState(paused="older"))
    assert book.carried(BTC) == CarriedState(kill_reason="operator kill", realised_pnl_usd=12.5, fees_usd=0.75)
    fresh = DeploymentBook(book.spec)
    fresh.take_back(BTC, book.carried(BTC))
    assert fresh.carried(BTC).kill_reason == "operator kill" and fresh.carried(ETH) == CarriedState()
