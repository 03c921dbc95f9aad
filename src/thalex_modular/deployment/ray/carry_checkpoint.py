"""CarryCheckpoint: the Controller's :class:`KeptCarry`, in Ray's GCS key-value store.

The GCS outlives every actor of the cluster (the head's process; with GCS fault tolerance, its Redis), and Ray restarts
the Controller from its creation arguments: what it kept for the next instrument actors is written here as it changes
and read back before it answers anything after a restart (as Ray Serve's controller checkpoints its own state). One
key per deployment: the Ray namespace and the Controller's name.
"""

from __future__ import annotations

import ray
from ray._raylet import GcsClient  # type: ignore[attr-defined]

from thalex_modular.deployment.kept_carry import KeptCarry, decode_kept, encode_kept

__all__ = ["CarryCheckpoint"]

#: The key-value store's namespace of ours (Ray's own and Serve's have theirs).
KV_NAMESPACE = b"thalex-modular"
#: How long one read or write of the GCS may take (seconds) before it is an error.
KV_TIMEOUT_S = 5.0


class CarryCheckpoint:
    """The checkpoint of the Controller ``controller`` of the deployment in Ray namespace ``namespace``."""

    def __init__(self, namespace: str, controller: str) -> None:
        self._key = f"{namespace}/{controller}/carried".encode()
        self._gcs = GcsClient(address=ray.get_runtime_context().gcs_address)

    @property
    def where(self) -> str:
        return f"GCS key-value {KV_NAMESPACE.decode()}:{self._key.decode()}"

    def load(self) -> KeptCarry | None:
        """What was checkpointed; None when nothing was.

        Raises:
            ray.exceptions.RpcError: the GCS did not answer in time.
            ValueError: what is there cannot be read (the message names the key).
        """
        data = self._gcs.internal_kv_get(self._key, namespace=KV_NAMESPACE, timeout=KV_TIMEOUT_S)
        return None if data is None else decode_kept(data, self.where)

    def start(self) -> None:
        """A new deployment (in the constructor): nothing of an earlier one under the same names is handed on.

        Raises:
            ray.exceptions.RpcError: the GCS did not answer in time.
        """
        self._gcs.internal_kv_put(self._key, encode_kept(KeptCarry()), overwrite=True, namespace=KV_NAMESPACE,
                                  timeout=KV_TIMEOUT_S)

    async def save(self, kept: KeptCarry) -> None:
        """Raises:
        ray.exceptions.RpcError: the GCS did not answer in time (nothing written)."""
        await self._gcs.async_internal_kv_put(self._key, encode_kept(kept), overwrite=True, namespace=KV_NAMESPACE,
                                              timeout=KV_TIMEOUT_S)

    async def delete(self) -> None:
        """The deployment is over: nothing of it is handed to a later one."""
        await self._gcs.async_internal_kv_del(self._key, False, namespace=KV_NAMESPACE, timeout=KV_TIMEOUT_S)
