"""The one typed configuration of ``platform run``: a frozen pydantic model tree (STYLE 2).

Read in this order, each layer overriding the one before: embedded defaults → a TOML, YAML or JSON file → ``THALEX_*``
environment variables → command-line flags. Validation errors name the field (dotted path) and the value sent.
Secrets (the API key id) are ``SecretStr`` and never printed; the private key stays in its file (only the path is
configured). Units are part of field names: ``_ms``/``_s`` time, ``_underlying`` amounts in the underlying (e.g. BTC),
``_usd`` money, ``_bps`` basis points, ``_ticks`` price ticks.

Environment variables: ``THALEX_<SECTION>__<FIELD>`` (e.g. ``THALEX_STRATEGY__GAMMA=0.01``), top-level fields as
``THALEX_<FIELD>`` (``THALEX_MODE``, ``THALEX_NETWORK``, ``THALEX_INSTRUMENT``), and the credential shortcuts
``THALEX_KEY_ID``, ``THALEX_PRIVATE_KEY_PATH``, ``THALEX_ACCOUNT``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from thalex_modular.deployment.placement import PlacementSettings
from thalex_modular.platform.adapters.exchanges.thalex.config import TickerDelay

__all__ = [
    "ApiSettings",
    "ConfigError",
    "ConnectionSettings",
    "CredentialSettings",
    "GuardSettings",
    "KillSwitchSettings",
    "MassQuoteSettings",
    "Network",
    "OptionsVolSettings",
    "PlacementSettings",
    "RiskSettings",
    "RunConfig",
    "RunMode",
    "ShadowSettings",
    "StrategySettings",
    "ToxicFlowSettings",
    "credentials_from_environment",
    "describe_validation_error",
    "load_run_config",
    "read_config_file",
]

ENV_PREFIX: Final = "THALEX_"
#: Credential environment variables (shortcuts for ``THALEX_CREDENTIALS__*``).
ENV_KEY_ID: Final = "THALEX_KEY_ID"
ENV_PRIVATE_KEY_PATH: Final = "THALEX_PRIVATE_KEY_PATH"
ENV_ACCOUNT: Final = "THALEX_ACCOUNT"
_CREDENTIAL_SHORTCUTS: Final = {ENV_KEY_ID: "key_id", ENV_PRIVATE_KEY_PATH: "private_key_path", ENV_ACCOUNT: "account"}

NETWORK_URLS: Final = {
    "prod": "wss://thalex.com/ws/api/v2",
    "test": "wss://testnet.thalex.com/ws/api/v2",
}


class ConfigError(ValueError):
    """The configuration is invalid; the message names every bad field and its value."""


class RunMode(StrEnum):
    """``shadow``: public data, simulated fills, no login, no real order. ``live``: real orders."""

    SHADOW = "shadow"
    LIVE = "live"


class Network(StrEnum):
    PROD = "prod"
    TEST = "test"
    LOCAL = "local"


def _ws_url(value: str) -> str:
    from thalex_modular.deployment.endpoints import check_ws_url

    return check_ws_url(value)


WsUrl = Annotated[str, AfterValidator(_ws_url)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConnectionSettings(_Model):
    """Websocket connection. ``emulator_url`` is used for ``--network local``. ``ticker_delay``: the ticker channel's
    delay, ``raw`` (every change) or a throttled rate such as ``100ms`` (fewer requotes, fewer amends)."""

    emulator_url: WsUrl = "ws://127.0.0.1:8490/ws/api/v2"
    cancel_on_disconnect_timeout_s: int = Field(default=6, ge=1, le=60)
    reconnect_initial_backoff_ms: float = Field(default=100.0, gt=0)
    reconnect_max_backoff_ms: float = Field(default=10_000.0, gt=0)
    rate_limit_share: float = Field(default=0.9, gt=0, le=1.0)
    ticker_delay: TickerDelay = "raw"


class CredentialSettings(_Model):
    """Live-mode login: the API key id and the path of its RSA private key (PEM). Never logged."""

    key_id: SecretStr | None = None
    private_key_path: Path | None = None
    account: str | None = None

    @property
    def complete(self) -> bool:
        return self.key_id is not None and self.private_key_path is not None


class StrategySettings(_Model):
    """The quoting model of one instrument (docs/quoting_model.md): ``model`` is ``avellaneda_stoikov`` (rolling
    horizon ``horizon_s``) or ``glft`` (Guéant-Lehalle-Fernandez-Tapia, stationary: fills arrive at
    ``arrival_intensity_per_s`` at zero distance; ``horizon_s`` unused). Both take ``gamma`` and the nearest level's
    amount as the order size, the same ladder, rounding and limits. The half spread is at least
    ``maker_fee_bps + min_edge_bps`` of the price; ``maker_fee_bps`` None = the venue's (shadow: the simulator's
    ``shadow.maker_fee_bps``; live: Thalex's schedule).

    An order is kept (no amend: its queue place is kept) while it is at most as aggressive as its quote and at most
    ``amend_tolerance_ticks`` or ``amend_tolerance_bps`` of the price behind it (whichever is more), and its remaining
    amount is at most the quote's and short of it by at most ``amount_tolerance`` (a share: a partially filled order
    is not amended back up). ``label`` marks our orders on the account: orders without it (or persistent ones) are
    never amended or cancelled; two deployments on one account and instrument need two labels."""

    model: Literal["avellaneda_stoikov", "glft"] = "avellaneda_stoikov"
    gamma: float = Field(default=0.002, gt=0)
    horizon_s: float = Field(default=60.0, gt=0)
    arrival_intensity_per_s: float = Field(default=1.0, gt=0)
    level_amounts_underlying: tuple[float, ...] = Field(default=(0.01, 0.02, 0.03), min_length=1, max_length=10)
    min_spread_ticks: int = Field(default=4, ge=1)
    amend_tolerance_ticks: int = Field(default=3, ge=0)
    amend_tolerance_bps: float = Field(default=1.0, ge=0, lt=10_000)
    amount_tolerance: float = Field(default=0.5, ge=0, lt=1.0)
    label: str = Field(default="thalex-modular", min_length=1)
    maker_fee_bps: float | None = None
    min_edge_bps: float = Field(default=1.5, ge=0)
    sigma_floor_annual: float = Field(default=0.2, ge=0)  # the least vol the quotes use (0.2 = 20 %/yr)
    round_up_to_min_amount: bool = False  # a level below the instrument's minimum: raised to it (else refused)

    @model_validator(mode="after")
    def _positive_levels(self) -> StrategySettings:
        for i, amount in enumerate(self.level_amounts_underlying):
            if not amount > 0:
                raise ValueError(f"level_amounts_underlying[{i}] must be > 0, was {amount!r}")
        return self


class RiskSettings(_Model):
    """Pre-trade limits (RiskCheck). ``max_notional_usd`` bounds one order; ``max_instrument_notional_usd`` the
    instrument's worst-case position (our orders, the account's other orders, fills not yet received) at the mark;
    ``max_account_notional_usd`` that plus the account's other instruments. ``max_mark_age_ms``: orders are refused
    when the latest mark was received longer ago."""

    max_position_underlying: float = Field(default=0.5, gt=0)
    max_order_amount_underlying: float = Field(default=0.1, gt=0)
    max_notional_usd: float = Field(default=50_000.0, gt=0)
    max_instrument_notional_usd: float = Field(default=100_000.0, gt=0)
    max_account_notional_usd: float = Field(default=250_000.0, gt=0)
    max_open_orders: int = Field(default=10, gt=0)
    price_band_bps: float = Field(default=200.0, gt=0)
    max_mark_age_ms: int = Field(default=3_000, gt=0)


class KillSwitchSettings(_Model):
    """When the kill switch fires by itself: every quote is pulled and the instrument stays paused until an operator
    resumes it. Losses are equity (realised net of fees + unrealised at the mark) in USD; ``max_daily_loss_usd`` from
    the start of the UTC day (or the last resume), ``max_drawdown_usd`` from the session's peak. ``None`` (or
    ``enabled = false``) turns a trigger off."""

    enabled: bool = True
    max_daily_loss_usd: float | None = Field(default=1_000.0, gt=0)
    max_drawdown_usd: float | None = Field(default=1_000.0, gt=0)
    trip_on_position_breach: bool = True
    max_rejects: int | None = Field(default=50, gt=0)
    reject_window_ms: int = Field(default=10_000, gt=0)
    max_resyncs: int | None = Field(default=10, gt=0)
    resync_window_ms: int = Field(default=60_000, gt=0)


class ToxicFlowSettings(_Model):
    """Toxic-flow defence: one-sided aggressive volume in a window pulls the threatened side for a cool-down."""

    enabled: bool = True
    window_ms: int = Field(default=2_000, gt=0)
    threshold_underlying: float = Field(default=1.0, gt=0)
    cooldown_ms: int = Field(default=5_000, ge=0)
    min_one_sided_share: float = Field(default=0.8, gt=0, le=1.0)
    pull_both_sides: bool = False


class GuardSettings(_Model):
    """Stale-data guard: quotes come down when no ticker arrived for ``max_feed_silence_ms`` or the newest
    ticker's exchange timestamp has not advanced for ``max_data_age_ms`` (both wall time).
    ``fill_report_grace_ms``: how long an order's reported filled amount may run ahead of the fills received
    (a reply overtaking its fill notification) before it counts as missed fills and triggers a resync; also how long
    the exchange's portfolio feed may contradict our position before a resync.
    ``resync_settle_ms``: when a resync finds our position and the exchange's apart, the wait before looking
    again (a fill racing the snapshot is then neither counted twice nor dropped; only a lasting difference is
    adopted)."""

    max_feed_silence_ms: int = Field(default=3_000, gt=0)
    max_data_age_ms: int = Field(default=5_000, gt=0)
    check_interval_ms: int = Field(default=250, gt=0)
    throttle_backoff_ms: int = Field(default=500, gt=0)
    fill_report_grace_ms: int = Field(default=1_000, ge=0)
    resync_settle_ms: int = Field(default=200, gt=0)


class MassQuoteSettings(_Model):
    """Quote through ``private/mass_quote`` with ``set_mm_protection`` (live only) instead of insert/amend."""

    enabled: bool = False
    trade_amount_underlying: float = Field(default=0.5, gt=0)
    quote_amount_underlying: float = Field(default=0.5, gt=0)
    # after a protection trip (the exchange pulled our quotes): pause this long before refilling and quoting again
    trip_cooldown_ms: float = Field(default=2_000.0, ge=0)

    @model_validator(mode="after")
    def _trade_le_quote(self) -> MassQuoteSettings:
        if self.trade_amount_underlying > self.quote_amount_underlying:
            raise ValueError(
                f"trade_amount_underlying must be <= quote_amount_underlying {self.quote_amount_underlying}, "
                f"was {self.trade_amount_underlying}"
            )
        return self


class ShadowSettings(_Model):
    """The simulated exchange of shadow mode (SimMatchEngine). ``feed_latency_ms``: the public feed's delay assumed
    until the trades' own stamps show a longer one (docs/simulator.md)."""

    order_entry_latency_ms: float = Field(default=5.0, ge=0)
    cancel_latency_ms: float = Field(default=5.0, ge=0)
    response_latency_ms: float = Field(default=5.0, ge=0)
    feed_latency_ms: float = Field(default=5.0, ge=0)
    slippage_ticks: int = Field(default=1, ge=1)
    maker_fee_bps: float = 1.0
    taker_fee_bps: float = 5.0


