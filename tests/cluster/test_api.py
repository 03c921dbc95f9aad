"""The Serve API of a shadow deployment on the emulator (one deployment for the module): REST, auth, SSE streams."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from api_kit import BTC, ETH, ApiDeployment, api_deployment, restart_api
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sse_client import Message, messages

pytestmark = pytest.mark.usefixtures("ray_cluster")

#: the module's SSE responses end after this many bytes (the bound on what a stuck client costs the proxy)
CONNECTION_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def api(ray_cluster: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiDeployment]:
    tmp: Path = tmp_path_factory.mktemp("api")
    with api_deployment(tmp, "controller-api", sse_connection_bytes=CONNECTION_BYTES) as deployment:
        yield deployment


def _instrument(api: ApiDeployment, name: str) -> dict[str, Any]:
    return {i["instrument"]: i for i in httpx.get(f"{api.url}/api/v1/instruments").json()}[name]


def _eventually(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _read(url: str, count: int, headers: dict[str, str] | None = None, timeout_s: float = 30.0) -> list[Message]:
    """The messages of ``url`` (heartbeats left out, gap events kept) until ``count`` stream events came."""
    out: list[Message] = []
    events = 0
    with httpx.stream("GET", url, headers=headers, timeout=timeout_s) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for message in messages(response):
            if message.event == "heartbeat":
                continue
            out.append(message)
            events += message.event != "gap"
            if events >= count:
                break
    return out


# -- REST --------------------------------------------------------------------------------------------------------


def test_rest_reads_the_deployment(api: ApiDeployment) -> None:
    v1 = f"{api.url}/api/v1"
    health = httpx.get(f"{v1}/health").json()
    assert health["status"] == "ok" and health["instruments"] == 2
    assert [i["instrument"] for i in httpx.get(f"{v1}/instruments").json()] == [BTC, ETH]
    market = httpx.get(f"{v1}/instruments/{BTC}/market").json()
    assert market["best_bid_price"] < market["best_ask_price"] and market["mark_price"] > 0
    assert market["regime"] and market["risk_multiplier"] > 0
    portfolio = httpx.get(f"{v1}/instruments/{ETH}/portfolio").json()
    assert portfolio["pnl_usd"] == pytest.approx(portfolio["realised_pnl_usd"] + portfolio["unrealised_pnl_usd"])
    read: list[Any] = []

    def quoting_both_sides() -> bool:  # a fill or a position limit can leave one side empty for a moment
        read[:] = [httpx.get(f"{v1}/instruments/{BTC}/orders").json()]
        return bool(read[0]["bids"] and read[0]["asks"] and read[0]["recent"])

    _eventually(quoting_both_sides, 15.0, "BTC's orders read with bids, asks and recent orders")
    orders = read[0]
    assert max(b["price"] for b in orders["bids"]) < min(a["price"] for a in orders["asks"])
    fills = httpx.get(f"{v1}/instruments/{BTC}/fills").json()
    assert fills["total"] >= len(fills["fills"])
    account = httpx.get(f"{v1}/account").json()
    assert account["instruments"] == 2 and account["quoting"] == 2
    missing = httpx.get(f"{v1}/instruments/NOPE/market")
    assert missing.status_code == 404 and "BTC-PERPETUAL" in missing.json()["detail"]
    schema = httpx.get(f"{api.url}/openapi.json").json()
    assert {"/api/v1/control/{instrument}/{action}", "/api/v1/stream/equity"} <= set(schema["paths"])
    assert "access-control-allow-origin" not in httpx.get(f"{v1}/health", headers={"Origin": "http://x"}).headers


def test_the_dashboard_and_its_assets_are_served_by_the_app(api: ApiDeployment) -> None:
    page = httpx.get(f"{api.url}/")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text and "cdn" not in page.text.lower()
    plotly = httpx.get(f"{api.url}/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert httpx.get(f"{api.url}/static/dashboard.js").status_code == 200
    assert httpx.get(f"{api.url}/static/nope.js").status_code == 404


# -- auth ---------------------------------------------------------------------------------------------------------


def test_without_the_token_config_and_control_are_401_and_nothing_changes(api: ApiDeployment) -> None:
    v1 = f"{api.url}/api/v1"
    before = _instrument(api, BTC)
    assert before["state"] == "quoting"
    wrong = {"Authorization": "Bearer not-the-token"}
    for headers in ({}, wrong):
        for method, path in (("POST", f"/control/{BTC}/pause"), ("POST", "/control/kill"), ("GET", "/config"),
                             ("GET", f"/config/{BTC}/strategy"), ("PATCH", f"/config/{BTC}/strategy")):
            response = httpx.request(method, f"{v1}{path}", headers=headers, json={"gamma": 0.5})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert api.token not in response.text
    time.sleep(1.0)
    after = _instrument(api, BTC)
    assert after["state"] == "quoting" and after["open_quotes"] > 0
    strategy = httpx.get(f"{v1}/config/{BTC}/strategy", headers=api.auth()).json()["strategy"]
    assert strategy["gamma"] != 0.5


def test_with_the_token_pause_pulls_the_quotes_and_resume_brings_them_back(api: ApiDeployment) -> None:
    v1 = f"{api.url}/api/v1"
    response = httpx.post(f"{v1}/control/{BTC}/pause", headers=api.auth())
    assert response.status_code == 200 and response.json() == {"action": "pause", "instruments": [BTC]}

    def paused() -> bool:
        btc = _instrument(api, BTC)
        orders = httpx.get(f"{v1}/instruments/{BTC}/orders").json()
        return btc["state"] == "paused" and btc["open_quotes"] == 0 and not orders["bids"] and not orders["asks"]

    _eventually(paused, 5.0, "BTC paused with no quote resting")
    assert _instrument(api, ETH)["state"] == "quoting"  # only the one named
    assert httpx.post(f"{v1}/control/{BTC}/resume", headers=api.auth()).status_code == 200
    _eventually(lambda: _instrument(api, BTC)["state"] == "quoting" and _instrument(api, BTC)["open_quotes"] > 0,
                10.0, "BTC quoting again")


def test_a_strategy_update_is_validated_and_applied(api: ApiDeployment) -> None:
    url = f"{api.url}/api/v1/config/{ETH}/strategy"
    bad = httpx.patch(url, headers=api.auth(), json={"gamma": -1, "min_spread_ticks": 2})
    assert bad.status_code == 422
    assert [(e["loc"], "greater than 0" in e["msg"]) for e in bad.json()["detail"]] == [(["body", "gamma"], True)]
    unknown = httpx.patch(url, headers=api.auth(), json={"gamma_typo": 1})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "gamma_typo"]
    assert httpx.get(url, headers=api.auth()).json()["strategy"]["min_spread_ticks"] != 2  # nothing applied
    good = httpx.patch(url, headers=api.auth(), json={"min_spread_ticks": 6})
    assert good.status_code == 200 and good.json()["strategy"]["min_spread_ticks"] == 6
    assert httpx.get(url, headers=api.auth()).json()["strategy"]["min_spread_ticks"] == 6
    config = httpx.get(f"{api.url}/api/v1/config", headers=api.auth()).json()
    assert config["mode"] == "shadow" and config["strategies"][ETH]["min_spread_ticks"] == 6
    _eventually(lambda: _instrument(api, ETH)["state"] == "quoting", 5.0, "ETH quoting with the new parameters")


# -- SSE ----------------------------------------------------------------------------------------------------------


def test_events_arrive_one_by_one_as_they_happen(api: ApiDeployment) -> None:
    got = _read(f"{api.url}/api/v1/stream/equity", 16)
    events = [m for m in got if m.event == "equity"]
    ids = [m.id for m in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # consecutive: nothing lost, nothing twice
    # not buffered: they arrived over time in several reads (the actors report every 250 ms), each soon after it
    # happened
    arrivals = sorted({round(m.received_s, 3) for m in events})
    assert len(arrivals) >= 4 and arrivals[-1] - arrivals[0] >= 0.5
    lags_ms = [(m.received_ns - json.loads(m.data)["ts_ns"]) / 1e6 for m in events]
    assert max(lags_ms) < 2_000, lags_ms
    # one instrument only
    only = _read(f"{api.url}/api/v1/stream/quotes?instrument={ETH}", 5)
    assert {json.loads(m.data)["instrument"] for m in only} == {ETH}


def test_last_event_id_resumes_with_exactly_the_missed_events(api: ApiDeployment) -> None:
    url = f"{api.url}/api/v1/stream/quotes"
    first = [m for m in _read(url, 20) if m.event == "quotes"]
    cut = first[9]
    time.sleep(1.0)  # more events happen while disconnected
    resumed = _read(url, 30, headers={"Last-Event-ID": str(cut.id)})
    assert all(m.event == "quotes" for m in resumed)  # no gap: the history held them
    assert [m.id for m in resumed] == list(range(cut.id + 1, cut.id + 31))
    assert [(m.id, m.data) for m in resumed[:10]] == [(m.id, m.data) for m in first[10:20]]


def test_a_new_api_replica_resumes_a_stream_exactly_where_the_old_one_left(api: ApiDeployment) -> None:
    url = f"{api.url}/api/v1/stream/equity"
    before = [m for m in _read(url, 5) if m.event == "equity"]
    # Act: the API goes away and comes back (a new replica: its history is loaded from the Controller)
    restart_api(api)
    _eventually(lambda: _served(f"{api.url}/api/v1/health"), 30.0, "the API back")
    resumed = _read(url, 10, headers={"Last-Event-ID": str(before[-1].id)})
    # Assert: exactly the events after the last one seen, none missed while the API was down
    assert [m.id for m in resumed] == list(range(before[-1].id + 1, before[-1].id + 11))


def _served(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).json()["status"] == "ok"
    except (httpx.HTTPError, ValueError, KeyError):  # not up yet: refused, or Serve's own error page
        return False


def test_a_client_that_never_reads_neither_grows_memory_nor_delays_the_others(api: ApiDeployment) -> None:
    health = f"{api.url}/api/v1/health"
    baseline = httpx.get(health).json()["sse_clients"]
    host, port = api.url.removeprefix("http://").split(":")
    stuck: list[socket.socket] = []
    for _ in range(3):  # never read: tiny receive buffers, a backlog far above what they could take
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect((host, int(port)))
        sock.sendall(f"GET /api/v1/stream/quotes?backlog=10000 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        stuck.append(sock)
    try:
        lags_ms: list[float] = []
        done = threading.Event()

        def reader() -> None:
            for m in _read(f"{api.url}/api/v1/stream/equity", 12):
                if m.event == "equity":
                    lags_ms.append((m.received_ns - json.loads(m.data)["ts_ns"]) / 1e6)
            done.set()

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        thread.join(30.0)
        # Assert: the reading client got its events in time while the stuck ones sat there
        assert done.is_set() and len(lags_ms) == 12
        assert max(lags_ms) < 2_000, lags_ms
        # the stuck clients cost at most their response's byte budget: their responses ended there, the replica
        # holds nothing of them any more (what the proxy buffers for them is bounded by that budget)
        _eventually(lambda: httpx.get(health).json()["sse_clients"] <= baseline, 10.0,
                    "the stuck clients' streams ended at their byte budget")
        assert httpx.get(health).json()["sse_max_queued_events"] <= 1_000
    finally:
        for sock in stuck:
            sock.close()


# -- the dashboard in a browser -----------------------------------------------------------------------------------


def test_the_dashboard_updates_live_and_pauses_an_instrument_with_the_token(api: ApiDeployment) -> None:
    from browser import chromium
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    artifacts = Path(__file__).parents[1] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    driver = chromium()
    try:
        driver.get(f"{api.url}/")
        wait = WebDriverWait(driver, 30, poll_frequency=0.2)

        def panel(name: str) -> Any:
            return driver.find_element(By.CSS_SELECTOR, f'section.instrument[data-instrument="{name}"]')

        def counts() -> dict[str, tuple[int, int, int]]:
            out = {}
            for node in driver.find_elements(By.CSS_SELECTOR, "section.instrument"):
                out[node.get_attribute("data-instrument")] = tuple(
                    int(node.get_attribute(f"data-{kind}-updates") or 0) for kind in ("equity", "quote", "fill"))
            return out

        wait.until(lambda _: set(counts()) == {BTC, ETH} and panel(BTC).get_attribute("data-state") == "quoting")
        start = counts()

        def moved(now: dict[str, tuple[int, int, int]]) -> bool:
            return all(now[n][0] > start[n][0] and now[n][1] > start[n][1] for n in (BTC, ETH)) and sum(
                now[n][2] for n in now) > sum(start[n][2] for n in start) and bool(
                driver.find_elements(By.CSS_SELECTOR, f'section[data-instrument="{BTC}"] .fills tbody tr'))

        # Assert: within 12 s the equity curves, the quotes and the fills moved, by SSE (no reload)
        end = counts()
        deadline = time.monotonic() + 12.0
        while not moved(end) and time.monotonic() < deadline:
            time.sleep(0.5)
            end = counts()
        for name in (BTC, ETH):
            assert end[name][0] > start[name][0] and end[name][1] > start[name][1], (name, start, end)
        assert sum(end[n][2] for n in end) > sum(start[n][2] for n in start), (start, end)
        assert driver.find_elements(By.CSS_SELECTOR, f'section[data-instrument="{BTC}"] .fills tbody tr')
        assert "PnL net USD" in driver.find_element(By.ID, "account").text

        # Act: pause BTC from its panel; the page asks for the token once
        panel(BTC).find_element(By.CSS_SELECTOR, 'button[data-action="pause"]').click()
        wait.until(lambda _: driver.find_element(By.ID, "token-dialog").get_attribute("open") is not None)
        driver.find_element(By.ID, "token-input").send_keys(api.token)
        driver.find_element(By.ID, "token-ok").click()
        wait.until(lambda _: panel(BTC).get_attribute("data-state") == "paused")
        assert panel(ETH).get_attribute("data-state") == "quoting"
        driver.save_screenshot(str(artifacts / "dashboard.png"))
        # resume: the token is remembered (no dialog this time)
        panel(BTC).find_element(By.CSS_SELECTOR, 'button[data-action="resume"]').click()
        wait.until(lambda _: panel(BTC).get_attribute("data-state") == "quoting")
        assert driver.find_element(By.ID, "token-dialog").get_attribute("open") is None
    finally:
        driver.quit()
    assert (artifacts / "dashboard.png").stat().st_size > 10_000


# -- the served schema --------------------------------------------------------------------------------------------
# last: with the token, generated requests pause, kill and reconfigure the instruments


_short = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _check_every_operation(api: ApiDeployment, headers: dict[str, str]) -> list[str]:
    """Generated requests (valid and not) for every operation of the served schema; each response is checked
    against the schema (no 5xx, status codes, bodies and headers as documented). Returns the operations run."""
    # the streams never end (a generated request would wait on them forever); their behaviour is tested above
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json").exclude(path_regex="/stream/")
    seen = []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.append(f"{operation.method.upper()} {operation.path}")

        # a job request's cross-field rules (`to` after `from`, a future's date, valid config overrides, history in
        # the store) are not in the schema: a schema-valid one may be a 422, which must then name its field
        @given(case=operation.as_strategy())
        @_short
        def check(case: Any) -> None:
            starts_a_job = case.method.upper() == "POST" and case.path in ("/api/v1/backtests", "/api/v1/sweeps")
            excluded = [positive_data_acceptance] if starts_a_job else []
            response = case.call_and_validate(headers=headers, timeout=15, excluded_checks=excluded)
            if starts_a_job and response.status_code == 422:
                assert all(e["loc"][0] == "body" and len(e["loc"]) > 1 for e in response.json()["detail"])
            if not headers and ("/control/" in case.path or "/config" in case.path):
                assert response.status_code == 401, (case.path, response.status_code)

        check()
    return seen


def test_the_schema_holds_without_the_token(api: ApiDeployment) -> None:
    assert "POST /api/v1/control/{instrument}/{action}" in _check_every_operation(api, {})


def test_the_schema_holds_with_the_token(api: ApiDeployment) -> None:
    assert "PATCH /api/v1/config/{instrument}/strategy" in _check_every_operation(api, api.auth())
