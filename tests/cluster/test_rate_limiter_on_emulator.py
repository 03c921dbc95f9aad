"""RateLimiter on the session's two-node Ray cluster: three instrument-like actors on both nodes, each with its own
live ThalexSession + ThalexGateway on the REAL emulator (running in this test's process, its per-session limits OFF,
so only our limiter holds the rate), hammer inserts, amends and cancels as fast as their leases allow. The emulator's
request counts, sampled on its own event loop, must stay within the account-wide share (45 messages/s, burst 45)
over every window, while cancels were never refused locally."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest_asyncio
import ray

from thalex_modular.deployment.ray.rate_limiter import RATE_LIMITER_NAME, RateLimiterActor, leased_tokens
from thalex_modular.emulator.config import EmulatorConfig
from thalex_modular.emulator.keys import keygen_to_dir
from thalex_modular.emulator.runtime import build_server
from thalex_modular.emulator.server import EmulatorServer
from thalex_modular.platform.adapters.exchanges.thalex import (
    LeaseConfig,
    RateLimitConfig,
    ThalexConfig,
    ThalexCredentials,
    ThalexGateway,
    ThalexSession,
)
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import CANCEL_METHODS
from thalex_modular.platform.adapters.live_clock import LiveClock
from thalex_modular.platform.domain.enums import Side
from thalex_modular.platform.domain.events import RequestRejected
from thalex_modular.platform.domain.requests import AmendOrder, CancelOrder, InsertOrder, OrderRequest
from thalex_modular.platform.domain.tracking.account_exposure import OrderOwnership

ACCOUNT = "A000000031"
START_S = 1_733_011_200.0
HAMMER_S = 4.0
RATE_PER_S = 0.9 * 50.0  # the account's message share: 90 % of Thalex's 50/s (cancel-on-disconnect sessions)
BURST = RATE_PER_S  # one second of it


@pytest_asyncio.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[tuple[EmulatorServer, str, Path]]:
    key = keygen_to_dir(tmp_path / "keys", ACCOUNT)
    server = build_server(EmulatorConfig.model_validate({
        "port": 0, "keys_file": tmp_path / "keys" / "keys.json", "start_time_s": START_S, "seed": 3,
        "flow_agents": False, "rate_limits": {"enabled": False},
    }))
    await server.start()
    try:
        yield server, key.kid, tmp_path / "keys" / "private_key.pem"
    finally:
        await server.stop()


def hammer_actor_class() -> Any:
    """The test actor, defined in a function so Ray ships it by value (workers cannot import this test module)."""

    class Hammer:
        """One instrument's session and gateway on the emulator, its tokens leased from the named RateLimiter."""

        def __init__(self, url: str, kid: str, key_path: str, label: str, namespace: str) -> None:
            self.url, self.kid, self.key_path, self.label, self.namespace = url, kid, key_path, label, namespace
            self.counts = {"insert": 0, "amend": 0, "cancel": 0, "cancel_refused": 0, "message_refused": 0,
                           "exchange_errors": 0}
            self.open: list[int] = []  # client_order_ids acknowledged open, oldest first
            self.pending: set[int] = set()  # inserted, not acknowledged yet

        def node(self) -> str:
            return ray.get_runtime_context().get_node_id()

        async def connect(self) -> None:
            limiter = ray.get_actor(RATE_LIMITER_NAME, namespace=self.namespace)
            self.tokens = leased_tokens(limiter, self.label, RateLimitConfig(), LeaseConfig())
            credentials = ThalexCredentials.from_pem_file(self.kid, self.key_path)
            clock = LiveClock()
            self.session = ThalexSession(ThalexConfig.local(self.url), clock, credentials, tokens=self.tokens)
            self.gateway = ThalexGateway(self.session, clock, ownership=OrderOwnership(self.label),
                                         instrument_names=["BTC-PERPETUAL"])
            self.gateway.set_answer_sink(self._on_answer)
            await self.session.start(timeout_s=30)
            ticker = msgspec.json.decode(await self.session.call("public/ticker", {"instrument_name": "BTC-PERPETUAL"}))
            self.bid = float(int(ticker["mark_price"] * 0.95))

        def _on_answer(self, answer: Any) -> None:
            if isinstance(answer, RequestRejected):
                local = answer.code == 4 and "throttled locally" in answer.message
                if local:
                    kind = "cancel_refused" if isinstance(answer.request, CancelOrder) else "message_refused"
                    self.counts[kind] += 1
                else:
                    self.counts["exchange_errors"] += 1
                if isinstance(answer.request, InsertOrder) and answer.client_order_id in self.pending:
                    self.pending.discard(answer.client_order_id)
                return
            cid = answer.client_order_id
            if answer.status.is_terminal:
                self.pending.discard(cid)
                if cid in self.open:
                    self.open.remove(cid)
            elif cid in self.pending:
                self.pending.discard(cid)
                self.open.append(cid)

        async def send(self, request: OrderRequest, what: str) -> None:
            await self.gateway.submit(request)
            self.counts[what] += 1

        async def hammer(self, duration_s: float) -> dict[str, int]:
            """Inserts and amends as fast as the lease allows (one insert in three); the oldest order is cancelled
            whenever more than five rest (cancels on their own budget: each must go out at once)."""
            cid = 1000
            step = 0
            end = time.monotonic() + duration_s
            while time.monotonic() < end:
                while len(self.open) > 5:
                    oldest = self.open.pop(0)
                    await self.send(CancelOrder(oldest, None, "BTC-PERPETUAL"), "cancel")
                if self.gateway.request_budget() <= 0:
                    await asyncio.sleep(0.002)
                    continue
                step += 1
                if (step % 3 == 0 or not self.open) and len(self.open) + len(self.pending) < 7:
                    cid += 1
                    self.pending.add(cid)
                    await self.send(InsertOrder(cid, "BTC-PERPETUAL", Side.BUY, self.bid, 0.01, label=self.label),
                                    "insert")
                elif self.open:
                    price = self.bid - step % 2  # a different price than the last amend of the newest order
                    await self.send(AmendOrder(self.open[-1], None, "BTC-PERPETUAL", price, 0.01), "amend")
                await asyncio.sleep(0)
            await self.session.stop()
            await self.tokens.aclose()
            return self.counts

    return ray.remote(num_cpus=0)(Hammer)


