"""Unit tests: token buckets (injected time), enum tables against api.yaml, auth, config, back-off."""

from __future__ import annotations

import functools
import random
import re
from pathlib import Path

import jwt
import pytest
import yaml  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from thalex_modular.platform.adapters.exchanges.thalex import enums as thalex_enums
from thalex_modular.platform.adapters.exchanges.thalex.auth import ThalexCredentials
from thalex_modular.platform.adapters.exchanges.thalex.config import Network, RateLimitConfig, ThalexConfig
from thalex_modular.platform.adapters.exchanges.thalex.errors import CredentialsError, ThalexRpcError, is_retryable
from thalex_modular.platform.adapters.exchanges.thalex.session import backoff_delay_s
from thalex_modular.platform.adapters.exchanges.thalex.token_bucket import (
    LocalTokenBuckets,
    RequestKind,
    TokenBucket,
    kind_of,
)
from thalex_modular.platform.domain import enums as domain

API_YAML = Path("/work/shared/thalex-api/api.yaml")
S = 1_000_000_000  # ns per second


# -- token buckets -----------------------------------------------------------------------------------------


def test_bucket_starts_full_refills_at_rate_and_never_exceeds_burst() -> None:
    bucket = TokenBucket(9.0, 9.0, now_ns=0)
    assert sum(bucket.try_take(0) for _ in range(20)) == 9
    assert bucket.wait_ns(0) == pytest.approx(S / 9, rel=1e-6)
    assert not bucket.try_take(S // 9 - 1000)
    assert bucket.try_take(S // 9 + 1000)
    assert bucket.tokens(100 * S) == 9.0  # an idle hour does not bank more than the burst


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50_000_000), min_size=1, max_size=150))
def test_requests_in_any_one_second_window_never_exceed_the_limit(gaps_ns: list[int]) -> None:
    # Arrange: Thalex's limit 10/s; ours 90 % of it
    buckets = LocalTokenBuckets(RateLimitConfig(persistent_per_s=10.0), now_ns=0)
    sent: list[int] = []
    now = 0
    # Act: try to send at arbitrary instants
    for gap in gaps_ns:
        now += gap
        if buckets.try_acquire(RequestKind.MESSAGE, now):
            sent.append(now)
    # Assert: a server bucket of 10/s burst 10 would accept all of it: at most burst + rate x window in any window
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t - start <= S]
        assert len(in_window) <= 9 + 9 * (in_window[-1] - start) / S + 1e-9


def test_cancels_have_their_own_bucket_and_cod_raises_the_message_rate_keeping_tokens() -> None:
    buckets = LocalTokenBuckets(RateLimitConfig(), now_ns=0)
    while buckets.try_acquire(RequestKind.MESSAGE, 0):
        pass
    assert buckets.try_acquire(RequestKind.CANCEL, 0)  # inserts/amends spent, cancels still go
    assert kind_of("private/cancel_session") is RequestKind.CANCEL and kind_of("private/amend") is RequestKind.MESSAGE
    buckets.set_message_rate(50.0, 0)
    assert buckets.bucket(RequestKind.MESSAGE).rate_per_s == pytest.approx(45.0)
    assert buckets.bucket(RequestKind.MESSAGE).burst == pytest.approx(45.0)
    assert buckets.bucket(RequestKind.MESSAGE).tokens(0) == pytest.approx(0.0)  # not refilled by the switch
    assert buckets.bucket(RequestKind.CANCEL).burst == pytest.approx(900.0)
    buckets.reset(S)
    assert buckets.bucket(RequestKind.MESSAGE).rate_per_s == pytest.approx(9.0)  # new session: persistent rate


