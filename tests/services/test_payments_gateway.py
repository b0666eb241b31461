"""The HTTP gateway adapter against a real HTTP server on 127.0.0.1 playing the gateway."""

from __future__ import annotations

import socket

import pytest

from services.gateways import (
    NOT_CONFIGURED,
    GatewayNotConfigured,
    GatewayRequest,
    HttpGateway,
    ManualGateway,
    NoGateway,
    Op,
    Outcome,
    build_gateway,
    interpret,
    url_problem,
)
from tests.services.test_payments_support import KEY, Step, fake_gateway


def request(op: Op = Op.CHARGE, key: str = "key-1", **more: object) -> GatewayRequest:
    fields: dict[str, object] = {
        "op": op,
        "amount": 1250,
        "currency": "USD",
        "order": 1042,
        "idempotency_key": key,
    }
    fields.update(more)
    return GatewayRequest(**fields)  # type: ignore[arg-type]


async def test_approve_sends_key_auth_and_body() -> None:
    with fake_gateway() as gw:
        result = await HttpGateway(gw.url, KEY, timeout=5).perform(request())
        assert result.outcome is Outcome.APPROVED and result.ref.startswith("ch_")
        [call] = gw.calls
        assert call.path == "/charges"
        assert call.headers["Authorization"] == f"Bearer {KEY}"
        assert call.headers["Idempotency-Key"] == "key-1"
        assert call.body == {"amount": 1250, "currency": "USD", "order": "1042"}


async def test_each_operation_names_its_target() -> None:
    with fake_gateway() as gw:
        http = HttpGateway(gw.url, KEY, timeout=5)
        await http.perform(request(Op.REFUND, "k-r", target="ch_1", reason="damaged"))
        await http.perform(request(Op.CAPTURE, "k-c", target="au_1"))
        await http.perform(request(Op.VOID, "k-v", target="au_2"))
        await http.perform(request(Op.AUTHORIZE, "k-a"))
        assert gw.keys() == ["k-r", "k-c", "k-v", "k-a"]  # a key on every request
        assert {c.headers["Authorization"] for c in gw.calls} == {f"Bearer {KEY}"}
        paths = [(c.path, c.body) for c in gw.calls]
        assert paths[0] == (
            "/refunds",
            {
                "amount": 1250,
                "currency": "USD",
                "order": "1042",
                "charge": "ch_1",
                "reason": "damaged",
            },
        )
        assert paths[1][0] == "/captures" and paths[1][1]["authorization"] == "au_1"  # type: ignore[index]
        assert paths[2][0] == "/voids" and paths[2][1]["payment"] == "au_2"  # type: ignore[index]
        assert paths[3][0] == "/authorizations"


async def test_decline_carries_the_gateways_reason() -> None:
    with fake_gateway() as gw:
        gw.then(Step("decline", reason="insufficient funds"))
        result = await HttpGateway(gw.url, KEY, timeout=5).perform(request())
        assert result.outcome is Outcome.DECLINED
        assert result.reason == "insufficient funds"
        assert gw.performed == []


async def test_500_is_unknown_never_declined() -> None:
    with fake_gateway() as gw:
        gw.then(Step("status", code=500, body=b"Internal Server Error"))
        result = await HttpGateway(gw.url, KEY, timeout=5).perform(request())
        assert result.outcome is Outcome.UNKNOWN
        assert "500" in result.reason


async def test_slow_answer_times_out_as_unknown_and_the_same_key_replays() -> None:
    with fake_gateway() as gw:
        gw.then(Step("slow"))  # holds its answer until released (10 s at most)
        http = HttpGateway(gw.url, KEY, timeout=1)
        first = await http.perform(request(key="slow-key"))
        assert first.outcome is Outcome.UNKNOWN  # not declined, not error
        assert "did not answer within 1 s" in first.reason
        assert gw.performed == []  # we gave up before the gateway acted
        # The gateway finishes the charge after we gave up; the retry with the same key gets
        # that charge back instead of making a second one.
        gw.release.set()
        retry = await HttpGateway(gw.url, KEY, timeout=5).perform(request(key="slow-key"))
        assert retry.outcome is Outcome.APPROVED
        assert len(gw.performed) == 1 and gw.replays == 1
        assert gw.keys() == ["slow-key", "slow-key"]