class BacktestSettings(_Model):
    """``platform backtest``: how history is read, and bar mode's fill bound (``docs/backtest.md``)."""

    bar_volume_share: float = Field(default=0.1, gt=0, le=1.0)  # bar mode: most a side fills, share of bar volume
    chunk_s: int = Field(default=600, gt=0)  # seconds of history per storage read (memory per chunk)


class OptionsVolSettings(_Model):
    """The options volatility service (docs/quoting_model.md): when the instrument's underlying has options listed,
    their ATM implied vol at ``constant_maturity_days`` and the index's realized vol over the same horizon feed the
    regime (IV above RV quotes wider), refreshed every ``publish_interval_s``."""

    enabled: bool = True
    constant_maturity_days: float = Field(default=7.0, gt=0)
    ticker_delay: str = "1000ms"
    publish_interval_s: float = Field(default=1.0, gt=0)


class ApiSettings(_Model):
    """The deployment's REST + SSE API and dashboard (docs/api.md), served by Ray Serve. ``host`` is loopback unless
    set otherwise (off loopback every endpoint needs the token). The bearer token: ``token`` here, else the
    ``THALEX_API_TOKEN`` environment variable, else ``token_file`` (default: ``api_token`` next to the deployment's
    state file, created by ``platform deploy`` with mode 0600). ``sse_queue_events``: events held per SSE client
    before the oldest are dropped (the client then gets a gap event); ``sse_history_events``: events per stream kept
    for ``Last-Event-ID`` resumes; ``sse_connection_bytes``: an SSE response ends after about this many bytes and the
    client resumes on a new one (EventSource does by itself), a bound on what a client that never reads holds on
    top of uvicorn's write backpressure (docs/api.md); ``cors_origins``: empty keeps CORS off."""

    host: str = "127.0.0.1"
    port: int = Field(default=8480, ge=1, le=65_535)
    token: SecretStr | None = None
    token_file: Path | None = None
    sse_queue_events: int = Field(default=1_000, ge=1)
    sse_history_events: int = Field(default=5_000, ge=1)
    sse_connection_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    heartbeat_s: float = Field(default=10.0, gt=0)
    cors_origins: tuple[str, ...] = ()


