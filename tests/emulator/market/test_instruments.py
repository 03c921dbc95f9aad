from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import yaml

from thalex_modular.emulator.market import InstrumentSpec, MarketConfig, build_catalogue

API_YAML = Path("/work/shared/thalex-api/api.yaml")
NAME_RE = re.compile(r"^(BTC|ETH)-(PERPETUAL|\d{1,2}[A-Z]{3}\d{2}(-\d+-[CP])?)$")


def _by_name() -> dict[str, InstrumentSpec]:
    return {s.instrument_name: s for s in build_catalogue(MarketConfig())}


def test_catalogue_has_perpetuals_three_futures_and_option_chains() -> None:
    specs = build_catalogue(MarketConfig())
    for cur in ("BTC", "ETH"):
        mine = [s for s in specs if s.underlying == f"{cur}USD"]
        assert [s.instrument_name for s in mine if s.type == "perpetual"] == [f"{cur}-PERPETUAL"]
        assert len([s for s in mine if s.type == "future"]) == 3
        options = [s for s in mine if s.type == "option"]
        assert len({s.expiry_date for s in options}) == 3
        assert len(options) == 3 * 9 * 2
    assert all(NAME_RE.match(s.instrument_name) for s in specs)
    assert len({s.instrument_name for s in specs}) == len(specs)


def test_thalex_contract_conventions() -> None:
    # Arrange
    by_name = _by_name()
    perp = by_name["BTC-PERPETUAL"]
    option = next(s for s in by_name.values() if s.type == "option" and s.currency == "BTC")
    # Assert
    perp_rules = (perp.product, perp.tick_size, perp.volume_tick_size, perp.min_order_amount)
    assert perp_rules == ("FBTCUSD", 1.0, 0.001, 0.001)
    assert (option.product, option.tick_size, option.volume_tick_size, option.min_order_amount) == (
        "OBTCUSD", 5.0, 0.1, 0.1)
    assert by_name["ETH-PERPETUAL"].tick_size == 0.1
    assert perp.expiry_date is None and perp.expiration_timestamp is None


def test_dated_instruments_expire_friday_0800_utc_and_names_match() -> None:
    for spec in _by_name().values():
        if spec.type == "perpetual":
            continue
        assert spec.expiration_timestamp is not None
        exp = datetime.fromtimestamp(spec.expiration_timestamp, tz=UTC)
        assert (exp.weekday(), exp.hour, exp.minute) == (4, 8, 0)
        assert exp.date().isoformat() == spec.expiry_date
        code = f"{exp.day}{exp.strftime('%b').upper()}{exp.strftime('%y')}"
        assert spec.instrument_name.split("-")[1] == code
        if spec.type == "option":
            assert spec.strike_price is not None
            suffix = "C" if spec.option_type == "call" else "P"
            assert spec.instrument_name.endswith(f"-{int(spec.strike_price)}-{suffix}")
            assert spec.expiration_timestamp * 10**9 > MarketConfig().start_ns


def test_first_futures_name_like_thalex() -> None:
    assert "BTC-27DEC24" in _by_name()  # default start 2024-12-01: last Friday of December


def test_to_json_uses_only_api_yaml_instrument_fields_with_right_types() -> None:
    # Arrange
    schema = yaml.safe_load(API_YAML.read_text())["components"]["schemas"]["Instrument"]["properties"]
    json_types = {"string": str, "number": (int, float), "integer": int}
    # Act / Assert
    for spec in _by_name().values():
        doc = spec.to_json()
        assert set(doc) <= set(schema), set(doc) - set(schema)
        for key, value in doc.items():
            assert isinstance(value, json_types[schema[key]["type"]]), (key, value)
            if "enum" in schema[key]:
                assert value in schema[key]["enum"]
        assert ("strike_price" in doc) == (spec.type == "option")
