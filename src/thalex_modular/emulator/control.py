"""The control API: ``emulator/*`` JSON-RPC methods on the same websocket, accepted only when the server runs with
``control_enabled`` (config ``control_enabled: true``; off by default, so a client cannot tell the emulator from
testnet). Methods:

- ``emulator/set_faults`` params: any :class:`~thalex_modular.emulator.config.FaultConfig` fields -> the new config.
- ``emulator/get_faults`` -> the current fault config.
- ``emulator/system_reconnect`` -> ``{"recipients": n}``: sends ``{"event": "reconnect"}`` on ``system``.
- ``emulator/drop_connections`` params ``account?`` -> ``{"dropped": n}``: closes matching connections (code 1012)
  after this reply (cancel-on-disconnect applies).
- ``emulator/status`` -> sessions, sim time, instrument count.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from thalex_modular.emulator.config import FaultConfig
from thalex_modular.emulator.protocol import INVALID_REQUEST, UNKNOWN_METHOD, RpcError

if TYPE_CHECKING:
    from thalex_modular.emulator.server import EmulatorServer

__all__ = ["handle"]


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
        return {"recipients": await server.broadcast_system_reconnect()}
    if method == "emulator/drop_connections":
        account = params.get("account")
        victims = [s for s in server.sessions if account is None or s.account == account]
        for session in victims:
            server.spawn(_close_soon(session.ws), "emulator-drop")
        return {"dropped": len(victims)}
    if method == "emulator/status":
        return {
            "sessions": len(server.sessions),
            "logged_in": sum(1 for s in server.sessions if s.session_id is not None),
            "sim_time": server.venue.now_s(),
            "instruments": len(server.venue.instruments_json()),
        }
    raise RpcError(UNKNOWN_METHOD, f"unknown method: {method}")
