"""What a send request means: every kind of bad input gets its own code and field."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mailer.runtime.errors import InvalidRequest
from mailer.sending.request import parse_send_request

OK = {"to": "paula@example.com", "subject": "Hello", "text": "hi"}


def test_a_full_message() -> None:
    message = parse_send_request(
        {
            "to": ['"Lee, Ann" <ann@example.com>', "bob@example.com, carl@example.com"],
            "cc": "Dora <dora@example.com>",
            "bcc": ["eve@example.com"],
            "from": "Support@Zylker.com",
            "subject": "Grüße ☃",
            "html": "<p>hi</p>",
            "text": "hi",
            "attachments": [
                {
                    "filename": "a.pdf",
                    "content": base64.b64encode(b"%PDF").decode(),
                    "content_type": "application/pdf",
                }
            ],
        }
    )
    assert message.to == ('"Lee, Ann" <ann@example.com>', "bob@example.com", "carl@example.com")
    assert message.cc == ("Dora <dora@example.com>",)
    assert message.sender == "support@zylker.com"
    assert message.body == "<p>hi</p>"
    assert message.is_html
    assert message.attachments[0].content == b"%PDF"
    assert message.recipient_count == 5


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ([1, 2], None, "invalid_body"),
        ("text", None, "invalid_body"),
        ({**OK, "to": ""}, "to", "missing_field"),
        ({**OK, "to": []}, "to", "missing_field"),
        ({k: v for k, v in OK.items() if k != "to"}, "to", "missing_field"),
        ({**OK, "to": "not an address"}, "to", "invalid_address"),
        ({**OK, "to": "a@b"}, "to", "invalid_address"),
        ({**OK, "to": "a@example.com,,b@example.com"}, "to", "invalid_address"),
        ({**OK, "to": "group: a@example.com;"}, "to", "invalid_address"),
        ({**OK, "to": 5}, "to", "invalid_type"),
        ({**OK, "to": ["a@example.com", 5]}, "to", "invalid_type"),
        ({**OK, "to": "a@example.com\r\nBcc: victim@example.com"}, "to", "header_injection"),
        ({**OK, "to": "Eve\n <a@example.com>"}, "to", "header_injection"),
        ({**OK, "cc": "broken@"}, "cc", "invalid_address"),
        ({**OK, "bcc": {"a": 1}}, "bcc", "invalid_type"),
        ({**OK, "subject": "Hi\r\nBcc: victim@example.com"}, "subject", "header_injection"),
        ({**OK, "subject": None}, "subject", "missing_field"),
        ({**OK, "subject": "  "}, "subject", "missing_field"),
        ({**OK, "subject": 3}, "subject", "invalid_type"),
        ({**OK, "subject": "x" * 999}, "subject", "subject_too_long"),
        ({"to": "a@example.com", "subject": "s"}, "text", "missing_body"),
        ({**OK, "text": 5}, "text", "invalid_type"),
        ({**OK, "html": ["x"]}, "html", "invalid_type"),
        ({**OK, "to": [f"r{i}@example.com" for i in range(151)]}, "to", "too_many_recipients"),
        (
            {
                **OK,
                "to": [f"r{i}@example.com" for i in range(100)],
                "cc": [f"c{i}@example.com" for i in range(51)],
            },
            "to",
            "too_many_recipients",
        ),
        ({**OK, "from": "A <support@zylker.com>"}, "from", "display_name_not_supported"),
        ({**OK, "from": "a@example.com, b@example.com"}, "from", "invalid_address"),
        ({**OK, "from": 7}, "from", "invalid_type"),
        ({**OK, "Subject": "typo"}, "Subject", "unknown_field"),
        ({**OK, "attachments": "x"}, "attachments", "invalid_type"),
        ({**OK, "attachments": ["x"]}, "attachments[0]", "invalid_type"),
        (
            {**OK, "attachments": [{"content": _b64(b"x")}]},
            "attachments[0].filename",
            "missing_filename",
        ),
        (
            {**OK, "attachments": [{"filename": "", "content": _b64(b"x")}]},
            "attachments[0].filename",
            "missing_filename",
        ),
        (
            {**OK, "attachments": [{"filename": "../etc/passwd", "content": _b64(b"x")}]},
            "attachments[0].filename",
            "invalid_filename",
        ),
        (
            {**OK, "attachments": [{"filename": "a\r\n.pdf", "content": _b64(b"x")}]},
            "attachments[0].filename",
            "header_injection",
        ),
        (
            {**OK, "attachments": [{"filename": "a.pdf", "content": "%%%not base64"}]},
            "attachments[0].content",
            "invalid_base64",
        ),
        (
            {**OK, "attachments": [{"filename": "a.pdf", "content": 5}]},
            "attachments[0].content",
            "invalid_type",
        ),
        (
            {
                **OK,
                "attachments": [
                    {"filename": "a.pdf", "content": _b64(b"x"), "content_type": "pdf"}
                ],
            },
            "attachments[0].content_type",
            "invalid_content_type",
        ),
        (
            {**OK, "attachments": [{"filename": "a.pdf", "content": _b64(b"x"), "size": 1}]},
            "attachments[0].size",
            "unknown_field",
        ),
    ],
)
def test_bad_input_is_refused_with_its_code_and_field(
    body: Any, field: str | None, code: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_send_request(body)
    assert raised.value.code == code
    assert raised.value.field == field
    assert raised.value.status == 400
    assert raised.value.message


def test_exactly_150_recipients_are_allowed() -> None:
    message = parse_send_request({**OK, "to": [f"r{i}@example.com" for i in range(150)]})
    assert message.recipient_count == 150


def test_international_domains_are_sent_in_their_ascii_form() -> None:
    message = parse_send_request({**OK, "to": ["zoe@exämple.de", "Zoë <zoe@exämple.de>"]})
    assert message.to == ("zoe@xn--exmple-cua.de", "Zoë <zoe@xn--exmple-cua.de>")


def test_a_non_ascii_local_part_is_refused_clearly() -> None:
    with pytest.raises(InvalidRequest, match="before the @-sign") as raised:
        parse_send_request({**OK, "to": "zoë@example.com"})
    assert raised.value.code == "invalid_address"
