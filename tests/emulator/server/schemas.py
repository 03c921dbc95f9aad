"""Validators for Thalex messages built from ``shared/thalex-api/api.yaml`` and ``ws_spec.json``.

Deviations of the spec files from the live API, handled here and documented in ``docs/emulator.md``:

- ``RpcResponse.id`` is typed ``object``, but it echoes the client's JSON id (an int for every official client):
  ``id`` is removed before validation.
- Each response schema is ``oneOf [Success, Error]`` where Error requires no key, so a success would match both:
  successes are validated against the Success branch, errors against ``RpcErrorResponse`` plus a required ``error``.
- Many fields are typed ``number``/``string``/``array`` but their description says they can be ``null`` (Ticker
  ``best_*``, AccountSummary ``cash[].collateral_index_price``, history ``bookmark``, mark-history top of book):
  ``null`` passes a ``type`` check when the schema's description mentions the word null.
- Index-history rows say ``minItems: 6`` but describe 5 items (and the example rows have 5): a ``minItems`` above
  the number of described ``prefixItems`` is read as that number.
- api.yaml's ``instruments`` payload is ``oneOf [{removed}, {added}]`` without ``required``, so every delta matches
  both: that channel is validated against ws_spec.json's ``InstrumentDelta`` (which has ``required``) only.
- ``ws_spec.json`` refers to ``./rpc_spec_generated.json`` and ``./openapi.json`` (not shipped): api.yaml is
  registered under both names.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "thalex-api"
_API = "https://spec.local/api.yaml"
_WS = "https://spec.local/ws_spec.json"
_GENERATED = "https://spec.local/rpc_spec_generated.json"
_OPENAPI = "https://spec.local/openapi.json"


@cache
def _docs() -> tuple[dict[str, Any], dict[str, Any]]:
    api = yaml.safe_load((SPEC_DIR / "api.yaml").read_text())
    ws = yaml.safe_load((SPEC_DIR / "ws_spec.json").read_text())
    return api, ws


@cache
def _registry() -> Registry:
    api, ws = _docs()
    resources = [
        (_API, Resource.from_contents(api, default_specification=DRAFT202012)),
        (_GENERATED, Resource.from_contents(api, default_specification=DRAFT202012)),
        (_OPENAPI, Resource.from_contents(api, default_specification=DRAFT202012)),
        (_WS, Resource.from_contents(ws, default_specification=DRAFT202012)),
    ]
    return Registry().with_resources(resources)


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


_NULL_WORD = re.compile(r"\bnull\b")
_type = Draft202012Validator.VALIDATORS["type"]
_min_items = Draft202012Validator.VALIDATORS["minItems"]


def _type_or_documented_null(validator: Any, types: Any, instance: Any, schema: dict[str, Any]) -> Any:
    if instance is None and _NULL_WORD.search(schema.get("description", "")):
        return
    yield from _type(validator, types, instance, schema)


def _min_items_of_described(validator: Any, count: int, instance: Any, schema: dict[str, Any]) -> Any:
    described = schema.get("prefixItems")
    if described is not None and len(described) < count:
        count = len(described)
    yield from _min_items(validator, count, instance, schema)


_Validator = validators.extend(
    Draft202012Validator, {"type": _type_or_documented_null, "minItems": _min_items_of_described}
)


@cache
def _validator(uri: str) -> Any:
    return _Validator({"$ref": uri}, registry=_registry())


def response_errors(method: str, message: dict[str, Any]) -> list[str]:
    """Schema violations of one reply to ``method`` (empty list = conforms)."""
    body = {k: v for k, v in message.items() if k != "id"}
    if "error" in body:
        base = f"{_API}#/components/schemas/RpcErrorResponse"
        errors = [e.message for e in _validator(base).iter_errors(body)]
        if set(body) != {"error"}:
            errors.append(f"unexpected keys {sorted(body)}")
        return errors
    path = _pointer("paths", method, "rpc", "responses", "default", "content", "application/json", "schema", "oneOf")
    uri = f"{_API}#/{path}/0"
    return [f"{list(e.absolute_path)}: {e.message}" for e in _validator(uri).iter_errors(body)]


_TEMPLATES = (
    ("ticker.", "ticker.<instrument>.<delay>", "/ticker/{instrument}/{delay}"),
    ("lwt.", "lwt.<instrument>.<delay>", "/lwt/{instrument}/{delay}"),
    ("book.", "book.<instrument>.<grouping>.<nlevels>.<delay>", "/book/{instrument}/{grouping}/{nlevels}/{delay}"),
    ("recent_trades.", "recent_trades.<target>.<category>", "/recent_trades/{target}/{category}"),
    ("price_index.", "price_index.<underlying>", "/price_index/{underlying}"),
)


def template_of(channel: str) -> tuple[str, str]:
    """(api.yaml channel template, ws_spec path) of a concrete channel name."""
    for prefix, template, ws_path in _TEMPLATES:
        if channel.startswith(prefix):
            return template, ws_path
    return channel, "/" + channel.replace(".", "/")


def notification_errors(message: dict[str, Any]) -> list[str]:
    """Schema violations of one notification against api.yaml ``<template>_payload`` and ws_spec.json."""
    template, ws_path = template_of(message["channel_name"])
    body = copy.deepcopy(message)
    errors: list[str] = []
    for extra in set(body) - {"channel_name", "notification", "snapshot"}:
        errors.append(f"unexpected key {extra}")
    if "snapshot" in body and body["snapshot"] is not True:
        errors.append("snapshot must be true when present")
    if template != "instruments":
        api_body = {**body, "channel_name": template}
        uri = f"{_API}#/{_pointer('components', 'schemas', template + '_payload')}"
        errors += [f"api.yaml {list(e.absolute_path)}: {e.message}" for e in _validator(uri).iter_errors(api_body)]
    ws_schema = _pointer("paths", ws_path, "get", "responses", "200", "content", "application/json", "schema")
    if (
        template != "recent_trades.<target>.<category>"
    ):  # ws_spec wraps trades in an object; api.yaml (and Thalex) send the array
        uri = f"{_WS}#/{ws_schema}"
        errors += [f"ws_spec {list(e.absolute_path)}: {e.message}" for e in _validator(uri).iter_errors(body)]
    return errors
