"""Unit tests of the server's pure parts: framing, param checks, channels, rate limits, keys and login tokens."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

from thalex_modular.emulator.auth import Authenticator, make_token
from thalex_modular.emulator.keys import ApiKey, generate_key, keygen_to_dir, load_keys
from thalex_modular.emulator.protocol import (
    AUTHENTICATION_FAILED,
    INVALID_REQUEST,
    FrameError,
    RpcError,
    check_params,
    decode_request,
    encode_notification,
)
from thalex_modular.emulator.rate_limit import RateLimits, SessionRateLimiter, TokenBucket
from thalex_modular.emulator.subscriptions import parse_channel

_TICKS = {"BTC-PERPETUAL": 1.0, "BTC-27DEC24-100000-C": 5.0}


def _tick(name: str) -> float | None:
    return _TICKS.get(name)


# -- framing -------------------------------------------------------------------------------------------------


def test_decode_request_reads_method_params_and_id() -> None:
    request = decode_request('{"method": "public/ticker", "params": {"instrument_name": "X"}, "id": 7}')
    assert (request.method, request.params, request.id) == ("public/ticker", {"instrument_name": "X"}, 7)


def test_decode_request_defaults_missing_params_and_id() -> None:
    request = decode_request(b'{"method": "public/instruments"}')
    assert request.params == {} and request.id is None


@pytest.mark.parametrize(
    ("frame", "request_id"),
    [
        ("{not json", None),
        ("[1, 2]", None),
        ('{"id": 3, "params": {}}', 3),
        ('{"id": 4, "method": "x", "params": 1}', 4),
    ],
)
def test_bad_frames_raise_code_6_with_the_readable_id(frame: str, request_id: object) -> None:
    with pytest.raises(FrameError) as info:
        decode_request(frame)
    assert info.value.code == INVALID_REQUEST
    assert info.value.request_id == request_id


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_escape_as_other_errors(frame: bytes) -> None:
    try:
        decode_request(frame)
    except FrameError as exc:
        assert exc.code == INVALID_REQUEST


def test_check_params_names_field_type_and_value() -> None:
    with pytest.raises(RpcError) as info:
        check_params("private/insert", {"direction": "buy", "amount": "1", "instrument_name": "BTC-PERPETUAL"})
    assert info.value.code == INVALID_REQUEST
    assert "`amount` must be number, was string" in info.value.message


@pytest.mark.parametrize(
    ("method", "params", "fragment"),
    [
        ("private/insert", {"amount": 1.0}, "missing required `direction`"),
        ("private/insert", {"direction": "up", "amount": 1.0}, "`direction` must be one of buy, sell"),
        ("private/amend", {"order_id": "1", "price": True, "amount": 1}, "`price` must be number, was boolean"),
        ("private/cancel", {"client_order_id": 1.5}, "`client_order_id` must be integer"),
        ("public/subscribe", {"channels": ["a", 1]}, "`channels` items must be string"),
        ("private/set_mm_protection", {"product": "FBTCUSD", "quote_amount": 1}, "missing required `trade_amount`"),
    ],
)
def test_check_params_rejects(method: str, params: dict[str, object], fragment: str) -> None:
    with pytest.raises(RpcError) as info:
        check_params(method, params)
    assert fragment in info.value.message


def test_check_params_accepts_integers_as_numbers_and_ignores_unknown_params() -> None:
    check_params("private/buy", {"instrument_name": "BTC-PERPETUAL", "amount": 1, "price": 100, "stp_level": "x"})
    check_params("private/set_mm_protection", {"product": "FBTCUSD", "amount": 1.0})


def test_snapshot_flag_present_only_when_true() -> None:
    plain = msgspec.json.decode(encode_notification("ticker.X.raw", {"m": 1.0}))
    snap = msgspec.json.decode(encode_notification("book.X.none.10.raw", {}, snapshot=True))
    assert "snapshot" not in plain and snap["snapshot"] is True


# -- channels ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "target", "delay_ms", "grouping", "nlevels"),
    [
        ("ticker.BTC-PERPETUAL.raw", "ticker", "BTC-PERPETUAL", 0, None, None),
        ("lwt.BTC-PERPETUAL.1000ms", "lwt", "BTC-PERPETUAL", 1000, None, None),
        ("book.BTC-PERPETUAL.none.10.100ms", "book", "BTC-PERPETUAL", 100, None, 10),
        ("book.BTC-PERPETUAL.0.5.all.raw", "book", "BTC-PERPETUAL", 0, None, None),
        ("book.BTC-PERPETUAL.5.all.raw", "book", "BTC-PERPETUAL", 0, 5.0, None),
        ("book.BTC-27DEC24-100000-C.10.5.raw", "book", "BTC-27DEC24-100000-C", 0, 10.0, 5),
        ("price_index.BTCUSD", "price_index", "BTCUSD", 0, None, None),
    ],
)
def test_parse_valid_channels(
    name: str, kind: str, target: str, delay_ms: int, grouping: float | None, nlevels: int | None
) -> None:
    channel = parse_channel(name, _tick, {"BTCUSD"})
    if name == "book.BTC-PERPETUAL.0.5.all.raw":  # 0.5 is not a multiple of the 1 USD tick
        assert channel is None
        return
    assert channel is not None
    assert (channel.kind, channel.target, channel.delay_ms, channel.grouping, channel.nlevels) == (
        kind,
        target,
        delay_ms,
        grouping,
        nlevels,
    )
    assert not channel.private


@pytest.mark.parametrize(
    "name",
    [
        "ticker.NOPE.raw",
        "ticker.BTC-PERPETUAL.3ms",
        "book.BTC-PERPETUAL.none.0.raw",
        "book.BTC-PERPETUAL.none.x.raw",
        "recent_trades.BTCUSD.single",
        "recent_trades.BTC-PERPETUAL.all",
        "price_index.XYZUSD",
        "session.nope",
        "",
    ],
)
def test_parse_invalid_channels(name: str) -> None:
    assert parse_channel(name, _tick, {"BTCUSD"}) is None


def test_private_and_trade_channels() -> None:
    assert parse_channel("account.portfolio", _tick, set()).private  # type: ignore[union-attr]
    trades = parse_channel("recent_trades.BTCUSD.options", _tick, {"BTCUSD"})
    assert trades is not None and trades.category == "options" and not trades.private


# -- rate limits ---------------------------------------------------------------------------------------------


def test_bucket_allows_burst_then_refills_at_rate() -> None:
    bucket = TokenBucket(rate_per_s=10, burst=10, now_ns=0)
    assert all(bucket.try_take(0) for _ in range(10))
    assert not bucket.try_take(0)
    assert bucket.try_take(100_000_000)  # 0.1 s = one token
    assert not bucket.try_take(100_000_000)


def test_session_limiter_cod_raises_rate_and_cancels_have_their_own_bucket() -> None:
    limiter = SessionRateLimiter(RateLimits(persistent_per_s=2, cod_per_s=5, cancel_per_s=3), now_ns=0)
    assert [limiter.allow("private/insert", 0) for _ in range(3)] == [True, True, False]
    assert [limiter.allow("private/cancel", 0) for _ in range(4)] == [True, True, True, False]
    assert limiter.enable_cod(0) == 5
    assert limiter.allow("private/insert", 1_000_000_000)
    granted = sum(limiter.allow("private/insert", 2_000_000_000) for _ in range(10))
    assert granted == 5


def test_rate_limits_reject_non_positive() -> None:
    with pytest.raises(ValueError, match="cod_per_s"):
        RateLimits(cod_per_s=0)


# -- keys and tokens -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("keys")
    keygen_to_dir(out, account_number="A000000007")
    return out


def test_keygen_writes_files_and_registry(key_dir: Path) -> None:
    kid = (key_dir / "key_id").read_text().strip()
    keys = load_keys(key_dir / "keys.json")
    assert list(keys) == [kid]
    assert keys[kid].account_number == "A000000007"
    assert "BEGIN RSA PRIVATE KEY" in (key_dir / "private_key.pem").read_text()
    assert (key_dir / "private_key.pem").stat().st_mode & 0o077 == 0


def test_login_token_roundtrip_and_failures(key_dir: Path) -> None:
    kid = (key_dir / "key_id").read_text().strip()
    private = (key_dir / "private_key.pem").read_text()
    auth = Authenticator(load_keys(key_dir / "keys.json"), iat_tolerance_s=30)
    now = time.time()
    assert auth.verify(make_token(kid, private, now), now).account_number == "A000000007"
    assert auth.verify(make_token(kid, private, int(now) - 10), now).kid == kid  # int iat, 10 s old
    other = generate_key()
    cases = {
        "stale iat": make_token(kid, private, now - 31),
        "unknown kid": make_token("KNOPE", private, now),
        "wrong key": make_token(kid, other.private_key_pem, now),
        "garbage": "not.a.jwt",
    }
    for label, token in cases.items():
        with pytest.raises(RpcError) as info:
            auth.verify(token, now)
        assert info.value.code == AUTHENTICATION_FAILED, label


def test_load_keys_names_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text('{"keys": [{"kid": "K1", "account_number": "A1"}]}')
    with pytest.raises(ValueError, match="public_key_pem"):
        load_keys(path)
    assert load_keys(tmp_path / "absent.json") == {}
    assert isinstance(ApiKey("K", "A", "pem"), ApiKey)