async def test_an_answer_that_never_finishes_is_unknown() -> None:
    """Bytes keep coming, each inside the read timeout: the whole exchange's deadline
    (connect + read timeout) ends the wait, and the outcome is unknown, not declined."""
    with fake_gateway() as gw:
        gw.then(Step("drip"))
        first = await HttpGateway(gw.url, KEY, timeout=1).perform(request(key="drip"))
        assert first.outcome is Outcome.UNKNOWN
        assert first.reason == "the payment gateway did not finish its answer within 2 s"
        gw.release.set()


async def test_duplicate_key_returns_the_first_result() -> None:
    with fake_gateway() as gw:
        gw.then(Step("decline", reason="card expired"))
        http = HttpGateway(gw.url, KEY, timeout=5)
        first = await http.perform(request(key="dup"))
        second = await http.perform(request(key="dup"))
        assert first == second and first.outcome is Outcome.DECLINED
        assert gw.replays == 1
        third = await http.perform(request(key="other"))
        assert third.outcome is Outcome.APPROVED


async def test_garbage_is_unknown_and_a_refusal_is_error() -> None:
    with fake_gateway() as gw:
        gw.then(Step("garbage"))
        assert (await HttpGateway(gw.url, KEY, timeout=5).perform(request())).outcome is (
            Outcome.UNKNOWN
        )
        bad_key = await HttpGateway(gw.url, "wrong", timeout=5).perform(request(key="k2"))
        assert bad_key.outcome is Outcome.ERROR
        assert "401" in bad_key.reason and "invalid API key" in bad_key.reason


async def test_nothing_listening_is_error_nothing_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await HttpGateway(f"http://127.0.0.1:{port}", KEY, timeout=2).perform(request())
    assert result.outcome is Outcome.ERROR
    assert "cannot reach the payment gateway" in result.reason


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, b'{"status": "approved", "id": "ch_1"}', Outcome.APPROVED),
        (201, b'{"status": "approved", "id": 17}', Outcome.APPROVED),
        (200, b'{"status": "approved"}', Outcome.UNKNOWN),  # approved, but of what?
        (402, b'{"status": "declined", "reason": "stolen card"}', Outcome.DECLINED),
        (200, b'{"status": "maybe"}', Outcome.UNKNOWN),
        (200, b"[1, 2]", Outcome.UNKNOWN),
        (200, b"\xff\xfe", Outcome.UNKNOWN),
        (409, b'{"error": "in progress"}', Outcome.UNKNOWN),
        (422, b'{"error": "amount must be positive"}', Outcome.ERROR),
        (400, b"", Outcome.ERROR),
        (503, b"", Outcome.UNKNOWN),
        (302, b"", Outcome.UNKNOWN),
    ],
)
def test_interpret(status: int, body: bytes, outcome: Outcome) -> None:
    assert interpret(status, body).outcome is outcome


def test_gateway_text_is_made_one_line_and_bounded() -> None:
    body = b'{"status": "declined", "reason": "bad\\u001b[31m card\\nreally ' + b"x" * 900 + b'"}'
    result = interpret(402, body)
    assert "\x1b" not in result.reason and "\n" not in result.reason
    assert len(result.reason) <= 500


def test_configuration_problems_are_explained() -> None:
    assert "PACKLINE_PAYMENT_URL" in (url_problem("", KEY) or "")
    assert "PACKLINE_PAYMENT_KEY" in (url_problem("https://pay.example", "") or "")
    assert "https://" in (url_problem("http://pay.example.com", KEY) or "")
    assert url_problem("http://127.0.0.1:9000", KEY) is None
    assert url_problem("https://pay.example.com/v1", KEY) is None
    assert url_problem("ftp://pay.example.com", KEY) is not None


async def test_none_and_manual() -> None:
    none = build_gateway("none")
    assert isinstance(none, NoGateway) and none.problem == NOT_CONFIGURED
    for needle in ("PACKLINE_PAYMENT_GATEWAY=http", "PACKLINE_PAYMENT_URL", "manual"):
        assert needle in NOT_CONFIGURED
    with pytest.raises(GatewayNotConfigured):
        await none.perform(request())
    manual = build_gateway("manual")
    assert isinstance(manual, ManualGateway)
    assert (await manual.perform(request())).outcome is Outcome.APPROVED
    broken = build_gateway("http", url="", key="")
    assert broken.problem and "PACKLINE_PAYMENT_URL" in broken.problem
