"""Backtests and sweeps through the API: started as Ray tasks on the session's cluster, reading a temporary embedded
store of generated history; followed to done, their figures and reports read back; bad requests name their field.
The API here follows no deployment (the job routes need none)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from thalex_modular.deployment.api.app import ApiOptions
from thalex_modular.deployment.api.auth import ensure_token_file, read_token
from thalex_modular.deployment.api.jobs import backtest_job
from thalex_modular.deployment.api.jobs_models import BacktestRequest
from thalex_modular.deployment.api.serve_app import start_api, stop_api
from thalex_modular.deployment.config import ApiSettings
from thalex_modular.deployment.ray.cluster import free_port
from thalex_modular.platform.adapters.storage import EmbeddedStorage
from thalex_modular.platform.use_cases.backtest import backtest_from_storage
from thalex_modular.platform.use_cases.backtest.synthetic import TickHistoryConfig, history_records, tick_history

pytestmark = pytest.mark.usefixtures("ray_cluster")

NAMESPACE = "thalex-modular-test"  # the session cluster's (tests/cluster/conftest.py)
START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
EVENTS = 3_000
BTC = "BTC-PERPETUAL"
API_CPUS = (max(os.sched_getaffinity(0)),)  # the API, its registry and its jobs placed on one CPU
SPACE = {"params": {"strategy.gamma": {"type": "float", "low": 0.001, "high": 0.05, "log": True},
                    "strategy.min_spread_ticks": {"type": "int", "low": 1, "high": 6}}}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """An embedded store with BTC's generated tick history; its path and the range's end (s)."""
    path = tmp_path_factory.mktemp("jobs-store") / "store.duckdb"
    events = np.concatenate(list(tick_history(TickHistoryConfig(seed=9, start_ns=START_S * 10**9), EVENTS)))

    async def load() -> None:
        storage = EmbeddedStorage(path)
        await storage.open()
        await storage.write(history_records(BTC, events, 2_000_000))
        await storage.close()

    asyncio.run(load())
    return path, int(events["ts_ns"][-1]) // 10**9 + 1


@pytest.fixture(scope="module")
def api(ray_cluster: object, store: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("jobs-api")
    token_file = ensure_token_file(ApiSettings(), {}, tmp / "api_token")
    options = ApiOptions("controller-none", NAMESPACE, str(token_file), ApiSettings(), str(store[0]),
                         str(tmp / "api-jobs"), cpus=API_CPUS, resources={"node2": 1})  # placement.api_*
    url = start_api(options, port=free_port())
    try:
        with httpx.Client(base_url=f"{url}/api/v1", timeout=15.0) as client:
            yield client, {"Authorization": f"Bearer {read_token(token_file)}"}
    finally:
        stop_api()


def _until_done(client: httpx.Client, path: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        job = client.get(path).json()
        seen.append(job)
        if job["state"] in ("done", "failed"):
            return job | {"seen": seen}
        time.sleep(0.3)
    raise AssertionError(f"{path} not done in {timeout_s} s: {seen[-1]}")


def test_a_backtest_runs_as_a_task_and_gives_the_figures_of_platform_backtest(
    api: tuple[httpx.Client, dict[str, str]], store: tuple[Path, int],
) -> None:
    client, auth = api
    body = {"instrument": BTC, "from": START_S, "to": store[1], "mode": "tick", "seed": 3,
            "config": {"strategy.gamma": 0.02}}
    # Act
    response = client.post("/backtests", json=body, headers=auth)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["state"] == "queued" and started["kind"] == "backtest"
    job = _until_done(client, f"/backtests/{started['id']}", 240.0)  # a cold start compiles the fast loop: minutes
    # Assert: done, with the figures of the same backtest run here (same config, history and seed)
    assert job["state"] == "done", job["error"]
    assert job["progress"] == 1.0 and job["finished_ns"] >= job["created_ns"]
    assert [j["id"] for j in client.get("/backtests").json()] == [started["id"]]
    spec = backtest_job(BacktestRequest.model_validate(body), str(store[0]))

    async def here() -> Any:
        storage = EmbeddedStorage(store[0])
        await storage.open()
        try:
            return await backtest_from_storage(storage, spec.config, 3)
        finally:
            await storage.close()

    expected = asyncio.run(here())
    assert job["result"]["run_id"] == expected.run_id
    assert job["result"]["metrics"]["pnl_usd"] == pytest.approx(expected.metrics.pnl_usd, abs=1e-9)
    assert job["result"]["metrics"]["fills"] == expected.metrics.fills > 0
    assert job["result"]["summary"].split(" fills=")[1] == expected.summary_line().split(" fills=")[1]  # not timings
    assert job["result"]["worker"] == {"niceness": 19, "cpus": list(API_CPUS)}  # off the instruments' way
    # ... and its report
    report = client.get(job["report"].removeprefix("/api/v1"))
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert f"Backtest {expected.run_id}" in report.text and '<script src="http' not in report.text


def test_a_sweep_reports_its_best_trial_so_far_then_its_walk_forward_result(
    api: tuple[httpx.Client, dict[str, str]], store: tuple[Path, int],
) -> None:
    client, auth = api
    body = {"instrument": BTC, "from": START_S, "to": store[1], "space": SPACE, "trials": 4, "parallel": 2,
            "objective": "pnl", "seed": 1}
    response = client.post("/sweeps", json=body, headers=auth)
    assert response.status_code == 202, response.text
    job = _until_done(client, f"/sweeps/{response.json()['id']}", 240.0)
    assert job["state"] == "done", job["error"]
    result = job["result"]
    assert result["trials_done"] == 4 and result["objectives"] == ["pnl"]
    assert result["trial_niceness"] == [19]  # the trials yield the CPU to the instruments, as the API does
    assert result["worker"] == {"niceness": 19, "cpus": list(API_CPUS)}
    best = result["best"][0]
    assert set(best["params"]) == {"strategy.gamma", "strategy.min_spread_ticks"}
    assert len(best["in_sample"]) == 1 and best["out_of_sample"] is not None
    running = [j for j in job["seen"] if j["state"] == "running" and j["detail"].get("best")]
    assert running, "the best trial so far shows while the sweep runs"
    report = client.get(job["report"].removeprefix("/api/v1"))
    assert report.status_code == 200 and "Optimisation history" in report.text


def test_a_backtest_of_a_range_without_history_fails_saying_why(api: tuple[httpx.Client, dict[str, str]]) -> None:
    client, auth = api
    body = {"instrument": BTC, "from": "2024-03-01", "to": "2024-03-02"}
    response = client.post("/backtests", json=body, headers=auth)
    assert response.status_code == 202, response.text
    job = _until_done(client, f"/backtests/{response.json()['id']}", 60.0)
    assert job["state"] == "failed" and "NoHistory" in job["error"] and BTC in job["error"]
    assert job["result"] is None and job["report"] is None
    assert client.get(f"/backtests/{job['id']}/report").status_code == 404


def test_bad_requests_are_422_naming_the_field_and_starting_needs_the_token(
    api: tuple[httpx.Client, dict[str, str]], store: tuple[Path, int],
) -> None:
    client, auth = api
    good = {"instrument": BTC, "from": START_S, "to": store[1]}
    assert client.post("/backtests", json=good).status_code == 401
    assert client.post("/sweeps", json=good | {"space": SPACE, "trials": 2}).status_code == 401
    cases = [
        ("/backtests", good | {"to": START_S - 60}, "to", "after"),
        ("/backtests", good | {"from": "yesterday-ish"}, "from", "from"),
        ("/backtests", good | {"instrument": "NOPE-PERP"}, "instrument", "pattern"),
        ("/backtests", good | {"instrument": "BTC-FOO"}, "instrument", "BTC-FOO"),
        ("/backtests", good | {"config": {"strategy.gamma": -1}}, "config", "gamma"),
        ("/backtests", good | {"mode": "minute"}, "mode", ""),
        ("/sweeps", good | {"space": {"params": {"strategy.nope": {"type": "float", "low": 0, "high": 1}}},
                            "trials": 2}, "space", "strategy.nope"),
        ("/sweeps", good | {"space": SPACE, "trials": 2, "objective": "luck"}, "objective", "luck"),
        ("/sweeps", good | {"space": SPACE, "trials": 0}, "trials", ""),
    ]
    for path, body, field, said in cases:
        response = client.post(path, json=body, headers=auth)
        assert response.status_code == 422, (field, response.text)
        errors = response.json()["detail"]
        assert any(e["loc"][:2] == ["body", field] and said in e["msg"] for e in errors), (field, errors)
    # nothing started; unknown ids are 404
    assert client.get("/sweeps").json() == [] or all(j["request"]["trials"] != 2 for j in client.get("/sweeps").json())
    assert client.get("/backtests/b999-x").status_code == 404
    assert client.get("/sweeps/s999-x/report").status_code == 404


def test_the_dashboard_lists_the_jobs_with_their_figures_and_report_links(
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    from browser import chromium
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    client, _ = api
    jobs = client.get("/backtests").json() + client.get("/sweeps").json()
    done = {j["id"]: j for j in jobs if j["state"] == "done"}
    assert {j["kind"] for j in done.values()} == {"backtest", "sweep"}  # the tests above ran them
    driver = chromium()
    try:
        driver.get(str(client.base_url).removesuffix("/api/v1/") + "/")
        wait = WebDriverWait(driver, 30, poll_frequency=0.2)
        wait.until(lambda _: len(driver.find_elements(By.CSS_SELECTOR, '#jobs tr[data-state="done"]')) == len(done))
        for row in driver.find_elements(By.CSS_SELECTOR, '#jobs tr[data-state="done"]'):
            job = done[row.get_attribute("data-job")]
            link = row.find_element(By.CSS_SELECTOR, "a").get_attribute("href")
            assert link.endswith(job["report"])
            if job["kind"] == "backtest":
                assert f"PnL {job['result']['metrics']['pnl_usd']:.2f} USD" in row.text
            else:
                assert f"best trial {job['result']['best'][0]['trial']}" in row.text
        failed = driver.find_elements(By.CSS_SELECTOR, '#jobs tr[data-state="failed"]')
        assert failed and "NoHistory" in failed[0].text
    finally:
        driver.quit()


def _replica() -> Any:
    import ray

    names = [a for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("SERVE_REPLICA::thalex-api")]
    assert len(names) == 1
    return ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])


def test_a_replica_that_died_is_replaced_on_its_port_and_the_new_one_has_every_job_even_one_that_was_running(
    api: tuple[httpx.Client, dict[str, str]], store: tuple[Path, int],
) -> None:
    import ray

    client, auth = api
    before = client.get("/backtests").json()
    assert before
    body = {"instrument": BTC, "from": START_S, "to": store[1], "seed": 11}
    response = client.post("/backtests", json=body, headers=auth)
    assert response.status_code == 202, response.text
    started = response.json()
    old = _replica()
    threads_cpus = ray.get(old.__ray_call__.remote(
        lambda self: {c for t in os.listdir("/proc/self/task") for c in os.sched_getaffinity(int(t))}))
    assert threads_cpus == set(API_CPUS)  # every thread of the replica on the API's CPUs (placement.api_cpus)
    node2 = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "node2" in n["Resources"])
    assert ray.get(old.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id())) == node2
    # Act: the replica's process dies while the backtest is queued or running
    ray.kill(old, no_restart=True)
    # Assert: Serve starts another one, which serves the API on the same port (the old one, until it is gone, still
    # answers: ray.kill returns at once) and lists every job; the running one ends there, with its result
    deadline = time.monotonic() + 90.0
    while time.monotonic() < deadline:
        try:
            replaced = _replica()._actor_id != old._actor_id
        except (AssertionError, ValueError):
            replaced = False
        if replaced:
            try:
                response = client.get("/backtests", timeout=2.0)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                break
        time.sleep(0.5)
    else:
        raise AssertionError("the API did not answer again within 90 s of its replica dying")
    listed = response.json()
    assert [j["id"] for j in listed] == [started["id"]] + [j["id"] for j in before]
    assert ray.get(_replica().__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id())) == node2
    job = _until_done(client, f"/backtests/{started['id']}", 120.0)
    assert job["state"] == "done", job["error"]
    assert client.get(job["report"].removeprefix("/api/v1")).status_code == 200
    # ... and its run is in the store's runs, as `platform backtest` saves it

    async def saved() -> Any:
        storage = EmbeddedStorage(store[0])
        await storage.open()
        try:
            return await storage.get_run(job["result"]["run_id"])
        finally:
            await storage.close()

    run = asyncio.run(saved())
    assert run is not None and run.finished_ns is not None and run.metrics is not None
    assert run.metrics["pnl_usd"] == pytest.approx(job["result"]["metrics"]["pnl_usd"], abs=1e-9)


def test_a_job_whose_registry_died_while_it_ran_is_reported_failed_saying_why(
    api: tuple[httpx.Client, dict[str, str]], store: tuple[Path, int],
) -> None:
    import ray

    from thalex_modular.deployment.ray.names import API_JOBS

    client, auth = api
    body = {"instrument": BTC, "from": START_S, "to": store[1], "space": SPACE, "trials": 500, "parallel": 1,
            "prune": False}
    response = client.post("/sweeps", json=body, headers=auth)
    assert response.status_code == 202, response.text
    started = response.json()
    # Act: the registry (the owner of the sweep's task) dies; Ray restarts it
    ray.kill(ray.get_actor(API_JOBS, namespace=NAMESPACE), no_restart=False)
    # Assert: the restarted registry read the records back and reports the sweep failed, saying why
    deadline = time.monotonic() + 60.0
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            job = client.get(f"/sweeps/{started['id']}", timeout=5.0).json()
        except httpx.HTTPError:
            job = {}
        if job.get("state") == "failed":
            break
        time.sleep(0.5)
    assert job.get("state") == "failed", job
    assert "interrupted" in job["error"] and "registry" in job["error"], job["error"]
    assert job["finished_ns"] >= job["created_ns"]
    assert client.get(f"/sweeps/{started['id']}/report").status_code == 404
    # the jobs finished before are all still there, and a new job gets a new id
    assert any(j["state"] == "done" for j in client.get("/sweeps").json())
    again = client.post("/backtests", json={"instrument": BTC, "from": START_S, "to": store[1]}, headers=auth).json()
    assert again["id"] not in {j["id"] for j in client.get("/backtests").json()[1:]}
