"""The Serve API of a shadow deployment on the emulator (one deployment for the module): REST, auth, SSE streams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_kit import BTC, ETH, ApiDeployment, api_deployment

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture(scope="module")
def api(ray_cluster: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiDeployment]:
    tmp: Path = tmp_path_factory.mktemp("api")
    with api_deployment(tmp, "controller-api", sse_connection_bytes=256 * 1024) as deployment:
        yield deployment


def test_rest_reads_the_deployment(api: ApiDeployment) -> None:
    v1 = f"{api.url}/api/v1"
    health = httpx.get(f"{v1}/health").json()
    assert health["status"] == "ok" and health["instruments"] == 2
    names = [i["instrument"] for i in httpx.get(f"{v1}/instruments").json()]
    assert names == [BTC, ETH]
    market = httpx.get(f"{v1}/instruments/{BTC}/market").json()
    assert market["best_bid_price"] < market["best_ask_price"]
    portfolio = httpx.get(f"{v1}/instruments/{ETH}/portfolio").json()
    assert portfolio["pnl_usd"] == pytest.approx(portfolio["realised_pnl_usd"] + portfolio["unrealised_pnl_usd"])
    orders = httpx.get(f"{v1}/instruments/{BTC}/orders").json()
    assert orders["bids"] and orders["asks"]
    assert httpx.get(f"{v1}/instruments/NOPE/market").status_code == 404
    print(httpx.get(f"{v1}/account").json())
    print(httpx.get(f"{v1}/instruments/{BTC}/fills").json())
