"""The deployment on a two-node Ray cluster against the REAL emulator, live: instrument actors on different nodes, an
actor killed mid-quoting comes back clean while the other instrument quotes on, and the kill switch empties the book."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import ray

from exchange_kit import Account, EmulatorFactory, Raw, eventually
from thalex_modular.deployment.carried_state import AWAITING_CARRIED, CARRIED_TIMEOUT_S
from thalex_modular.deployment.config import StrategySettings, load_run_config
from thalex_modular.deployment.deployment_book import DeploySpec
from thalex_modular.deployment.journal_shipper import equity_source
from thalex_modular.deployment.placement import INSTRUMENT_NICENESS
from thalex_modular.deployment.ray.carry_checkpoint import CarryCheckpoint
from thalex_modular.deployment.ray.controller import Controller
from thalex_modular.deployment.ray.names import PERSISTENCE, RATE_LIMITER, instrument_actor
from thalex_modular.deployment.snapshots import InstrumentSnapshot, InstrumentState
from thalex_modular.platform.adapters.storage.factory import open_storage

pytestmark = pytest.mark.usefixtures("ray_cluster")

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"
NAMESPACE = "thalex-modular-test"  # the session cluster's (tests/cluster/conftest.py)


async def _deploy(server_url: str, name: str, mode: str = "live", max_restarts: int = 0, **flags: Any) -> Any:
    config = load_run_config(None, {}, {
        "mode": mode, "network": "local", "connection.emulator_url": server_url, "toxic_flow.enabled": False,
        "options_vol.enabled": False, **flags,
    })
    spec = DeploySpec.of(config, [BTC, ETH], persistence=False,
                         placement={BTC: {"node1": 1}, ETH: {"node2": 1}})
    controller = ray.remote(Controller).options(name=name, namespace=NAMESPACE, num_cpus=0,
                                                max_restarts=max_restarts).remote(spec, NAMESPACE, name)
    await controller.deploy.remote()
    return controller


async def _status(controller: Any) -> dict[str, InstrumentSnapshot]:
    return {s.instrument: s for s in await controller.status.remote()}


async def _all_quoting(controller: Any) -> bool:
    status = await _status(controller)
    return all(s.state is InstrumentState.QUOTING and s.open_quotes > 0 for s in status.values())


def _gone(name: str) -> bool:
    """No actor of that name any more (``ray.kill`` returns before the name is released)."""
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return True
    return False


async def _exchange_orders(client: Raw, instrument: str) -> list[dict[str, Any]]:
    return [o for o in await client.call("private/open_orders") if o["instrument_name"] == instrument]


async def test_actors_quote_on_two_nodes_and_a_killed_one_restarts_clean_while_the_other_quotes_on(
    start_emulator: EmulatorFactory, cluster_account: Account
) -> None:
    # Arrange: live on the emulator, BTC's actor on one node, ETH's on the other
    server = await start_emulator(speed=2.0)
    controller = await _deploy(server.url, "controller-restart")
    observer = await Raw.open(server.url, cluster_account)
    try:
        await eventually(lambda: _all_quoting(controller), timeout_s=60.0, interval_s=0.5)
        status = await _status(controller)
        assert status[BTC].node_id != status[ETH].node_id
        eth_requests = status[ETH].requests_sent
        # both sessions' order messages are leased from the deployment's one account-wide limiter
        limiter = ray.get_actor(RATE_LIMITER, namespace=NAMESPACE)
        messages = (await limiter.status.remote())["message"]
        assert {h.split("/")[0] for h in messages.holders} == {BTC, ETH}
        assert messages.granted >= status[BTC].requests_sent + status[ETH].requests_sent - messages.burst

        # Act: BTC's actor process is killed mid-quoting (Ray restarts it)
        ray.kill(ray.get_actor(instrument_actor(BTC), namespace=NAMESPACE), no_restart=False)
        eth_states: list[InstrumentState] = []

        async def btc_back() -> bool:
            now = await _status(controller)
            eth_states.append(now[ETH].state)
            btc = now[BTC]
            return btc.incarnation == 2 and btc.state is InstrumentState.QUOTING and btc.open_quotes > 0

        await eventually(btc_back, timeout_s=60.0, interval_s=0.3)

        # Assert: ETH never stopped quoting; BTC resynced: the exchange holds exactly the orders its new actor
        # tracks (no orphan of the old process: cancel-on-disconnect pulled them) and the positions agree
        assert set(eth_states) == {InstrumentState.QUOTING}
        assert (await _status(controller))[ETH].requests_sent > eth_requests
        assert (await controller.restarts.remote())[BTC] >= 1

        async def btc_in_step() -> bool:
            btc = (await _status(controller))[BTC]
            held = {(o["direction"], o["price"]) for o in await _exchange_orders(observer, BTC)}
            tracked = {("buy", p) for p, _ in btc.bids} | {("sell", p) for p, _ in btc.asks}
            positions = {p["instrument_name"]: p["position"] for p in await observer.call("private/portfolio")}
            return held == tracked and abs(positions.get(BTC, 0.0) - btc.position) < 1e-9

        await eventually(btc_in_step, timeout_s=10.0, interval_s=0.5)
    finally:
        report = await controller.stop.remote(20.0)
        await observer.close()
    assert report == {BTC: 0, ETH: 0}
    await eventually(lambda: _gone(RATE_LIMITER), timeout_s=10.0)  # the stop removed it with the deployment


async def test_the_kill_switch_empties_every_instrument_within_a_second_until_resumed(
    start_emulator: EmulatorFactory, cluster_account: Account
) -> None:
    server = await start_emulator(speed=2.0)
    controller = await _deploy(server.url, "controller-kill")
    observer = await Raw.open(server.url, cluster_account)

    async def ours() -> list[dict[str, Any]]:
        return await _exchange_orders(observer, BTC) + await _exchange_orders(observer, ETH)

    async def none_rest() -> bool:
        return not await ours()

    try:
        await eventually(lambda: _all_quoting(controller), timeout_s=60.0, interval_s=0.5)
        assert await ours()
        gamma = (await controller.strategy.remote(BTC))["gamma"] * 1.5
        settings = StrategySettings.model_validate({**await controller.strategy.remote(BTC), "gamma": gamma})
        await controller.update_strategy.remote(BTC, settings.model_dump(mode="json"))

        async def btc_filled() -> bool:
            return (await _status(controller))[BTC].fills > 0

        await eventually(btc_filled, timeout_s=90.0, interval_s=0.5)  # PnL and fees to carry over the restart
        # Act
        started = time.monotonic()
        await controller.kill.remote(None, "test")
        # Assert: every order of every instrument gone within a second, and nothing comes back until resumed
        await eventually(none_rest, timeout_s=1.0, interval_s=0.1)
        assert time.monotonic() - started <= 1.0
        await asyncio.sleep(1.5)
        assert await ours() == []
        status = await _status(controller)
        assert {s.state for s in status.values()} == {InstrumentState.PAUSED}
        assert all("kill switch" in (s.reason or "") for s in status.values())

        # Act: BTC's actor process dies while held (Ray restarts it from its creation arguments)
        before = status[BTC]
        ray.kill(ray.get_actor(instrument_actor(BTC), namespace=NAMESPACE), no_restart=False)

        async def btc_restarted_held() -> bool:
            btc = (await _status(controller))[BTC]
            return btc.incarnation == 2 and btc.state is InstrumentState.PAUSED and btc.tickers > 0

        await eventually(btc_restarted_held, timeout_s=60.0, interval_s=0.3)
        # Assert: the restarted actor holds the kill switch and the strategy set before, and quotes nothing
        await asyncio.sleep(1.5)
        assert await ours() == []
        btc = (await _status(controller))[BTC]
        assert btc.state is InstrumentState.PAUSED and "kill switch: test" in (btc.reason or "")
        held = await ray.get_actor(instrument_actor(BTC), namespace=NAMESPACE).carried.remote()
        assert held.kill_reason == "test" and held.strategy is not None and held.strategy["gamma"] == gamma
        # its loss limits count what the killed process used (held: no check since, so exactly the carried figures)
        assert held.limits_used is not None and btc.limits_used == held.limits_used
        # and its realised PnL and fees go on from the killed process's (held: no fill since)
        assert before.fees_usd != 0.0 and btc.fees_usd == before.fees_usd
        assert btc.realised_pnl_usd == before.realised_pnl_usd
        await controller.resume.remote(None)
        await eventually(lambda: _all_quoting(controller), timeout_s=15.0, interval_s=0.5)
        assert await ours()
    finally:
        await controller.stop.remote(20.0)
        await observer.close()


async def _btc_filled_then_killed(controller: Any, *, pause_eth: bool) -> tuple[Any, Any]:
    """Quote until BTC has a fill (PnL and fees to keep), engage its kill switch (held: they stay as they are) and,
    with ``pause_eth``, pause ETH. Returns BTC's status once held and the state the Controller keeps of it."""
    await eventually(lambda: _all_quoting(controller), timeout_s=60.0, interval_s=0.5)

    async def btc_filled() -> bool:
        return (await _status(controller))[BTC].fills > 0

    await eventually(btc_filled, timeout_s=90.0, interval_s=0.5)
    await controller.kill.remote(BTC, "test")
    if pause_eth:
        await controller.pause.remote(ETH, "operator")

    async def held() -> bool:
        status = await _status(controller)
        return ("kill switch: test" in (status[BTC].reason or "") and status[BTC].open_quotes == 0
                and (not pause_eth or status[ETH].state is InstrumentState.PAUSED))

    await eventually(held, timeout_s=5.0, interval_s=0.2)
    await asyncio.sleep(1.0)  # the fills in flight are in, and checkpointed
    before = (await _status(controller))[BTC]
    kept = await controller.carried.remote(BTC)
    assert kept.fees_usd == before.fees_usd != 0.0 and kept.limits_used is not None
    return before, kept


