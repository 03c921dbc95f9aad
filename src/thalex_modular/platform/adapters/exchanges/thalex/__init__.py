"""Thalex exchange adapter: JSON-RPC over websocket, codec, auth, rate limiting, order gateway and market feed."""

from .account_rate import AccountRateLimiter, Lease
from .auth import ThalexCredentials
from .config import (
    NETWORK_URLS,
    KindLeaseConfig,
    LeaseConfig,
    Network,
    RateLimitConfig,
    ReconnectConfig,
    ThalexConfig,
)
from .errors import (
    RETRYABLE_CODES,
    CredentialsError,
    DecodeError,
    ExchangeConnectionError,
    RpcTimeoutError,
    SubscriptionError,
    ThalexError,
    ThalexRpcError,
)
from .gateway import MassQuote, ResyncSnapshot, ThalexGateway
from .leased_tokens import LeasedTokens
from .market_feed import ThalexMarketFeed
from .rpc import RpcConnection
from .session import ThalexSession
from .token_bucket import LocalTokenBuckets, RequestKind, TokenSource

__all__ = [
    "NETWORK_URLS",
    "RETRYABLE_CODES",
    "AccountRateLimiter",
    "CredentialsError",
    "DecodeError",
    "ExchangeConnectionError",
    "KindLeaseConfig",
    "Lease",
    "LeaseConfig",
    "LeasedTokens",
    "LocalTokenBuckets",
    "MassQuote",
    "Network",
    "RateLimitConfig",
    "ReconnectConfig",
    "RequestKind",
    "ResyncSnapshot",
    "RpcConnection",
    "RpcTimeoutError",
    "SubscriptionError",
    "ThalexConfig",
    "ThalexCredentials",
    "ThalexError",
    "ThalexGateway",
    "ThalexMarketFeed",
    "ThalexRpcError",
    "ThalexSession",
    "TokenSource",
]
