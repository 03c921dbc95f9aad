"""The control API: ``emulator/*`` JSON-RPC methods on the same websocket, accepted only when the server runs with
``control_enabled`` (config ``control_enabled: true``; off by default, so a client cannot tell the emulator from
testnet), and only on a connection that presented the control token first:

- ``emulator/authenticate`` params ``token`` -> ``{"control": true}``; error 19 for a wrong token, or for a
  connection opened by a browser page (its handshake carries an ``Origin`` not in ``control_origins``: a page on
  this machine must not drive the exchange). Any other control method before it: error 7.

The token is ``control_token``, or the one in ``control_token_file`` (a new file gets a fresh token, 0600), or a
fresh one per start (in-process use: ``EmulatorServer.control_token``). It is never logged or printed.
Methods:

- ``emulator/set_faults`` params: any :class:`~thalex_modular.emulator.config.FaultConfig` fields -> the new config.
- ``emulator/get_faults`` -> the current fault config.
- ``emulator/system_reconnect`` -> ``{"recipients": n}``: sends ``{"event": "reconnect"}`` on ``system``.
- ``emulator/drop_connections`` params ``account?`` -> ``{"dropped": n}``: closes matching connections (code 1012)
  after this reply (cancel-on-disconnect applies).
- ``emulator/revoke_key`` params ``kid`` -> ``{"revoked": bool}``: later logins with that key fail (code 19);
  sessions already logged in stay up.
- ``emulator/status`` -> sessions, sim time, instrument count, requests served per method, faults injected per kind.
- ``emulator/probe_ticker`` params ``instrument_name, best_bid_price, best_ask_price, mark_price,
  best_bid_amount?, best_ask_amount?, expect_requests? (1), timeout_ms? (1000)`` -> ``{sent_ns, recipients,
  requests: [{method, arrival_ns, latency_ns}]}``: pins the instrument's ticker to these values, writes it to every
  ticker subscriber at once and waits for those subscribers' next order requests
  (see :mod:`~thalex_modular.emulator.latency_probe`).
- ``emulator/probe_release`` params ``instrument_name`` -> ``{"released": bool}``: the normal ticker resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import secrets
import stat
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from thalex_modular.emulator.config import EmulatorConfig, FaultConfig
from thalex_modular.emulator.keys import write_new_file
from thalex_modular.emulator.latency_probe import LatencyProbe
from thalex_modular.emulator.protocol import (
    INVALID_REQUEST,
    NOT_LOGGED_IN,
    UNKNOWN_INSTRUMENT,
    UNKNOWN_METHOD,
    RpcError,
    encode_notification,
)
from thalex_modular.platform.domain.error_codes import AUTHENTICATION_FAILED

if TYPE_CHECKING:
    from thalex_modular.emulator.feeds import Outbox
    from thalex_modular.emulator.server import EmulatorServer, Session

__all__ = ["AUTHENTICATE", "authenticate", "check_authorized", "control_token", "handle"]

AUTHENTICATE = "emulator/authenticate"


def control_token(config: EmulatorConfig) -> str | None:
    """The token the control API asks for (None when it is off); see the module doc for where it comes from.

    Raises:
        PermissionError: the token file may be read by group or others.
        ValueError: the token file is empty.
    """
    if not config.control_enabled:
        return None
    if config.control_token is not None:
        return config.control_token.get_secret_value()
    path = config.control_token_file
    if path is None:
        return secrets.token_urlsafe(32)
    if not os.path.lexists(path):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another emulator wrote it first: use theirs
            write_new_file(path, secrets.token_urlsafe(32) + "\n", 0o600, replace=False)
    st = os.stat(path)
    if st.st_mode & 0o077:
        raise PermissionError(f"control token file {path} has mode {stat.S_IMODE(st.st_mode):04o}: "
                              "group or others may read it (chmod 600)")
    token = path.read_text().strip()
    if not token:
        raise ValueError(f"control token file {path} is empty")
    return token


def authenticate(server: EmulatorServer, session: Session, params: dict[str, Any]) -> dict[str, bool]:
    """``emulator/authenticate``: let this connection use the control API if it presents the token.

    Raises:
        RpcError: 19 for a browser origin not allowed, or a wrong or missing token.
    """
    origin = session.origin
    if origin is not None and origin not in server.config.control_origins:
        raise RpcError(AUTHENTICATION_FAILED, f"emulator control refused to a browser page (origin {origin!r:.80})")
    token, expected = params.get("token"), server.control_token
    if not isinstance(token, str) or expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise RpcError(AUTHENTICATION_FAILED, "emulator control refused: wrong or missing `token`")
    session.control = True
    return {"control": True}


def check_authorized(session: Session, method: str) -> None:
    """Raises RpcError 7 unless the connection authenticated for the control API."""
    if not session.control:
        raise RpcError(NOT_LOGGED_IN, f"not authorized: {method} needs {AUTHENTICATE} with the control token first")


async def _close_soon(ws: Any) -> None:
    await asyncio.sleep(0.05)  # let the control reply go out first
    await ws.close(1012, "connection dropped (control)")


async def handle(server: EmulatorServer, method: str, params: dict[str, Any]) -> object:
    """Run one control method.

    Raises:
        RpcError: 31 for an unknown control method, 6 for invalid params.
    """
    if method == "emulator/set_faults":
        try:
            config = FaultConfig.model_validate(params)
        except ValidationError as exc:
            raise RpcError(INVALID_REQUEST, f"invalid fault config: {exc.errors()[0]['msg']}") from None
        server.faults.replace(config)
        return config.model_dump(mode="json")
    if method == "emulator/get_faults":
        return server.faults.config.model_dump(mode="json")
    if method == "emulator/system_reconnect":
        recipients = await server.broadcast_system_reconnect()
        server.faults.injected["system_reconnect"] += recipients
        return {"recipients": recipients}
    if method == "emulator/drop_connections":
        account = params.get("account")
        victims = [s for s in server.sessions if account is None or s.account == account]
        server.faults.injected["drop"] += len(victims)
        for session in victims:
            server.spawn(_close_soon(session.ws), "emulator-drop")
        return {"dropped": len(victims)}
    if method == "emulator/revoke_key":
        kid = params.get("kid")
        if not isinstance(kid, str):
            raise RpcError(INVALID_REQUEST, f"invalid `kid`: must be a string, was {kid!r:.60}")
        return {"revoked": server.auth.revoke(kid)}
    if method == "emulator/probe_ticker":
        return await _probe_ticker(server, params)
    if method == "emulator/probe_release":
        name = _instrument(server, params)
        released = server.venue.ticker_overrides.pop(name, None) is not None
        server.hub.market_changed()
        return {"released": released}
    if method == "emulator/status":
        return {
            "sessions": len(server.sessions),
            "logged_in": sum(1 for s in server.sessions if s.session_id is not None),
            "sim_time": server.venue.now_s(),
            "instruments": len(server.venue.instruments_json()),
            "requests": dict(server.request_counts),
            "faults_injected": dict(server.faults.injected),
        }
    raise RpcError(UNKNOWN_METHOD, f"unknown method: {method}")


def _instrument(server: EmulatorServer, params: dict[str, Any]) -> str:
    name = params.get("instrument_name")
    if not isinstance(name, str) or name not in server.venue.specs:
        raise RpcError(UNKNOWN_INSTRUMENT, f"unknown instrument: {name!r:.60}")
    return name


def _positive_int(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RpcError(INVALID_REQUEST, f"invalid `{name}`: must be an integer > 0, was {value!r}")
    return value


async def _probe_ticker(server: EmulatorServer, params: dict[str, Any]) -> dict[str, object]:
    """Pin, send and wait (emulator/probe_ticker)."""
    name = _instrument(server, params)
    try:
        fields = LatencyProbe.ticker_fields(params)
    except ValueError as exc:
        raise RpcError(INVALID_REQUEST, str(exc)) from None
    expect = _positive_int(params, "expect_requests", 1)
    timeout_ms = _positive_int(params, "timeout_ms", 1000)
    probe = server.probe
    if probe.armed:
        raise RpcError(INVALID_REQUEST, "invalid request: a probe is already waiting")
    server.venue.ticker_overrides[name] = fields
    payload = server.venue.ticker(name)
    prefix = f"ticker.{name}."
    texts: dict[str, str] = {}
    frames: list[tuple[Outbox, str]] = []
    subscribers = server.hub.ticker_subscribers(name)
    for sub in subscribers:
        for channel in sub.channels:
            if channel.startswith(prefix):
                if channel not in texts:
                    texts[channel] = encode_notification(channel, payload)
                frames.append((sub.outbox, texts[channel]))
    # the stamp: just before the first socket write
    done = probe.arm(time.monotonic_ns(), len(frames), expect, subscribers)
    for outbox, text in frames:
        await outbox.send_now(text)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done, timeout_ms / 1000.0)
    return probe.disarm().to_json()