async def _assert_btc_holds_what_was_kept(controller: Any, carried: Any, before: Any, kept: Any) -> Any:
    """BTC's new actor holds the kept kill switch, PnL and fees, and limits used that go on from the kept ones (plus
    what the mark did to the held position if it adopted late); returns BTC's status."""
    assert carried is not None and carried.kill_reason == "test"
    assert (carried.realised_pnl_usd, carried.fees_usd) == (before.realised_pnl_usd, before.fees_usd)
    assert carried.limits_used is not None and carried.limits_used.day == kept.limits_used.day
    btc = (await _status(controller))[BTC]
    moved = abs(btc.position) * (btc.mark_price or 0.0) * 0.02 + 0.01
    assert abs(carried.limits_used.loss_usd - kept.limits_used.loss_usd) <= moved
    assert btc.state is InstrumentState.PAUSED and "kill switch: test" in (btc.reason or "")
    assert (btc.realised_pnl_usd, btc.fees_usd) == (before.realised_pnl_usd, before.fees_usd)
    return btc


async def test_an_actor_restarted_while_the_controller_does_not_answer_keeps_and_then_adopts_the_kept_state(
    start_emulator: EmulatorFactory, cluster_account: Account
) -> None:
    server = await start_emulator(speed=2.0)
    controller = await _deploy(server.url, "controller-late")
    observer = await Raw.open(server.url, cluster_account)
    actor_name = instrument_actor(BTC)
    try:
        before, kept = await _btc_filled_then_killed(controller, pause_eth=False)

        def stall(_controller: Any, timeout_s: float) -> bool:
            """On the Controller's event loop (it answers nothing meanwhile): restart BTC's actor, and return once
            the new one gave up waiting for its carried state and was built held."""
            actor = ray.get_actor(actor_name, namespace=NAMESPACE)
            ray.kill(actor, no_restart=False)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                try:
                    snap = ray.get(actor.snapshot.remote(), timeout=2.0)
                    if snap.incarnation == 2 and snap.reason == AWAITING_CARRIED and not snap.carried_adopted:
                        return True
                except Exception:  # restarting
                    pass
                time.sleep(0.2)
            return False

        # Act: BTC's actor restarts while the Controller does not answer (longer than the actor waits)
        started = time.monotonic()
        assert await controller.__ray_call__.remote(stall, 60.0)
        assert time.monotonic() - started >= 10.0

        # Assert: once the Controller answers again, the actor adopts what it kept: still killed, with the PnL and
        # fees of the killed process (held: no fill since), and the book never lost them to its earlier reports
        btc_actor = ray.get_actor(actor_name, namespace=NAMESPACE)

        async def adopted() -> bool:
            return await btc_actor.carried.remote() is not None

        await eventually(adopted, timeout_s=30.0, interval_s=0.3)
        await asyncio.sleep(1.0)  # its adopted reports are in
        btc = await _assert_btc_holds_what_was_kept(controller, await controller.carried.remote(BTC), before, kept)
        assert btc.incarnation == 2 and btc.carried_adopted
        assert await _exchange_orders(observer, BTC) == []
        await controller.resume.remote(BTC)
        await eventually(lambda: _all_quoting(controller), timeout_s=15.0, interval_s=0.5)
    finally:
        await controller.stop.remote(20.0)
        await observer.close()


