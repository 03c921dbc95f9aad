"""Websocket endpoints named by a user: the URL checked when read, the venue probed before a verb starts.

A verb that talks to Thalex or the emulator (``run``, ``data record``, ``data backfill``, ``instruments``) first opens
one TCP connection (and the TLS handshake for ``wss://``) with a short timeout, so an unreachable endpoint is a clear
error within seconds naming the URL and the cause: connection refused, name not resolved, TLS failure or timeout.
The probe is not retried (a wrong URL does not heal); once a session is up, a dropped connection is retried with
exponential back-off (:data:`RETRY_POLICY`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Final
from urllib.parse import urlsplit

from thalex_modular.platform.adapters.exchanges.thalex.config import ReconnectConfig

__all__ = ["PROBE_TIMEOUT_S", "RETRY_POLICY", "EndpointUnreachable", "check_ws_url", "probe"]

PROBE_TIMEOUT_S: Final = 3.0
_RECONNECT: Final = ReconnectConfig()
RETRY_POLICY: Final = (
    f"checked once at start, not retried; once connected, a dropped connection is retried every "
    f"{_RECONNECT.initial_s:g} s doubling up to {_RECONNECT.max_s:g} s"
)


class EndpointUnreachable(ConnectionError):
    """No connection to ``url``; ``cause`` says why (refused, DNS, TLS, timeout)."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"cannot reach {url}: {cause} ({RETRY_POLICY})")
        self.url = url
        self.cause = cause


def check_ws_url(url: str) -> str:
    """``url`` when it is a websocket URL with a host (``ws://HOST[:PORT]/PATH`` or ``wss://…``).

    Raises:
        ValueError: naming what was expected and the value.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"expected ws://HOST:PORT/PATH or wss://HOST/PATH, was {url!r} (bad port)") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"expected ws://HOST:PORT/PATH or wss://HOST/PATH, was {url!r}")
    return url


async def probe(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Open (and close) one TCP connection to the URL's host and port, with TLS for ``wss://``.

    Raises:
        EndpointUnreachable: within ``timeout_s`` (seconds), with the cause.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "wss"
    port = parts.port or (443 if tls else 80)
    context = ssl.create_default_context() if tls else None
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=host if tls else None), timeout_s
        )
    except TimeoutError:
        raise EndpointUnreachable(url, f"timeout: no answer within {timeout_s:g} s") from None
    except socket.gaierror as exc:
        raise EndpointUnreachable(url, f"DNS: cannot resolve {host!r} ({exc.strerror or exc})") from None
    except ssl.SSLError as exc:
        raise EndpointUnreachable(url, f"TLS handshake failed: {exc.reason or exc}") from None
    except ConnectionRefusedError:
        raise EndpointUnreachable(url, f"connection refused by {host}:{port} (nothing listens there?)") from None
    except OSError as exc:
        raise EndpointUnreachable(url, exc.strerror or str(exc) or type(exc).__name__) from None
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
