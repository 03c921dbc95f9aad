"""The API's SSE pieces without Ray or HTTP: stream hubs (history, resume, backlog), bounded client queues (drop
oldest, one gap event saying how many), the byte budget that ends a response; and the token file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from thalex_modular.deployment.api.auth import TokenError, bearer_matches, ensure_token_file, is_loopback, read_token
from thalex_modular.deployment.api.sse import StreamHub, sse_frames
from thalex_modular.deployment.config import ApiSettings
from thalex_modular.deployment.snapshots import EquityEvent

BTC, ETH = "BTC-PERPETUAL", "ETH-PERPETUAL"


def equity(i: int, instrument: str = BTC) -> EquityEvent:
    return EquityEvent(instrument=instrument, ts_ns=i, position=0.0, realised_pnl_usd=float(i),
                       unrealised_pnl_usd=0.0, fees_usd=0.0)


def ids(chunk: bytes) -> list[int]:
    return [int(line[4:]) for line in chunk.decode().split("\n") if line.startswith("id: ")]


def test_a_resume_gets_exactly_the_events_after_its_id_and_a_gap_for_those_no_longer_held() -> None:
    hub = StreamHub("equity", history=5, queue_capacity=100)
    hub.publish([(i, equity(i)) for i in range(1, 9)])  # holds 4..8
    assert ids(hub.subscribe(None, 5, 0).take()) == [6, 7, 8]
    old = hub.subscribe(None, 1, 0).take()
    assert old.startswith(b'event: gap\ndata: {"missed": 2}\n\n') and ids(old) == [4, 5, 6, 7, 8]
    assert hub.subscribe(None, 8, 0).take() == b""  # up to date: nothing, no gap
    hub.publish([(7, equity(7)), (9, equity(9))])  # a resent id is not sent twice
    assert ids(hub.history[-1].data) == [9] and len(hub.history) == 5


def test_a_backlog_and_an_instrument_filter() -> None:
    hub = StreamHub("equity", history=10, queue_capacity=100)
    hub.publish([(i, equity(i, BTC if i % 2 else ETH)) for i in range(1, 9)])
    assert ids(hub.subscribe(ETH, None, 2).take()) == [6, 8]
    assert ids(hub.subscribe(None, None, 3).take()) == [6, 7, 8]
    live = hub.subscribe(BTC, None, 0)
    hub.publish([(9, equity(9, BTC)), (10, equity(10, ETH))])
    assert ids(live.take()) == [9]


def test_a_client_that_falls_behind_loses_the_oldest_and_is_told_how_many() -> None:
    hub = StreamHub("equity", history=100, queue_capacity=3)
    slow, other = hub.subscribe(None, None, 0), hub.subscribe(None, None, 0)
    hub.publish([(i, equity(i)) for i in range(1, 6)])
    assert len(slow) == 3 and slow.dropped_total == 2
    chunk = slow.take()
    assert chunk.startswith(b'event: gap\ndata: {"missed": 2}\n\n') and ids(chunk) == [3, 4, 5]
    assert slow.take() == b""  # the gap is told once
    assert ids(other.take()) == [3, 4, 5]


async def test_a_response_ends_at_its_byte_budget_and_leaves_the_hub() -> None:
    hub = StreamHub("equity", history=1000, queue_capacity=1000)
    client = hub.subscribe(None, None, 0)
    hub.publish([(i, equity(i)) for i in range(1, 200)])
    chunks = [chunk async for chunk in sse_frames(hub, client, heartbeat_s=0.05, max_bytes=2048)]
    assert chunks[0].startswith(b"retry: ") and sum(len(c) for c in chunks[1:]) >= 2048
    assert client not in hub.clients


async def test_a_quiet_stream_sends_heartbeats() -> None:
    hub = StreamHub("equity", history=10, queue_capacity=10)
    stream = sse_frames(hub, hub.subscribe(None, None, 0), heartbeat_s=0.01, max_bytes=10_000)
    assert (await anext(stream)).startswith(b"retry: ")
    assert (await asyncio.wait_for(anext(stream), 1.0)).startswith(b"event: heartbeat\n")
    await stream.aclose()
    assert not hub.clients


def test_the_token_file_is_0600_keeps_its_token_and_takes_a_configured_one(tmp_path: Path) -> None:
    path = tmp_path / "state" / "api_token"
    ensure_token_file(ApiSettings(), {}, path)
    first = read_token(path)
    assert len(first) >= 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert read_token(ensure_token_file(ApiSettings(), {}, path)) == first  # kept across deploys
    ensure_token_file(ApiSettings(), {"THALEX_API_TOKEN": "from-env"}, path)
    assert read_token(path) == "from-env"
    ensure_token_file(ApiSettings(token=SecretStr("from-config")), {"THALEX_API_TOKEN": "from-env"}, path)
    assert read_token(path) == "from-config"
    os.chmod(path, 0o644)
    with pytest.raises(TokenError, match="mode 644") as error:
        read_token(path)
    assert "from-config" not in str(error.value)


def test_bearer_check_and_loopback() -> None:
    assert bearer_matches("Bearer abc", "abc") and bearer_matches("bearer abc", "abc")
    assert not bearer_matches(None, "abc") and not bearer_matches("Bearer abd", "abc")
    assert not bearer_matches("Basic abc", "abc") and not bearer_matches("Bearer ", "abc")
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