async def test_an_actor_restarting_while_the_controller_restarts_is_handed_the_kept_kill_switch_limits_and_pnl(
    start_emulator: EmulatorFactory, cluster_account: Account
) -> None:
    server = await start_emulator(speed=2.0)
    controller = await _deploy(server.url, "controller-restarting", max_restarts=-1)
    observer = await Raw.open(server.url, cluster_account)
    actor_name = instrument_actor(BTC)
    try:
        before, kept = await _btc_filled_then_killed(controller, pause_eth=True)

        # Act: the Controller's process and BTC's actor's die together; Ray restarts both from their arguments
        ray.kill(controller, no_restart=False)
        ray.kill(ray.get_actor(actor_name, namespace=NAMESPACE), no_restart=False)
        btc_actor = ray.get_actor(actor_name, namespace=NAMESPACE)

        async def btc_back() -> bool:
            try:
                snap = await btc_actor.snapshot.remote()
            except ray.exceptions.RayActorError:  # restarting
                return False
            return snap.incarnation == 2 and snap.carried_adopted and snap.tickers > 0

        await eventually(btc_back, timeout_s=60.0, interval_s=0.3)

        # Assert: BTC's new actor was handed the kept kill switch, limits used, PnL and fees (not a blank state), and
        # quotes nothing; the restarted Controller kept ETH's pause and reads the same figures
        await asyncio.sleep(1.5)
        assert await _exchange_orders(observer, BTC) == []
        await _assert_btc_holds_what_was_kept(controller, await btc_actor.carried.remote(), before, kept)
        assert (await controller.carried.remote(ETH)).paused == "operator"
        await controller.resume.remote(None)
        await eventually(lambda: _all_quoting(controller), timeout_s=15.0, interval_s=0.5)
    finally:
        await controller.stop.remote(20.0)
        await observer.close()


