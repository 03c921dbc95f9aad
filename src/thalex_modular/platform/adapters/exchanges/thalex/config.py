"""Thalex adapter configuration: one frozen pydantic model tree (networks, limits, timeouts, reconnect policy).

Units are in the field names: ``*_s`` seconds, ``*_per_s`` messages per second.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "NETWORK_URLS",
    "KindLeaseConfig",
    "LeaseConfig",
    "Network",
    "RateLimitConfig",
    "ReconnectConfig",
    "ThalexConfig",
    "TickerDelay",
]


class Network(StrEnum):
    """Where the adapter connects: Thalex production, Thalex testnet, or a local emulator (``local_url``)."""

    PROD = "prod"
    TEST = "test"
    LOCAL = "local"


#: Thalex's websocket endpoints (DIGEST 1.1). ``local`` has no fixed URL: it comes from the config.
NETWORK_URLS: Final[dict[Network, str]] = {
    Network.PROD: "wss://thalex.com/ws/api/v2",
    Network.TEST: "wss://testnet.thalex.com/ws/api/v2",
}

TickerDelay = Literal["raw", "100ms", "200ms", "500ms", "1000ms", "5000ms", "60000ms"]


def _not_below(name: str, value: float, floor_name: str, floor: float) -> None:
    """The config error for a bound below the one it must not undercut."""
    if value < floor:
        raise ValueError(f"invalid `{name}` < {floor_name} {floor}, was {value}")


class RateLimitConfig(BaseModel):
    """Thalex's per-session request limits (messages per second; DIGEST 7.2) and the share of them we use.

    ``persistent_per_s`` applies until ``set_cancel_on_disconnect``, then ``cod_per_s`` (the ``message_rate``
    the server returns replaces it when smaller); cancels have their own ``cancel_per_s`` bucket. Our buckets run
    at ``safety_factor`` of each limit with bursts no larger than that (never above the limit).
    ``throttle_backoff_initial_s`` / ``throttle_backoff_max_s``: the pause after a throttle error (code 4),
    doubling on each further one, reset by an accepted request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    persistent_per_s: float = Field(default=10.0, gt=0)
    cod_per_s: float = Field(default=50.0, gt=0)
    cancel_per_s: float = Field(default=1000.0, gt=0)
    safety_factor: float = Field(default=0.9, gt=0, le=1)
    throttle_backoff_initial_s: float = Field(default=0.2, gt=0)
    throttle_backoff_max_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _backoff_bounds(self) -> RateLimitConfig:
        _not_below("throttle_backoff_max_s", self.throttle_backoff_max_s,
                   "throttle_backoff_initial_s", self.throttle_backoff_initial_s)
        return self


