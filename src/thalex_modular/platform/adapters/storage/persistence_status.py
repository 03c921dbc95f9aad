"""What the persistence service answers: an acknowledgement per batch, its status, and the refusal to take a batch
now. msgspec Structs (picklable for Ray, encodable to JSON as they are). Times int ns; ``lag_ns`` is a duration."""

from __future__ import annotations

import msgspec

from thalex_modular.platform.domain.storage import StorageUnavailable

__all__ = ["Ack", "BatchDeferred", "PersistenceStatus", "SenderStatus"]


class BatchDeferred(StorageUnavailable):
    """The batch was not acknowledged (the message says why: its predecessor has not come, memory is full, or it is
    not yet stored or spilled); nothing of it is lost if the sender sends it again with the same seq."""


class Ack(msgspec.Struct, frozen=True, kw_only=True):
    """A batch is durable: stored, or spilled to disk (fsynced) to be stored later, or quarantined with its reason.

    ``duplicate``: the batch had been applied before (a sender's retry); it was not applied twice.
    """

    sender: str
    seq: int
    duplicate: bool = False


class SenderStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One sender (a shipper incarnation) as the service has seen it since it started."""

    sender: str
    last_seq: int  # the last batch applied, in order
    batches: int  # batches applied
    records: int  # records accepted
    duplicates: int  # batches sent again and acknowledged without applying them twice
    early: int  # batches that arrived before their predecessor and waited for it
    last_batch_ns: int  # wall clock of the last applied batch


class PersistenceStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The service's counters. ``records_*`` are totals since it started; stored, spilled, replayed, quarantined,
    dropped and lost are the write buffer's (all senders together)."""

    location: str  # the store, without secrets
    ts_ns: int  # wall clock of this status
    store_down: bool  # the last write found the store unavailable: batches go to the spill directory
    closed: bool
    senders: tuple[SenderStatus, ...]
    records_accepted: int
    records_stored: int  # taken by the store (including rows it already held)
    records_spilled: int
    records_replayed: int  # spilled earlier, stored since
    records_quarantined: int  # refused by the store for good; kept in the spill directory's quarantine/
    records_in_memory: int  # accepted, neither stored nor spilled yet
    records_unstored: int  # accepted, not yet known to be in the store (in memory or spilled)
    records_dropped: int  # refused by the buffer (memory full); stays 0: the service defers batches first
    records_lost: int  # could be neither stored nor spilled at close (full disk)
    batches_deferred: int  # not acknowledged for now (see BatchDeferred); their senders send them again
    lag_ns: int  # age of the oldest accepted record not yet in the store; 0 when everything is stored
