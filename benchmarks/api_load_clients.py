"""The load generator of ``api_load.py``: SSE readers, stuck clients and paced REST GETs in one asyncio process on raw
sockets (asyncio streams, a hand-rolled HTTP/1.1 client: no httpx, whose connection pool costs more CPU than the
API it measures). It runs on the same two cores as the system it measures, at the Ray workers' niceness (it gets no
priority over them), and reports the CPU it used itself."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import time
from dataclasses import dataclass, field
from typing import Any

STREAMS = ["equity", "fills", "quotes", "regime"]
INSTRUMENTS = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
REST_PATHS = (["/api/v1/health", "/api/v1/instruments", "/api/v1/account"]
              + [f"/api/v1/instruments/{i}/{what}" for i in INSTRUMENTS for what in ("market", "portfolio", "orders",
                                                                                     "fills")])
REST_CONNECTIONS = 32
STUCK = 5


@dataclass
class Results:
    lags_ms: list[float] = field(default_factory=list)
    rest_ms: list[float] = field(default_factory=list)
    errors: int = 0
    events: int = 0
    gaps: int = 0


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


async def rest_worker(host: str, port: int, due: asyncio.Queue[float], out: Results) -> None:
    """One keep-alive connection: takes the next due time, sends one GET then, reads the whole answer. The latency
    counts from the due time (a request that waited for a free connection counts its wait)."""
    reader, writer = await asyncio.open_connection(host, port)
    index = 0
    while True:
        due_at = await due.get()
        await asyncio.sleep(max(0.0, due_at - time.perf_counter()))
        path = REST_PATHS[index % len(REST_PATHS)]
        index += 1
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status, headers = await _read_head(reader)
            await reader.readexactly(int(headers.get(b"content-length", b"0")))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            out.errors += 1
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
            continue
        out.rest_ms.append((time.perf_counter() - due_at) * 1e3)
        if status != 200:
            out.errors += 1


async def rest_pacer(rps: float, due: asyncio.Queue[float]) -> None:
    interval = 1.0 / rps
    next_at = time.perf_counter()
    while True:
        due.put_nowait(next_at)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


async def sse_reader(host: str, port: int, stream: str, out: Results) -> None:
    """Reads a stream (chunked transfer encoding), timing each event against its own ``ts_ns``; when the server ends
    the response, resumes on a new connection with ``Last-Event-ID``."""
    last_id: bytes | None = None
    while True:
        reader, writer = await asyncio.open_connection(host, port)
        resume = b"" if last_id is None else b"Last-Event-ID: " + last_id + b"\r\n"
        writer.write(b"GET /api/v1/stream/%s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (stream.encode(), host.encode(), resume))
        await _read_head(reader)
        raw = b""
        text = b""
        done = False
        while not done:
            data = await reader.read(65536)
            if not data:
                break
            now_ns = time.time_ns()
            raw += data
            while True:  # unchunk
                line_end = raw.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(raw[:line_end], 16)
                if len(raw) < line_end + 2 + size + 2:
                    break
                text += raw[line_end + 2:line_end + 2 + size]
                raw = raw[line_end + 4 + size:]
                if size == 0:
                    done = True
                    break
            while b"\n\n" in text:
                frame, text = text.split(b"\n\n", 1)
                if frame.startswith(b"id: "):
                    fields = dict(line.partition(b": ")[::2] for line in frame.split(b"\n"))
                    last_id = fields[b"id"]
                    out.lags_ms.append((now_ns - json.loads(fields[b"data"])["ts_ns"]) / 1e6)
                    out.events += 1
                elif frame.startswith(b"event: gap"):
                    out.gaps += 1
        writer.close()


def stuck_client(host: str, port: int, stream: str) -> socket.socket:
    """A client that asks for a stream with a large backlog and never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(f"GET /api/v1/stream/{stream}?backlog=10000 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return sock


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoadWindows:
    """The load, switched on and off by window (the process and its event loop stay; each window opens its own
    connections and closes them at its end): SSE readers from the live end (no resume: a paused window's events are
    not the load's), stuck clients, paced REST GETs."""

    def __init__(self, base: str, rps: float, sse_clients: int) -> None:
        host, port_text = base.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port_text)
        self.rps, self.sse_clients = rps, sse_clients
        self._tasks: list[asyncio.Task[None]] = []
        self._stuck: list[socket.socket] = []
        self._out = Results()
        self._due: asyncio.Queue[float] = asyncio.Queue()
        self._started = (0.0, 0.0)

    def start(self) -> None:
        host, port = self.host, self.port
        self._out, self._due = Results(), asyncio.Queue()
        self._stuck = [stuck_client(host, port, "quotes") for _ in range(STUCK)]
        self._tasks = [asyncio.create_task(sse_reader(host, port, STREAMS[i % 4], self._out))
                       for i in range(self.sse_clients - STUCK)]
        self._tasks += [asyncio.create_task(rest_worker(host, port, self._due, self._out))
                        for _ in range(REST_CONNECTIONS)]
        self._tasks.append(asyncio.create_task(rest_pacer(self.rps, self._due)))
        self._started = (cpu_s(), time.perf_counter())

    async def stop(self) -> dict[str, Any]:
        used_cpu, elapsed = cpu_s() - self._started[0], time.perf_counter() - self._started[1]
        for task in self._tasks:
            task.cancel()
        failed = [r for r in await asyncio.gather(*self._tasks, return_exceptions=True)
                  if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
        for sock in self._stuck:
            sock.close()
        out = self._out
        return {"lags_ms": out.lags_ms, "rest_ms": out.rest_ms, "errors": out.errors + len(failed),
                "events": out.events, "gaps": out.gaps, "client_cpu_s": used_cpu, "elapsed_s": elapsed,
                "unsent": self._due.qsize()}


async def serve_windows(base: str, rps: float, sse_clients: int, commands: Any, results: Any) -> None:
    """Follow ``commands`` ("start", "stop" or "exit"); after each "stop", put that window's results."""
    load = LoadWindows(base, rps, sse_clients)
    while True:
        command = await asyncio.to_thread(commands.get)
        if command == "start":
            load.start()
            results.put("started")
        elif command == "stop":
            results.put(await load.stop())
        else:
            return


def load_process(base: str, rps: float, sse_clients: int, niceness: int, cpus: tuple[int, ...], commands: Any,
                 results: Any) -> None:
    os.nice(max(0, niceness - os.nice(0)))
    if cpus:
        os.sched_setaffinity(0, cpus)
    asyncio.run(serve_windows(base, rps, sse_clients, commands, results))
