"""RunConfig: defaults work with no file; file ← env ← flags; errors name the field and value; secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from thalex_modular.deployment.config import ConfigError, Network, RunMode, load_run_config


def test_defaults_need_no_file() -> None:
    config = load_run_config(None, {}, {"mode": "shadow", "network": "local"})
    assert config.mode is RunMode.SHADOW
    assert config.network is Network.LOCAL
    assert config.url == "ws://127.0.0.1:8490/ws/api/v2"
    assert config.instrument == "BTC-PERPETUAL"


def test_layers_override_in_order(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "run.toml"
    path.write_text('instrument = "ETH-PERPETUAL"\n[strategy]\ngamma = 0.01\nmin_spread_ticks = 6\n'
                    '[risk]\nmax_position_underlying = 2.0\n')
    env = {"THALEX_STRATEGY__GAMMA": "0.02", "THALEX_KEY_ID": "K1", "THALEX_PRIVATE_KEY_PATH": "/k.pem",
           "THALEX_UNRELATED": "x"}
    # Act
    config = load_run_config(path, env, {"strategy.min_spread_ticks": 8, "network": "test"})
    # Assert
    assert config.instrument == "ETH-PERPETUAL"  # file
    assert config.strategy.gamma == 0.02  # env over file
    assert config.strategy.min_spread_ticks == 8  # flag over file
    assert config.risk.max_position_underlying == 2.0
    assert config.credentials.complete
    assert config.url == "wss://testnet.thalex.com/ws/api/v2"
    assert "K1" not in repr(config)  # SecretStr


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"toxic_flow": {"threshold_underlying": 3.5}}')
    assert load_run_config(path).toxic_flow.threshold_underlying == 3.5


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"strategy.gamma": -1}, "strategy.gamma"),
        ({"mode": "paper"}, "mode"),
        ({"risk.max_open_orders": 0}, "risk.max_open_orders"),
        ({"strategy.level_amounts_underlying": [0.1, -0.2]}, "level_amounts_underlying[1]"),
        ({"strategy.typo": 1}, "strategy.typo"),
        ({"mass_quote.enabled": True}, "mass_quote.enabled"),
    ],
)
def test_errors_name_field_and_value(flags: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=r"invalid configuration: .*" + needle.replace("[", r"\[")):
        load_run_config(None, {}, flags)


def test_secret_values_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        load_run_config(None, {"THALEX_CREDENTIALS__KEY_ID": '{"a": 1}'}, {})
    assert "'a'" not in str(info.value)


def test_bad_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("instrument = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_run_config(path)
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        load_run_config(tmp_path / "missing.toml")


def test_the_run_config_sets_every_safety_limit_of_a_deployment() -> None:
    from stubs import perpetual
    from thalex_modular.deployment.instrument_runtime import service_parts
    from thalex_modular.platform.use_cases.sim_session import build_core

    config = load_run_config(None, {}, {"risk.max_mark_age_ms": 2_500, "kill_switch.max_daily_loss_usd": 300.0})
    params, service_config, _, kill_switch = service_parts(config)
    risk = build_core(perpetual(), params).reconciler.risk.config
    # a deployment never quotes on a mark older than its limit, and its notional is bounded per instrument and account
    assert risk.max_mark_age_ns == 2_500_000_000
    assert risk.max_instrument_notional_usd == 100_000.0 and risk.max_account_notional_usd == 250_000.0
    assert kill_switch is not None and kill_switch.max_daily_loss_usd == 300.0 and kill_switch.trip_on_position_breach
    assert params.label == "thalex-modular" and params.amend_tolerance_bps == 1.0 and params.amount_tolerance == 0.5
    assert service_config.position_hold_ns == 1_000_000_000
    off = load_run_config(None, {}, {"kill_switch.enabled": False})
    assert service_parts(off)[3] is None
    with pytest.raises(ConfigError, match=r"strategy\.label"):
        load_run_config(None, {}, {"strategy.label": ""})
    with pytest.raises(ConfigError, match=r"connection\.ticker_delay"):
        load_run_config(None, {}, {"connection.ticker_delay": "7ms"})


def test_the_strategys_maker_fee_is_the_venues_unless_configured() -> None:
    from stubs import perpetual
    from thalex_modular.deployment.instrument_runtime import service_parts
    from thalex_modular.platform.domain.enums import InstrumentKind
    from thalex_modular.platform.domain.fees import THALEX_MAKER_FEE_BPS
    from thalex_modular.platform.use_cases.sim_session import build_core
    from thalex_modular.strategies import AvellanedaStoikovStrategy

    shadow = load_run_config(None, {}, {"mode": "shadow", "shadow.maker_fee_bps": 2.0})
    live = load_run_config(None, {}, {"mode": "live"})
    chosen = load_run_config(None, {}, {"mode": "shadow", "strategy.maker_fee_bps": -0.25, "strategy.min_edge_bps": 1})
    assert service_parts(shadow)[0].maker_fee_bps == 2.0  # the simulator's
    assert service_parts(live)[0].maker_fee_bps is None  # Thalex's schedule, chosen by build_core
    core = build_core(perpetual(), service_parts(live)[0])
    assert isinstance(core.strategy, AvellanedaStoikovStrategy)
    assert core.strategy.config.maker_fee_bps == THALEX_MAKER_FEE_BPS[InstrumentKind.PERPETUAL] == 1.0
    params = service_parts(chosen)[0]
    assert (params.maker_fee_bps, params.min_edge_bps) == (-0.25, 1.0)


def test_the_sigma_floor_reaches_the_regime_analyzer() -> None:
    from stubs import perpetual
    from thalex_modular.deployment.instrument_runtime import service_parts
    from thalex_modular.platform.domain.market import per_sqrt_second
    from thalex_modular.platform.use_cases.sim_session import build_core

    config = load_run_config(None, {"THALEX_STRATEGY__SIGMA_FLOOR_ANNUAL": "0.35"}, {"mode": "shadow"})
    core = build_core(perpetual(), service_parts(config)[0])
    assert core.analyzer.config.sigma_floor_annual == 0.35
    assert core.analyzer.quoting_inputs()[0] == per_sqrt_second(0.35)