async def test_three_actors_on_two_nodes_hammering_stay_within_the_account_rate_at_the_emulator(
    ray_cluster: object, emulator: tuple[EmulatorServer, str, Path]
) -> None:
    # Arrange: the named RateLimiter singleton, three hammering actors (two on the head node, one on the other)
    server, kid, key_path = emulator
    namespace = f"rate-limiter-test-{uuid.uuid4().hex[:8]}"
    limiter = RateLimiterActor.options(name=RATE_LIMITER_NAME, namespace=namespace).remote(
        RateLimitConfig(), LeaseConfig())
    hammer_cls = hammer_actor_class()
    actors = [
        hammer_cls.options(resources={node: 1}).remote(server.url, kid, str(key_path), f"hammer-{k}", namespace)
        for k, node in enumerate(("node1", "node2", "node1"))
    ]
    samples: list[tuple[float, int, int]] = []  # (monotonic s, messages, cancels) as the emulator counted them
    lag_s = 0.0

    async def sample() -> None:
        nonlocal lag_s
        interval = 0.05
        while True:
            due = time.monotonic() + interval
            await asyncio.sleep(interval)
            now = time.monotonic()
            lag_s = max(lag_s, now - due)
            counts = dict(server.request_counts)
            cancels = sum(n for method, n in counts.items() if method in CANCEL_METHODS)
            messages = sum(n for method, n in counts.items() if not method.startswith("emulator/")) - cancels
            samples.append((now, messages, cancels))

    try:
        nodes = {await actor.node.remote() for actor in actors}
        sampler = asyncio.get_running_loop().create_task(sample())
        try:
            # Act: log in (through the limiter too), then hammer for HAMMER_S seconds
            await asyncio.gather(*(actor.connect.remote() for actor in actors))
            hammer_from = len(samples)
            results: list[dict[str, int]] = await asyncio.gather(*(actor.hammer.remote(HAMMER_S) for actor in actors))
            hammer_to = len(samples)
        finally:
            sampler.cancel()
        status = await limiter.status.remote()
    finally:
        for actor in actors:
            ray.kill(actor)
        ray.kill(limiter)

    # Assert: the actors ran on both nodes
    assert len(nodes) == 2
    # every window between two samples: messages <= rate x time + burst, plus what a stall of the emulator's loop
    # (the sampler's worst lateness) could have bunched together
    slack = RATE_PER_S * (lag_s + 0.02) + 1
    worst = 0.0
    for i, (t0, m0, _) in enumerate(samples):
        for t1, m1, _ in samples[i + 1:]:
            excess = (m1 - m0) - (RATE_PER_S * (t1 - t0) + BURST)
            worst = max(worst, excess)
    assert worst <= slack, f"messages exceeded rate x time + burst by {worst:.1f} (slack {slack:.1f})"
    # the actors did press the limit: the hammering phase ran near the full account rate
    (t_a, m_a, c_a), (t_b, m_b, c_b) = samples[hammer_from], samples[hammer_to - 1]
    rate = (m_b - m_a) / (t_b - t_a)
    assert rate >= 0.75 * RATE_PER_S, f"hammering reached only {rate:.1f} messages/s"
    # cancels were never starved: none refused locally while inserts and amends used up the budget
    assert sum(r["cancel_refused"] for r in results) == 0
    assert c_b - c_a >= 20 and sum(r["cancel"] for r in results) >= 20
    # every actor got a share (fair would be a third)
    sent = [r["insert"] + r["amend"] for r in results]
    assert min(sent) >= 0.15 * sum(sent), f"shares {sent}"
    assert status["message"].rate_per_s == RATE_PER_S
