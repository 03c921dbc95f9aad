"""The session's Ray cluster: two nodes on loopback, actors placed by node resource."""

from __future__ import annotations

import ray


def test_two_loopback_nodes_place_actors_where_asked(ray_cluster: object) -> None:
    @ray.remote(num_cpus=0)
    class Where:
        def node(self) -> str:
            return ray.get_runtime_context().get_node_id()

    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2 and all(n["NodeManagerAddress"] == "127.0.0.1" for n in nodes)
    first = Where.options(resources={"node1": 1}).remote()
    second = Where.options(resources={"node2": 1}).remote()
    assert ray.get(first.node.remote()) != ray.get(second.node.remote())
    for actor in (first, second):
        ray.kill(actor)
