"""What the Controller keeps for the instruments' next actors, as bytes that outlive it.

A restarted Controller starts from its creation arguments; what it kept for the next actors (:class:`KeptCarry`) is
checkpointed outside it (Ray's GCS key-value store, ``ray/carry_checkpoint.py``) and restored before it answers
anything, so that it never hands out a blank carried state (see docs/deployment.md).
"""

from __future__ import annotations

import msgspec

from thalex_modular.deployment.carried_state import CarriedState
from thalex_modular.deployment.snapshots import InstrumentSnapshot

__all__ = ["KeptCarry", "decode_kept", "encode_kept"]


class KeptCarry(msgspec.Struct, frozen=True, kw_only=True):
    """Per instrument: its carried state; the last report of a session that has not adopted it (its figures are
    added to what the next session is handed should it end); when an operator last resumed it (wall clock, ns: an
    older report re-arms nothing)."""

    carried: dict[str, CarriedState] = {}
    unadopted: dict[str, InstrumentSnapshot] = {}
    resumed_ns: dict[str, int] = {}


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(KeptCarry)


def encode_kept(kept: KeptCarry) -> bytes:
    return _ENCODER.encode(kept)


def decode_kept(data: bytes, where: str) -> KeptCarry:
    """The :class:`KeptCarry` encoded in ``data``, read from ``where``.

    Raises:
        ValueError: ``data`` is not one (the message names ``where`` and what is wrong).
    """
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, ValueError) as exc:  # ValueError: LimitsUsed refusing a figure
        raise ValueError(f"the carried states checkpointed at {where} cannot be read: {exc}") from exc