async def test_a_controller_restarted_without_its_checkpoint_hands_out_nothing_of_an_actor_that_died_with_it(
    start_emulator: EmulatorFactory, cluster_account: Account
) -> None:
    server = await start_emulator(speed=2.0)
    controller = await _deploy(server.url, "controller-lost", max_restarts=-1)
    observer = await Raw.open(server.url, cluster_account)
    actor_name = instrument_actor(BTC)
    try:
        await eventually(lambda: _all_quoting(controller), timeout_s=60.0, interval_s=0.5)
        await controller.kill.remote(BTC, "test")
        await controller.pause.remote(ETH, "operator")
        # its checkpoint gone: no more writes, the key deleted
        await controller.__ray_call__.remote(lambda c: setattr(c, "_stopping", True))
        await CarryCheckpoint(NAMESPACE, "controller-lost").delete()

        # Act: the Controller's process and BTC's actor's die together
        ray.kill(controller, no_restart=False)
        ray.kill(ray.get_actor(actor_name, namespace=NAMESPACE), no_restart=False)
        btc_actor = ray.get_actor(actor_name, namespace=NAMESPACE)

        async def btc_awaiting() -> bool:
            try:
                snap = await btc_actor.snapshot.remote()
            except ray.exceptions.RayActorError:  # restarting
                return False
            return snap.incarnation == 2 and snap.reason == AWAITING_CARRIED and snap.tickers > 0

        await eventually(btc_awaiting, timeout_s=60.0, interval_s=0.3)

        # Assert: BTC's state is lost with both processes: its new actor is not handed a blank one (it would quote)
        # but stays held; ETH's running actor gave its pause back to the restarted Controller
        await asyncio.sleep(CARRIED_TIMEOUT_S + 2.0)  # the take-back is over, the actor asked again
        snap = await btc_actor.snapshot.remote()
        assert snap.reason == AWAITING_CARRIED and not snap.carried_adopted
        assert await _exchange_orders(observer, BTC) == []
        assert (await controller.carried.remote(ETH)).paused == "operator"
        # an operator's resume decides: it quotes again
        await controller.resume.remote(None)
        await eventually(lambda: _all_quoting(controller), timeout_s=15.0, interval_s=0.5)

        async def btc_adopted() -> bool:  # at its next ask, which may come after it quotes again
            return bool((await btc_actor.snapshot.remote()).carried_adopted)

        await eventually(btc_adopted, timeout_s=CARRIED_TIMEOUT_S + 5.0, interval_s=0.5)
    finally:
        await controller.stop.remote(20.0)
        await observer.close()