def test_throttle_error_empties_the_bucket_and_backs_off_exponentially() -> None:
    limits = RateLimitConfig(throttle_backoff_initial_s=0.2, throttle_backoff_max_s=1.0)
    buckets = LocalTokenBuckets(limits, now_ns=0)
    buckets.on_throttled(RequestKind.MESSAGE, 0)
    assert not buckets.try_acquire(RequestKind.MESSAGE, S // 10)  # blocked although the bucket refilled a token
    assert buckets.wait_ns(RequestKind.MESSAGE, S // 10) == S // 10
    assert buckets.try_acquire(RequestKind.MESSAGE, S // 5)
    buckets.on_throttled(RequestKind.MESSAGE, S)  # second in a row: 0.4 s
    assert buckets.wait_ns(RequestKind.MESSAGE, S) >= 2 * S // 5
    buckets.on_throttled(RequestKind.MESSAGE, 2 * S)  # 0.8 s
    buckets.on_throttled(RequestKind.MESSAGE, 3 * S)  # capped at 1 s
    assert buckets.wait_ns(RequestKind.MESSAGE, 3 * S) == S
    assert buckets.try_acquire(RequestKind.CANCEL, 3 * S)  # the cancel budget is not blocked
    buckets.on_accepted(RequestKind.MESSAGE, 5 * S)
    buckets.on_throttled(RequestKind.MESSAGE, 5 * S)
    assert buckets.wait_ns(RequestKind.MESSAGE, 5 * S) == S // 5  # reset after an accepted request
    assert buckets.throttles == 5


def test_bucket_rejects_bad_parameters_naming_them() -> None:
    with pytest.raises(ValueError, match="`rate_per_s` <= 0, was 0"):
        TokenBucket(0.0, 1.0, 0)
    with pytest.raises(ValueError, match=re.escape("`burst` < 1, was 0.5")):
        TokenBucket(1.0, 0.5, 0)


# -- enums: every api.yaml value maps, every domain value (except local states) is reachable ---------------


@functools.cache
def _api_schemas() -> dict[str, dict[str, object]]:
    schemas: dict[str, dict[str, object]] = yaml.safe_load(API_YAML.read_text())["components"]["schemas"]
    return schemas


def _api_enum(schema: str, field: str) -> set[str]:
    properties = _api_schemas()[schema]["properties"]
    assert isinstance(properties, dict)
    return set(properties[field]["enum"])


@pytest.mark.parametrize(
    ("table", "schema", "field", "domain_enum", "local_only"),
    [
        (thalex_enums.DIRECTION, "OrderStatus", "direction", domain.Side, set()),
        (thalex_enums.ORDER_TYPE, "OrderStatus", "order_type", domain.OrderType, set()),
        (thalex_enums.TIME_IN_FORCE, "OrderStatus", "time_in_force", domain.TimeInForce, set()),
        (
            thalex_enums.ORDER_STATUS,
            "OrderStatus",
            "status",
            domain.OrderStatus,
            {domain.OrderStatus.PENDING, domain.OrderStatus.REJECTED},
        ),
        (thalex_enums.CHANGE_REASON, "OrderStatus", "change_reason", domain.ChangeReason, set()),
        (thalex_enums.DELETE_REASON, "OrderStatus", "delete_reason", domain.DeleteReason, set()),
        (thalex_enums.MAKER_TAKER, "OrderFill", "maker_taker", domain.MakerTaker, set()),
        (thalex_enums.INSTRUMENT_KIND, "Instrument", "type", domain.InstrumentKind, set()),
        (thalex_enums.OPTION_TYPE, "Instrument", "option_type", domain.OptionType, set()),
    ],
)
def test_enum_tables_are_exhaustive(
    table: dict[str, object], schema: str, field: str, domain_enum: type, local_only: set[object]
) -> None:
    assert _api_enum(schema, field) <= set(table), "an api.yaml value has no domain mapping"
    assert set(table.values()) == set(domain_enum) - local_only, "a domain value has no Thalex spelling"
    assert len(set(table.values())) == len(table), "the mapping must be invertible"


def test_inverse_tables_are_derived() -> None:
    assert thalex_enums.DIRECTION_TO_THALEX == {domain.Side.BUY: "buy", domain.Side.SELL: "sell"}
    assert {thalex_enums.TIME_IN_FORCE[v] for v in thalex_enums.TIME_IN_FORCE_TO_THALEX.values()} == set(
        domain.TimeInForce
    )
    assert set(thalex_enums.ORDER_TYPE_TO_THALEX) == set(domain.OrderType)


# -- auth ----------------------------------------------------------------------------------------------------


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def test_login_token_is_rs512_with_kid_and_iat_and_the_key_is_never_shown(tmp_path: Path) -> None:
    pem = _rsa_pem()
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    creds = ThalexCredentials.from_pem_file("K1234", path, account="A000000001")
    token = creds.token(1_733_011_200.25)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS512" and header["kid"] == "K1234"
    public = serialization.load_pem_private_key(pem, None).public_key()
    assert jwt.decode(token, public, algorithms=["RS512"], options={"verify_iat": False}) == {"iat": 1_733_011_200.25}
    shown = repr(creds) + str(creds) + f"{creds}"
    assert "redacted" in shown and "PRIVATE" not in shown and "MII" not in shown


def test_credential_errors_name_the_field_not_the_content(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="THALEX_KEY_ID and THALEX_PRIVATE_KEY_PATH"):
        ThalexCredentials.from_env({})
    with pytest.raises(CredentialsError, match=r"`private_key_path`: cannot read .*missing\.pem"):
        ThalexCredentials.from_pem_file("K1", tmp_path / "missing.pem")
    secret = tmp_path / "garbage.pem"
    secret.write_text("-----BEGIN RSA PRIVATE KEY-----\nTOPSECRET\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(CredentialsError) as info:
        ThalexCredentials.from_pem_file("K1", secret)
    assert "TOPSECRET" not in str(info.value) and "garbage.pem" in str(info.value)
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(CredentialsError, match="must be RSA"):
        ThalexCredentials.from_pem("K1", ec_pem)
    (tmp_path / "ok.pem").write_bytes(_rsa_pem())
    env = {"THALEX_KEY_ID": "K9", "THALEX_PRIVATE_KEY_PATH": str(tmp_path / "ok.pem")}
    assert ThalexCredentials.from_env(env).key_id == "K9"


# -- config, errors, back-off --------------------------------------------------------------------------------


def test_config_urls_and_validation_messages() -> None:
    assert ThalexConfig(network=Network.PROD).url == "wss://thalex.com/ws/api/v2"
    assert ThalexConfig(network=Network.TEST).url == "wss://testnet.thalex.com/ws/api/v2"
    assert ThalexConfig.local("ws://127.0.0.1:8490/ws/api/v2").url == "ws://127.0.0.1:8490/ws/api/v2"
    with pytest.raises(ValidationError, match="`local_url`: required for network 'local'"):
        ThalexConfig(network=Network.LOCAL)
    with pytest.raises(ValidationError, match="`local_url`: only allowed for network 'local'"):
        ThalexConfig(network=Network.PROD, local_url="ws://x")
    with pytest.raises(ValidationError, match=re.escape("`ping_interval_s` >= cod_timeout_s 6, was 6.0")):
        ThalexConfig(ping_interval_s=6.0)
    with pytest.raises(ValidationError, match="safety_factor"):
        RateLimitConfig(safety_factor=1.5)


def test_retryable_codes() -> None:
    assert is_retryable(ThalexRpcError(4, "throttle exceeded"))
    assert not is_retryable(ThalexRpcError(15, "price not on tick"))
    assert not is_retryable(ThalexRpcError(19, "authentication failed"))


def test_reconnect_backoff_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff_delay_s(n, 0.2, 10.0, 0.25, rng) for n in range(10)]
    for n, delay in enumerate(delays):
        base = min(10.0, 0.2 * 2**n)
        assert 0.75 * base <= delay <= 1.25 * base
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not lock-step
