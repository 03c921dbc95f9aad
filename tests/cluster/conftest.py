"""One Ray cluster for the whole test session (RAY_NOTES: one instance per session, loopback only, ports chosen by Ray,
no dashboard): a head and a second node, so placement across nodes is testable. Actors that must land on the second
node ask for its custom resource ``node2``.

Live credentials reach actors only through their node's environment (never as arguments), so the session's emulator
login key is generated and put into this process's environment before the cluster starts: its nodes (and their
workers) inherit it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))  # this folder's kits (api_kit, sse_client, browser)

from exchange_kit import Account, EmulatorFactory, emulators
from thalex_modular.emulator.keys import keygen_to_dir

NAMESPACE = "thalex-modular-test"
ACCOUNT = "A000000041"


@pytest.fixture(scope="session")
def cluster_account(tmp_path_factory: pytest.TempPathFactory) -> Account:
    """The emulator account the deployments trade; its login key is in the environment the cluster's nodes inherit
    (the emulator's keys file is next to the key's folder: ``keys.json``)."""
    out = tmp_path_factory.mktemp("cluster-keys")
    key = keygen_to_dir(out / ACCOUNT, ACCOUNT, shared_keys_json=out / "keys.json")
    os.environ["THALEX_KEY_ID"] = key.kid
    os.environ["THALEX_PRIVATE_KEY_PATH"] = str(out / ACCOUNT / "private_key.pem")
    return Account(ACCOUNT, key.kid, out / ACCOUNT / "private_key.pem", key.private_key_pem)


@pytest.fixture(scope="session")
def ray_cluster(cluster_account: Account) -> Iterator[object]:
    import ray
    from ray.cluster_utils import Cluster

    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0", "tests/conftest.py keeps Ray on loopback"
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2, "include_dashboard": False, "object_store_memory": 100 * 1024**2,
            "node_ip_address": "127.0.0.1", "resources": {"node1": 100},
        },
    )
    if not cluster.address.startswith("127.0.0.1:"):
        cluster.shutdown()
        raise RuntimeError(f"the test cluster must listen on loopback only, its head is at {cluster.address}")
    cluster.add_node(num_cpus=2, object_store_memory=100 * 1024**2, node_ip_address="127.0.0.1",
                     resources={"node2": 100})
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest_asyncio.fixture
async def start_emulator(cluster_account: Account) -> AsyncIterator[EmulatorFactory]:
    """Start the REAL emulator in this process on a free loopback port (the cluster's actors connect to it)."""
    async with emulators(cluster_account.key_path.parent.parent / "keys.json") as factory:
        yield factory