async def test_metrics_reach_the_prometheus_endpoint(start_emulator: EmulatorFactory) -> None:
    server = await start_emulator(speed=2.0)
    controller = await _deploy(server.url, "controller-metrics", mode="shadow")
    try:
        await eventually(lambda: _all_quoting(controller), timeout_s=60.0, interval_s=0.5)

        def exported() -> str:
            text = ""
            for node in ray.nodes():
                if node["Alive"] and node.get("MetricsExportPort"):
                    url = f"http://127.0.0.1:{node['MetricsExportPort']}/metrics"
                    with urllib.request.urlopen(url, timeout=5) as response:
                        text += response.read().decode()
            return text

        async def has_ours() -> bool:
            text = await asyncio.to_thread(exported)
            return "thalex_tickers_total" in text and f'instrument="{BTC}"' in text and "thalex_tick_to_quote" in text

        await eventually(has_ours, timeout_s=30.0, interval_s=1.0)
    finally:
        await controller.stop.remote(20.0)



async def test_instrument_actors_placed_on_their_cpus_quote_there_and_cpus_a_node_lacks_are_their_error(
    start_emulator: EmulatorFactory,
) -> None:
    import os

    cpu = min(os.sched_getaffinity(0))
    server = await start_emulator(speed=2.0)
    controller = await _deploy(server.url, "controller-placed", mode="shadow",
                               **{"placement.instrument_cpus": str(cpu)})
    try:
        await eventually(lambda: _all_quoting(controller), timeout_s=60.0, interval_s=0.5)
        for name in (BTC, ETH):  # every thread, those the session started after the pinning included
            actor = ray.get_actor(instrument_actor(name), namespace=NAMESPACE)
            threads_cpus = await actor.__ray_call__.remote(  # a lambda: pickled by value (no test module there)
                lambda self: {c for t in os.listdir("/proc/self/task") for c in os.sched_getaffinity(int(t))})
            assert threads_cpus == {cpu}
            # and every thread runs ahead of Ray's other workers (15) and the API (19), when the node allows it
            nices = await actor.__ray_call__.remote(
                lambda self: {os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir("/proc/self/task")})
            if os.geteuid() == 0:  # lowering a niceness needs the privilege (root here)
                assert nices == {INSTRUMENT_NICENESS}, nices
    finally:
        await controller.stop.remote(20.0)
        ray.kill(controller, no_restart=True)
    controller = await _deploy(server.url, "controller-misplaced", mode="shadow",
                               **{"placement.instrument_cpus": "4095"})
    try:
        async def refused() -> bool:
            return all(s.state is InstrumentState.ERROR for s in (await _status(controller)).values())

        await eventually(refused, timeout_s=60.0, interval_s=0.5)
        for snapshot in (await _status(controller)).values():
            assert "placement.instrument_cpus: CPU 4095 is not available" in (snapshot.reason or ""), snapshot
    finally:
        await controller.stop.remote(20.0)
        ray.kill(controller, no_restart=True)


