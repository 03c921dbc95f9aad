"""One Ray cluster for the whole test session (RAY_NOTES: one instance per session, loopback only, ports chosen by Ray,
no dashboard): a head and a second node, so placement across nodes is testable. Actors that must land on the second
node ask for its custom resource ``node2``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

NAMESPACE = "thalex-modular-test"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
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