class KindLeaseConfig(BaseModel):
    """How an instrument leases one budget (messages or cancels) from the account-wide rate limiter.

    The instrument tops its lease up to ``block`` tokens whenever it holds ``low_water`` or fewer; a lease is valid
    ``ttl_s`` seconds from the request that granted or renewed it (an idle lease is renewed before then).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    block: int = Field(gt=0)
    low_water: int = Field(ge=0)
    ttl_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _low_water_below_block(self) -> KindLeaseConfig:
        if self.low_water >= self.block:
            raise ValueError(f"invalid `low_water` >= block {self.block}, was {self.low_water}")
        return self


class LeaseConfig(BaseModel):
    """Leasing from the account-wide rate limiter (docs/rate_limits.md has the numbers behind the defaults).

    ``call_timeout_s``: a lease call unanswered this long failed (the limiter is unreachable); failed calls are
    retried after ``unreachable_backoff_initial_s``, doubling up to ``unreachable_backoff_max_s``.
    ``retry_min_s`` / ``retry_max_s`` bound the pause after a lease that granted less than asked (the limiter says
    when asking again can help). ``empty_wait_s``: what ``wait_ns`` answers while the lease is empty, so an awaited
    request (login, subscribe, snapshots) checks again soon. ``renew_share``: an idle lease is renewed when less
    than this share of its TTL remains.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: KindLeaseConfig = Field(default_factory=lambda: KindLeaseConfig(block=5, low_water=2, ttl_s=5.0))
    cancel: KindLeaseConfig = Field(default_factory=lambda: KindLeaseConfig(block=20, low_water=10, ttl_s=30.0))
    call_timeout_s: float = Field(default=1.0, gt=0)
    unreachable_backoff_initial_s: float = Field(default=0.05, gt=0)
    unreachable_backoff_max_s: float = Field(default=1.0, gt=0)
    retry_min_s: float = Field(default=0.002, gt=0)
    retry_max_s: float = Field(default=0.25, gt=0)
    empty_wait_s: float = Field(default=0.005, gt=0)
    renew_share: float = Field(default=0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _bounds(self) -> LeaseConfig:
        _not_below("unreachable_backoff_max_s", self.unreachable_backoff_max_s,
                   "unreachable_backoff_initial_s", self.unreachable_backoff_initial_s)
        _not_below("retry_max_s", self.retry_max_s, "retry_min_s", self.retry_min_s)
        return self


class ReconnectConfig(BaseModel):
    """Exponential back-off with jitter between connection attempts.

    Attempt ``n`` (0-based) waits ``min(max_s, initial_s * 2**n) * (1 + U(-jitter, +jitter))`` seconds; a connection
    that stayed up ``stable_after_s`` resets ``n`` to 0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_s: float = Field(default=0.2, gt=0)
    max_s: float = Field(default=10.0, gt=0)
    jitter: float = Field(default=0.25, ge=0, lt=1)
    stable_after_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> ReconnectConfig:
        _not_below("max_s", self.max_s, "initial_s", self.initial_s)
        return self


class ThalexConfig(BaseModel):
    """Connection settings of one Thalex websocket session.

    ``local_url`` is required for ``network: local`` (e.g. ``ws://127.0.0.1:8490/ws/api/v2``) and refused for the
    others. ``cod_timeout_s``: the ``set_cancel_on_disconnect`` heartbeat (int seconds, Thalex's unit);
    ``ping_interval_s`` must be below it so pings keep the session alive. ``request_timeout_s`` bounds every RPC;
    an order request without a reply in that time drops the connection (reconnect + resync).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    network: Network = Network.TEST
    local_url: str | None = None
    account: str | None = None
    cod_timeout_s: int = Field(default=6, gt=0)
    ping_interval_s: float = Field(default=2.0, gt=0)
    request_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    ticker_delay: TickerDelay = "raw"
    user_agent: str = "thalex-modular/0.1"
    rate_limits: RateLimitConfig = Field(default_factory=RateLimitConfig)
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)

    @model_validator(mode="after")
    def _check(self) -> ThalexConfig:
        if self.network is Network.LOCAL:
            if not self.local_url:
                raise ValueError("invalid `local_url`: required for network 'local', was None")
            if not self.local_url.startswith(("ws://", "wss://")):
                raise ValueError(f"invalid `local_url`: must start with ws:// or wss://, was {self.local_url!r}")
        elif self.local_url is not None:
            raise ValueError(f"invalid `local_url`: only allowed for network 'local', was {self.local_url!r}")
        if self.ping_interval_s >= self.cod_timeout_s:
            raise ValueError(
                f"invalid `ping_interval_s` >= cod_timeout_s {self.cod_timeout_s}, was {self.ping_interval_s}"
            )
        return self

    @property
    def url(self) -> str:
        """The websocket URL of the chosen network."""
        if self.network is Network.LOCAL:
            assert self.local_url is not None  # checked by the validator
            return self.local_url
        return NETWORK_URLS[self.network]

    @classmethod
    def local(cls, url: str, **overrides: object) -> ThalexConfig:
        """A config for the emulator at ``url``."""
        return cls.model_validate({"network": Network.LOCAL, "local_url": url, **overrides})