class RunConfig(_Model):
    """Everything ``platform run`` needs for one instrument in one process."""

    mode: RunMode = RunMode.SHADOW
    network: Network = Network.LOCAL
    instrument: str = "BTC-PERPETUAL"
    duration_s: float | None = Field(default=None, gt=0)
    status_interval_s: float = Field(default=5.0, gt=0)
    connection: ConnectionSettings = Field(default_factory=ConnectionSettings)
    credentials: CredentialSettings = Field(default_factory=CredentialSettings)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    toxic_flow: ToxicFlowSettings = Field(default_factory=ToxicFlowSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    kill_switch: KillSwitchSettings = Field(default_factory=KillSwitchSettings)
    mass_quote: MassQuoteSettings = Field(default_factory=MassQuoteSettings)
    shadow: ShadowSettings = Field(default_factory=ShadowSettings)
    options_vol: OptionsVolSettings = Field(default_factory=OptionsVolSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    placement: PlacementSettings = Field(default_factory=PlacementSettings)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)

    @model_validator(mode="after")
    def _mass_quote_is_live_only(self) -> RunConfig:
        if self.mass_quote.enabled and self.mode is not RunMode.LIVE:
            raise ValueError(f"mass_quote.enabled=true needs mode 'live', was {self.mode.value!r}")
        return self

    @property
    def url(self) -> str:
        """The websocket URL of the selected network."""
        if self.network is Network.LOCAL:
            return self.connection.emulator_url
        return NETWORK_URLS[self.network.value]


# -- loading -----------------------------------------------------------------------------------------------------


#: Config file formats, chosen by the file's extension (every verb: run, deploy, backtest, emulator).
CONFIG_SUFFIXES: Final = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


def read_config_file(path: Path) -> dict[str, Any]:
    """A TOML (``.toml``), YAML (``.yaml``/``.yml``) or JSON (``.json``) file as a mapping: the one config reader of
    every verb.

    Raises:
        ConfigError: an unknown extension, an unreadable file, bad syntax (with the line), or a top level that is
            not a table.
    """
    kind = CONFIG_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"config file {path}: unknown extension {path.suffix!r}; use one of "
                          f"{', '.join(CONFIG_SUFFIXES)}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        if kind == "JSON":
            data = json.loads(text)
        elif kind == "YAML":
            data = yaml.safe_load(text)
            data = {} if data is None else data
        else:
            data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path}: invalid {kind}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a table, was {type(data).__name__}")
    return data


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``THALEX_*`` variables as a nested mapping (``__`` separates section and field; names lower-cased)."""
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or not value:
            continue
        if key in _CREDENTIAL_SHORTCUTS:
            out.setdefault("credentials", {})[_CREDENTIAL_SHORTCUTS[key]] = value
            continue
        path = key[len(ENV_PREFIX):].lower().split("__")
        if path[0] not in RunConfig.model_fields:
            continue  # other THALEX_* variables (the emulator's, the official client's) are not ours
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {key}: {part!r} is not a section")
            node = child
        node[path[-1]] = _env_value(value)
    return out


def credentials_from_environment(environ: Mapping[str, str]) -> CredentialSettings:
    """The live credentials as this process's environment gives them (``THALEX_KEY_ID``, ``THALEX_PRIVATE_KEY_PATH``,
    ``THALEX_ACCOUNT`` or ``THALEX_CREDENTIALS__*``): what a Ray actor reads on its own node, so that no secret
    travels in its arguments.

    Raises:
        ConfigError: a value is invalid (the message masks the key id).
    """
    try:
        return CredentialSettings.model_validate(env_overrides(environ).get("credentials", {}))
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def _env_value(text: str) -> Any:
    """Env text → a JSON value when it parses as one (numbers, booleans, lists), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_run_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Defaults ← file ← environment ← flags (``None`` flag values are ignored; flags may be dotted paths such as
    ``"connection.emulator_url"``).

    Raises:
        ConfigError: the merged configuration is invalid; the message lists ``field.path: problem (was value)``
            for every error, with secret values masked.
    """
    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    if environ is not None:
        data = _merge(data, env_overrides(environ))
    for key, value in (flags or {}).items():
        if value is None:
            continue
        parts = key.split(".")
        nested: dict[str, Any] = {parts[-1]: value}
        for part in reversed(parts[:-1]):
            nested = {part: nested}
        data = _merge(data, nested)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """Every error of a pydantic validation as `field.path: problem (was value)`, secrets masked."""
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "<config>"
        value = error.get("input")
        shown = "***" if "key_id" in field or field.endswith("token") else repr(value)
        if isinstance(value, dict):
            shown = "{...}"
        lines.append(f"{field}: {error['msg']} (was {shown})")
    return "invalid configuration: " + "; ".join(lines)
