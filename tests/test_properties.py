"""Property-based: over a thousand generated send requests, no 5xx, every answer as documented,
and nothing invalid reaches the fake Zoho."""

from __future__ import annotations

import base64
import json
from email.utils import getaddresses, parseaddr
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mailer.sending.request import MAX_RECIPIENTS, parse_addresses
from mailer.storage.records import bare_addresses
from tests.conftest import auth_header
from tests.fake_zoho import ALIAS, DOCUMENTED_SEND_KEYS, PRIMARY, FakeZoho

Connected = tuple[Flask, FlaskClient, FakeZoho]
EXAMPLES = 1000


nasty_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(["\r\n", "\n", "Bcc: x@example.com", "\x00", "=?utf-8?q?x?=", "<>", "@", ","])
good_address = st.sampled_from(
    [
        "ann@example.com",
        "Ann Lee <ann@example.com>",
        '"Lee, Ann" <ann@example.com>',
        "zoë@exämple.de",
        "b+tag@sub.example.org",
        "Zoë <zoe@example.com>",
    ]
)
bad_address = (
    st.sampled_from(
        [
            "",
            "not an address",
            "a@b",
            "@example.com",
            "a@",
            "a@@example.com",
            "a@example.com\r\nBcc: v@x.com",
            "group: a@example.com;",
            "a@example.com,,b@example.com",
            "<a@example.com",
            "a b@example.com",
            "a@-example.com",
            '"unterminated <a@example.com>',
            "a@example.com>",
        ]
    )
    | nasty_text
)
address = good_address | bad_address
addresses = (
    address
    | st.lists(address, max_size=4)
    | st.integers()
    | st.none()
    | st.lists(good_address, min_size=140, max_size=160)
)
attachment = st.fixed_dictionaries(
    {},
    optional={
        "filename": st.sampled_from(["a.pdf", "", "../x", "a\r\n.pdf", "ok.txt"])
        | nasty_text
        | st.integers(),
        "content": st.sampled_from(["JVBERi0=", "%%%", "", "YQ", "YWJj"]) | nasty_text,
        "content_type": st.sampled_from(["application/pdf", "pdf", "text/plain", ""])
        | st.integers(),
        "extra": st.integers(),
    },
)
send_request = st.fixed_dictionaries(
    {},
    optional={
        "to": addresses,
        "cc": addresses,
        "bcc": addresses,
        "from": st.sampled_from([PRIMARY, ALIAS, "stranger@example.com", f"X <{PRIMARY}>"])
        | nasty_text,
        "subject": nasty_text | st.sampled_from(["Hello", "Grüße ☃", "x" * 1000]) | st.integers(),
        "html": nasty_text | st.none() | st.integers(),
        "text": nasty_text | st.none() | st.lists(st.integers()),
        "attachments": st.lists(attachment, max_size=2) | nasty_text,
        "Subject": st.just("typo"),
    },
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=8,
)
good_attachment = st.fixed_dictionaries(
    {
        "filename": st.sampled_from(["invoice.pdf", "a b.txt", "ünï.csv"]),
        "content": st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
    },
    optional={"content_type": st.sampled_from(["application/pdf", "text/plain"])},
)
valid_request = st.fixed_dictionaries(
    {
        "to": good_address | st.lists(good_address, min_size=1, max_size=3),
        "subject": st.sampled_from(["Hello", "Grüße ☃", "Invoice #42"]),
    },
    optional={
        "text": st.text(max_size=30),
        "html": st.text(min_size=1, max_size=30),
        "cc": st.lists(good_address, max_size=2),
        "bcc": good_address,
        "from": st.sampled_from([PRIMARY, ALIAS]),
        "attachments": st.lists(good_attachment, max_size=2),
    },
).map(lambda r: r if "text" in r or "html" in r else {**r, "text": "body"})
send_request_fields = {
    "to",
    "cc",
    "bcc",
    "from",
    "subject",
    "html",
    "text",
    "attachments",
    "Subject",
}


@st.composite
def one_field_mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request with one field replaced by anything the broad strategy makes."""
    request = draw(valid_request)
    field = draw(st.sampled_from(sorted(send_request_fields)))
    broad = draw(send_request.filter(lambda r: field in r))
    return {**request, field: broad[field]}


def assert_valid_at_zoho(payload: dict[str, Any]) -> None:
    """What the fake received must be a well-formed message."""
    assert set(payload) <= DOCUMENTED_SEND_KEYS - {"isSchedule", "askReceipt"}
    for key in ("fromAddress", "toAddress", "ccAddress", "bccAddress", "subject"):
        value = payload.get(key, "")
        assert "\r" not in value and "\n" not in value and "\x00" not in value
    total = 0
    for key in ("toAddress", "ccAddress", "bccAddress"):
        if payload.get(key):
            total += len(parse_addresses(key, payload[key]))
            assert all(addr for _, addr in getaddresses([payload[key]]))
    assert 1 <= total <= MAX_RECIPIENTS
    assert payload["subject"].strip()
    assert payload["mailFormat"] in ("html", "plaintext")


def test_generated_requests_never_5xx_and_never_reach_zoho_invalid(connected: Connected) -> None:
    _, client, fake = connected
    document = client.get("/api/email/openapi.json").get_json()
    error_schema = Draft202012Validator({**document, "$ref": "#/components/schemas/Error"})
    result_schema = Draft202012Validator({**document, "$ref": "#/components/schemas/SendResult"})
    sent_requests = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(
        body=valid_request | one_field_mutated() | send_request | json_value,
        mode=st.sampled_from(["json"] * 8 + ["truncated", "not declared json"]),
    )
    def one(body: Any, mode: str) -> None:
        nonlocal sent_requests
        before = len(fake.sent)
        raw = json.dumps(body)
        declared = "text/plain" if mode == "not declared json" else "application/json"
        if mode == "truncated":
            raw = raw[:-1]
        response = client.post(
            "/api/email/send", data=raw, content_type=declared, headers=auth_header()
        )
        sent_requests += 1
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code == 200:
            result_schema.validate(response.get_json())
            assert len(fake.sent) == before + 1
            assert_valid_at_zoho(fake.sent[-1])
        else:
            error_schema.validate(response.get_json())
            assert len(fake.sent) == before

    one()
    assert sent_requests >= EXAMPLES
    assert len(fake.sent) > EXAMPLES // 10  # plenty of generated requests were valid and went out


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.emails(),
        st.builds(lambda n, a: f"{n} <{a}>", st.text(max_size=10), st.emails()),
    )
)
def test_a_recipients_bare_address_is_what_the_standard_library_reads(recipient: str) -> None:
    """The fast path for a plain address agrees with email.utils.parseaddr on any text."""
    assert bare_addresses([recipient]) == (parseaddr(recipient)[1].lower(),)
