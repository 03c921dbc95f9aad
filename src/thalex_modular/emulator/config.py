"""Emulator configuration: one frozen pydantic model, read from a TOML/YAML/JSON file, overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

__all__ = ["EmulatorConfig", "FaultConfig", "RateLimitConfig", "load_config"]


class RateLimitConfig(BaseModel):
    """Per-session token buckets (messages per second; DIGEST 7.2 defaults, Thalex publishes none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    persistent_per_s: float = Field(default=10.0, gt=0)
    cod_per_s: float = Field(default=50.0, gt=0)
    cancel_per_s: float = Field(default=1000.0, gt=0)


class FaultConfig(BaseModel):
    """Fault injection. All off by default; the control API (``emulator/set_faults``) replaces it at run time.

    ``reject_share`` of order requests (insert/buy/sell/amend/mass_quote) fail with ``reject_code``;
    ``response_delay_ms`` delays every RPC reply; ``duplicate_share``/``reorder_share`` of private notifications are
    sent twice / swapped with the next one; ``paused_feeds`` lists channel-name prefixes whose notifications are held
    back (dropped while paused: a feed that pauses misses updates, as a stalled gateway would);
    ``delayed_feeds`` lists private channel-name prefixes whose notifications reach the client ``feed_delay_ms``
    late, in order, while RPC replies do not wait (Thalex's feeds race its replies, DIGEST 13);
    ``drop_after_messages`` closes a connection (code 1011) after that many client messages;
    ``portfolio_lag_ms`` makes ``private/portfolio`` answer with the positions of that long ago (trades since are not
    in it yet, while the order feeds already carried their fills).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reject_share: float = Field(default=0.0, ge=0, le=1)
    reject_code: int = 20
    reject_message: str = "temporary failure (injected)"
    response_delay_ms: float = Field(default=0.0, ge=0)
    duplicate_share: float = Field(default=0.0, ge=0, le=1)
    reorder_share: float = Field(default=0.0, ge=0, le=1)
    paused_feeds: tuple[str, ...] = ()
    delayed_feeds: tuple[str, ...] = ()
    feed_delay_ms: float = Field(default=0.0, ge=0)
    drop_after_messages: int | None = Field(default=None, gt=0)
    portfolio_lag_ms: float = Field(default=0.0, ge=0)


class EmulatorConfig(BaseModel):
    """Everything ``platform emulator`` needs.

    ``speed`` scales simulated time against wall time (2.0 = sim runs twice as fast); ``start_time_s`` fixes the sim
    clock's origin (Unix seconds; default: wall time at start); ``iat_tolerance_s`` bounds the JWT ``iat`` skew;
    ``market_step_ms`` is the wall interval of the market loop; ``summary_period_ms`` the ``account.summary`` period;
    ``control_enabled`` accepts ``emulator/*`` control methods on the websocket, from a connection that presented
    the control token (``emulator/authenticate``): ``control_token``, else the one in ``control_token_file`` (created
    0600 with a fresh token if missing), else a fresh one per start (``EmulatorServer.control_token``, in-process
    use). A connection whose handshake carries an ``Origin`` (a browser page) is refused unless the origin is in
    ``control_origins``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8490, ge=0, le=65535)
    seed: int = 1
    speed: float = Field(default=1.0, gt=0)
    start_time_s: float | None = None
    keys_file: Path | None = None
    iat_tolerance_s: float = Field(default=60.0, gt=0)
    environment: str = "testnet"
    market_step_ms: float = Field(default=100.0, gt=0)
    summary_period_ms: float = Field(default=1000.0, gt=0)
    flow_agents: bool = True
    control_enabled: bool = False
    control_token: SecretStr | None = None
    control_token_file: Path | None = None
    control_origins: tuple[str, ...] = ()
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)


def load_config(path: Path | None, overrides: dict[str, Any]) -> EmulatorConfig:
    """Read ``path`` (TOML, YAML or JSON by extension; may be ``None``) and apply ``overrides`` (``None`` values
    ignored).

    Raises:
        ConfigError: a bad file, or a field out of range (every bad field named with its value).
    """
    from thalex_modular.deployment.config import ConfigError, describe_validation_error, read_config_file

    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = EmulatorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    if config.keys_file is not None and not config.keys_file.is_file():
        raise ConfigError(f"keys_file: no such file {config.keys_file} (every login would fail); create it with "
                          "`platform emulator keygen --out DIR` and pass DIR/keys.json")
    return config