async def test_a_persisted_deployment_stores_its_orders_equity_and_market_data_and_closes_the_store_at_stop(
    start_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # Arrange: shadow on the emulator, persisted to an embedded store of this test (spill beside it)
    server = await start_emulator(speed=2.0)
    config = load_run_config(None, {}, {
        "mode": "shadow", "network": "local", "connection.emulator_url": server.url, "toxic_flow.enabled": False,
        "options_vol.enabled": False,
    })
    store = tmp_path / "store.duckdb"
    spec = DeploySpec.of(config, [BTC, ETH], db=str(store), spill_dir=str(tmp_path / "spill"),
                         record_market_data=True)
    controller = ray.remote(Controller).options(name="controller-persisted", namespace=NAMESPACE, num_cpus=0).remote(
        spec, NAMESPACE, "controller-persisted"
    )
    try:
        await controller.deploy.remote()
        persistence = ray.get_actor(PERSISTENCE, namespace=NAMESPACE)
        await eventually(lambda: _all_quoting(controller), timeout_s=60.0, interval_s=0.5)

        # Act: let both instruments quote and snapshot for a few seconds
        async def stored_equity() -> bool:
            return all([await persistence.read_equity.remote(equity_source("shadow", i), 0, 2**62)
                        for i in (BTC, ETH)])

        await eventually(stored_equity, timeout_s=20.0, interval_s=0.5)
    finally:
        status = await _status(controller)
        await controller.stop.remote(20.0)

    # Assert: the stop closed the store (gone with the actor) after the journals were shipped: every order update and
    # fill of the sessions is in it, under the session's mode, each instrument's equity under its own source
    await eventually(lambda: _gone(PERSISTENCE), timeout_s=10.0)
    storage = await open_storage(store)
    try:
        for instrument in (BTC, ETH):
            orders = await storage.read_orders("shadow", instrument, 0, 2**62)
            assert orders, instrument
            assert {o.instrument_name for o in orders} == {instrument}
            assert {o.status for o in orders} >= {"open"}
            fills = await storage.read_fills("shadow", instrument, 0, 2**62)
            assert len(fills) >= status[instrument].fills
            equity = await storage.read_equity(equity_source("shadow", instrument), 0, 2**62)
            assert [e.ts_ns for e in equity] == sorted(e.ts_ns for e in equity)
            assert equity
            # the market data the sessions saw, recorded beside their own activity
            assert len(await storage.read_quotes(instrument, 0, 2**62)) > 0, instrument
    finally:
        await storage.close()
