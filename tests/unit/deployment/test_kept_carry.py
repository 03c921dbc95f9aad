"""What a restarted Controller starts from: the book's kept states, through their checkpoint bytes, hand the next
actors exactly what the book before the restart would have handed them."""

from __future__ import annotations

import msgspec
import pytest

from thalex_modular.deployment.carried_state import CarriedState
from thalex_modular.deployment.config import load_run_config
from thalex_modular.deployment.deployment_book import DeploymentBook, DeploySpec
from thalex_modular.deployment.kept_carry import KeptCarry, decode_kept, encode_kept
from thalex_modular.deployment.snapshots import InstrumentSnapshot, InstrumentState
from thalex_modular.platform.domain.kill_switch import LimitsUsed

S = 1_000_000_000
BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"
SPEC = DeploySpec.of(load_run_config(None, {}, {}), [BTC, ETH])


def report(name: str, started_ns: int, ts_ns: int, adopted: bool, **kw: object) -> InstrumentSnapshot:
    return InstrumentSnapshot(instrument=name, mode="live", state=InstrumentState.QUOTING, started_ns=started_ns,  # type: ignore[arg-type]
                              ts_ns=ts_ns, carried_adopted=adopted, **kw)


def restarted(book: DeploymentBook) -> DeploymentBook:
    """A new Controller's book restored from the checkpoint bytes of ``book``."""
    fresh = DeploymentBook(book.spec)
    fresh.restore(decode_kept(encode_kept(book.kept()), "test"))
    return fresh


def test_a_restored_book_hands_out_the_kept_holds_limits_and_pnl() -> None:
    book = DeploymentBook(SPEC)
    book.set_strategy(BTC, {"gamma": 0.002})
    book.publish(report(BTC, 1, S, True, realised_pnl_usd=12.5, fees_usd=0.75, limits_used=LimitsUsed(3, 80.0, 25.0)),
                 [], S)
    book.kill([BTC], "operator kill")
    book.pause([ETH], "operator")
    # Act
    fresh = restarted(book)
    # Assert: BTC's restarted actor is handed the kill switch, the strategy, the day's loss budget used and its PnL
    assert fresh.hand_over(BTC, 2) == CarriedState(
        strategy={"gamma": 0.002}, kill_reason="operator kill", limits_used=LimitsUsed(3, 80.0, 25.0),
        realised_pnl_usd=12.5, fees_usd=0.75,
    )
    assert fresh.carried(ETH) == CarriedState(paused="operator") and fresh.strategy(BTC) == {"gamma": 0.002}


def test_a_session_that_died_unadopted_before_the_restart_is_still_added_to_its_successor() -> None:
    book = DeploymentBook(SPEC)
    book.publish(report(BTC, 1, S, True, realised_pnl_usd=12.5, fees_usd=0.75, limits_used=LimitsUsed(3, 80.0, 25.0)),
                 [], S)
    book.publish(report(BTC, 2, 2 * S, False, realised_pnl_usd=-2.0, fees_usd=0.25,
                        limits_used=LimitsUsed(3, 10.0, 12.0)), [], 2 * S)
    # Act: the Controller restarts, then session 3 asks (session 2 died without adopting)
    fresh = restarted(book)
    # Assert: what session 2 did is folded in, once
    handed = fresh.hand_over(BTC, 3)
    assert handed == CarriedState(limits_used=LimitsUsed(3, 90.0, 35.0), realised_pnl_usd=10.5, fees_usd=1.0)
    assert fresh.hand_over(BTC, 3) == handed == book.hand_over(BTC, 3)


def test_a_resume_before_the_restart_still_keeps_older_reports_from_re_arming_the_kill_switch() -> None:
    book = DeploymentBook(SPEC)
    book.kill([BTC], "operator")
    book.resume([BTC], 5 * S)
    fresh = restarted(book)
    # Act: a report taken before the resume arrives after the restart
    fresh.publish(report(BTC, 1, 4 * S, True, kill_reason="operator", limits_used=LimitsUsed(3, 80.0, 25.0)), [], 6 * S)
    # Assert
    assert fresh.carried(BTC).kill_reason is None and fresh.carried(BTC).limits_used is None


def test_the_version_counts_every_change_of_what_is_kept_and_only_those() -> None:
    book = DeploymentBook(SPEC)
    versions = [book.carry_version]

    def changed() -> bool:
        versions.append(book.carry_version)
        return versions[-1] != versions[-2]

    book.publish(report(BTC, 1, S, True, realised_pnl_usd=1.0), [], S)
    assert changed()
    book.publish(report(BTC, 1, 2 * S, True, realised_pnl_usd=1.0), [], 2 * S)  # the same figures
    assert not changed()
    book.pause([BTC], "operator")
    assert changed()
    book.pause([BTC], "operator")
    assert not changed()
    book.resume([BTC], 3 * S)
    assert changed()
    book.publish(report(BTC, 2, 4 * S, False, realised_pnl_usd=0.5), [], 4 * S)  # an unadopted session's report
    assert changed()
    book.hand_over(BTC, 3)  # folds it
    assert changed()
    book.take_back(ETH, CarriedState(paused="held"))
    assert changed()
    book.take_back(ETH, CarriedState())  # kept already: stays
    assert not changed() and book.carried(ETH).paused == "held"


def test_a_restore_leaves_out_instruments_not_deployed() -> None:
    fresh = DeploymentBook(SPEC)
    fresh.restore(KeptCarry(carried={"SOL-PERPETUAL": CarriedState(paused="x"), BTC: CarriedState(paused="y")},
                            resumed_ns={"SOL-PERPETUAL": 1}))
    assert fresh.kept() == KeptCarry(carried={BTC: CarriedState(paused="y")})


def test_an_unreadable_checkpoint_is_an_error_naming_where_and_what() -> None:
    with pytest.raises(ValueError, match=r"checkpointed at GCS kv:x cannot be read: Expected `object`"):
        decode_kept(b"\x01", "GCS kv:x")
    bad = msgspec.msgpack.encode({"carried": {BTC: {"limits_used": {"day": 3, "loss_usd": float("nan"),
                                                                    "drawdown_usd": 0.0}}}})
    with pytest.raises(ValueError, match=r"LimitsUsed.loss_usd: must be finite.*\$.carried\[...\].limits_used"):
        decode_kept(bad, "GCS kv:x")


def test_without_its_checkpoint_a_restarted_book_hands_out_nothing_until_an_actor_gives_it_back_or_a_resume() -> None:
    book = DeploymentBook(SPEC)
    # Act: a Controller restarted without a readable checkpoint
    book.lost()
    # Assert: no blank state for anyone; ETH's running actor gives its back, BTC's (restarted) had none to give
    for name in (BTC, ETH):
        with pytest.raises(LookupError, match=f"{name}: the controller restarted without its checkpoint"):
            book.hand_over(name, 2)
    # ETH's running actor reports before it is asked to give its state back (its report has no pause in it)
    book.publish(report(ETH, 1, 4 * S, True, realised_pnl_usd=3.0), [], 4 * S)
    book.take_back(ETH, CarriedState(kill_reason="operator", realised_pnl_usd=3.0))
    assert book.is_lost(BTC) and not book.is_lost(ETH)
    assert book.hand_over(ETH, 2) == CarriedState(kill_reason="operator", realised_pnl_usd=3.0)
    book.pause([BTC], "operator")  # a hold does not make the rest known
    with pytest.raises(LookupError):
        book.hand_over(BTC, 2)
    book.resume([BTC], 5 * S)  # an operator's decision: holds lifted, limits started again
    assert book.hand_over(BTC, 2) == CarriedState()
