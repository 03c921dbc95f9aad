"""Thalex JSON-RPC framing for the emulator: decode requests, check param types, encode replies.

A request frame is one JSON object ``{"method", "params", "id"}`` (``id`` optional, echoed as ``null`` when absent).
A success reply is ``{"id", "result"}``, an error ``{"id", "error": {"code", "message"}}``, a notification
``{"channel_name", "notification"[, "snapshot": true]}``. Param types follow ``api.yaml`` (the table below was
generated from it); unknown params are ignored, so newer-spec extras such as ``stp_level`` pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from thalex_modular.emulator.engine.errors import RpcError
from thalex_modular.platform.domain.error_codes import (
    AUTHENTICATION_FAILED,
    DUPLICATE_ORDER_ID,
    INVALID_REQUEST,
    NOT_LOGGED_IN,
    ORDER_NOT_FOUND,
    PERSISTENT_SESSION,
    THROTTLE_EXCEEDED,
    UNKNOWN_INSTRUMENT,
    UNKNOWN_METHOD,
)

__all__ = [
    "AUTHENTICATION_FAILED",
    "DUPLICATE_ORDER_ID",
    "INVALID_REQUEST",
    "METHOD_PARAMS",
    "NOT_LOGGED_IN",
    "ORDER_NOT_FOUND",
    "PERSISTENT_SESSION",
    "THROTTLE_EXCEEDED",
    "UNKNOWN_INSTRUMENT",
    "UNKNOWN_METHOD",
    "FrameError",
    "Request",
    "RpcError",
    "check_params",
    "decode_request",
    "encode",
    "encode_error",
    "encode_notification",
    "encode_result",
]



class FrameError(RpcError):
    """A frame that is not a valid request (code 6); ``request_id`` is the frame's id when it could be read."""

    def __init__(self, message: str, request_id: Any) -> None:
        super().__init__(INVALID_REQUEST, message)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded request frame; ``id`` is whatever JSON the client sent (``None`` if absent)."""

    method: str
    params: dict[str, Any]
    id: Any


_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()

# param name -> (json type, required, allowed values); generated from api.yaml requestBody params
_ParamSpec = dict[str, tuple[str, bool, tuple[str, ...] | None]]
_RES: Final = ("1m", "5m", "15m", "30m", "1h", "1d", "1w")
_COLLAR: Final = ("ignore", "reject", "clamp")
_ORDER_BASE: Final[_ParamSpec] = {
    "client_order_id": ("integer", False, None),
    "instrument_name": ("string", False, None),
    "legs": ("array", False, None),
    "price": ("number", False, None),
    "amount": ("number", True, None),
    "label": ("string", False, None),
    "order_type": ("string", False, ("limit", "market")),
    "time_in_force": ("string", False, ("good_till_cancelled", "immediate_or_cancel")),
    "post_only": ("boolean", False, None),
    "reject_post_only": ("boolean", False, None),
    "reduce_only": ("boolean", False, None),
    "collar": ("string", False, _COLLAR),
}
_HISTORY: Final[_ParamSpec] = {
    "limit": ("integer", False, None),
    "time_low": ("number", False, None),
    "time_high": ("number", False, None),
    "bookmark": ("string", False, None),
    "sort": ("string", False, ("ascending", "descending")),
    "instrument_names": ("string", False, None),
    "bot_ids": ("string", False, None),
}
_CHANNELS: Final[_ParamSpec] = {"channels": ("array", True, None)}

METHOD_PARAMS: Final[dict[str, _ParamSpec]] = {
    "public/login": {"token": ("string", True, None), "account": ("string", False, None)},
    "public/instruments": {},
    "public/all_instruments": {"time_low": ("number", False, None), "time_high": ("number", False, None)},
    "public/instrument": {"instrument_name": ("string", True, None)},
    "public/ticker": {"instrument_name": ("string", True, None)},
    "public/index": {"underlying": ("string", True, None)},
    "public/book": {"instrument_name": ("string", True, None)},
    "public/system_info": {},
    "public/mark_price_historical_data": {
        "instrument_name": ("string", True, None),
        "from": ("number", True, None),
        "to": ("number", True, None),
        "resolution": ("string", True, _RES),
    },
    "public/index_price_historical_data": {
        "index_name": ("string", True, None),
        "from": ("number", True, None),
        "to": ("number", True, None),
        "resolution": ("string", True, _RES),
    },
    "public/subscribe": _CHANNELS,
    "private/subscribe": _CHANNELS,
    "unsubscribe": _CHANNELS,
    "private/insert": {"direction": ("string", True, ("buy", "sell")), **_ORDER_BASE},
    "private/buy": _ORDER_BASE,
    "private/sell": _ORDER_BASE,
    "private/amend": {
        "client_order_id": ("integer", False, None),
        "order_id": ("string", False, None),
        "price": ("number", True, None),
        "amount": ("number", True, None),
        "collar": ("string", False, _COLLAR),
    },
    "private/cancel": {"client_order_id": ("integer", False, None), "order_id": ("string", False, None)},
    "private/cancel_all": {},
    "private/cancel_session": {},
    "private/set_cancel_on_disconnect": {"timeout_secs": ("integer", True, None)},
    "private/mass_quote": {
        "quotes": ("array", True, None),
        "label": ("string", False, None),
        "post_only": ("boolean", False, None),
        "reject_post_only": ("boolean", False, None),
    },
    "private/cancel_mass_quote": {"product": ("string", False, None)},
    # trade_amount/quote_amount are required unless the deprecated `amount` is given (it sets both)
    "private/set_mm_protection": {
        "product": ("string", True, None),
        "trade_amount": ("number", False, None),
        "quote_amount": ("number", False, None),
        "amount": ("number", False, None),
    },
    "private/portfolio": {},
    "private/open_orders": {},
    "private/order_history": _HISTORY,
    "private/trade_history": _HISTORY,
    "private/account_summary": {},
}


def _type_ok(value: object, json_type: str) -> bool:
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if json_type == "array":
        return isinstance(value, list)
    if json_type == "object":
        return isinstance(value, dict)
    return True


def _json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def check_params(method: str, params: dict[str, Any]) -> None:
    """Check ``params`` of a known ``method`` against the api.yaml types.

    Raises:
        RpcError: code 6 naming the param, the expected type and what was sent.
    """
    spec = METHOD_PARAMS[method]
    for name, (json_type, required, allowed) in spec.items():
        if name not in params:
            if required:
                raise RpcError(INVALID_REQUEST, f"invalid params: missing required `{name}`")
            continue
        value = params[name]
        if not _type_ok(value, json_type):
            raise RpcError(
                INVALID_REQUEST,
                f"invalid params: `{name}` must be {json_type}, was {_json_type_name(value)} {value!r:.40}",
            )
        if allowed is not None and value not in allowed:
            raise RpcError(
                INVALID_REQUEST,
                f"invalid params: `{name}` must be one of {', '.join(allowed)}, was {value!r:.40}",
            )
    if method == "private/set_mm_protection" and "amount" not in params:
        for name in ("trade_amount", "quote_amount"):
            if name not in params:
                raise RpcError(INVALID_REQUEST, f"invalid params: missing required `{name}`")
    if method in ("public/subscribe", "private/subscribe", "unsubscribe"):
        bad = [c for c in params["channels"] if not isinstance(c, str)]
        if bad:
            raise RpcError(INVALID_REQUEST, f"invalid params: `channels` items must be string, was {bad[0]!r:.40}")


def decode_request(frame: str | bytes) -> Request:
    """Decode one text frame into a :class:`Request`.

    Raises:
        FrameError: code 6 for malformed JSON or a frame that is not a request object.
    """
    try:
        raw = _decoder.decode(frame)
    except msgspec.DecodeError as exc:
        raise FrameError(f"request parsing error: {exc}", None) from None
    if not isinstance(raw, dict):
        raise FrameError(f"request parsing error: expected an object, was {_json_type_name(raw)}", None)
    request_id = raw.get("id")
    method = raw.get("method")
    params = raw.get("params", {})
    if params is None:
        params = {}
    if not isinstance(method, str):
        raise FrameError(f"request parsing error: `method` must be string, was {method!r:.40}", request_id)
    if not isinstance(params, dict):
        raise FrameError(f"request parsing error: `params` must be object, was {_json_type_name(params)}", request_id)
    return Request(method=method, params=params, id=request_id)


def encode(message: object) -> bytes:
    """Encode any JSON-able message (msgspec, fast path)."""
    return _encoder.encode(message)


def encode_result(request_id: Any, result: object) -> str:
    """A success reply ``{"id", "result"}`` as text."""
    return _encoder.encode({"id": request_id, "result": result}).decode()


def encode_error(request_id: Any, code: int, message: str) -> str:
    """An error reply ``{"id", "error": {"code", "message"}}`` as text."""
    return _encoder.encode({"id": request_id, "error": {"code": code, "message": message}}).decode()


def encode_notification(channel_name: str, payload: object, snapshot: bool = False) -> str:
    """A notification ``{"channel_name", "notification"}``; ``snapshot: true`` only when set (absent otherwise)."""
    message: dict[str, object] = {"channel_name": channel_name, "notification": payload}
    if snapshot:
        message["snapshot"] = True
    return _encoder.encode(message).decode()
