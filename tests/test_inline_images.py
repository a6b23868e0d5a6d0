"""Inline images: an attachment with content_id is uploaded with Zoho's inline flag, and the
HTML's cid: reference becomes the URL Zoho gives it; other attachments stay attachments."""

from __future__ import annotations

import base64
import email
from email import policy
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import auth_header
from tests.fake_zoho import FakeZoho

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.4 invoice"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


MESSAGE = {
    "to": "paula@example.com",
    "subject": "Your invoice",
    "html": '<p><img src="cid:logo@acme"> Invoice attached.</p>',
    "attachments": [
        {
            "filename": "logo.png",
            "content": b64(PNG),
            "content_type": "image/png",
            "content_id": "logo@acme",
        },
        {"filename": "invoice.pdf", "content": b64(PDF), "content_type": "application/pdf"},
    ],
}


def test_an_inline_image_is_uploaded_inline_and_referenced_by_its_url(
    connected: tuple[Flask, FlaskClient, FakeZoho],
) -> None:
    _, client, fake = connected
    sent = client.post("/api/email/send", json=MESSAGE, headers=auth_header())
    assert sent.status_code == 200, sent.get_json()
    assert fake.inline_uploads == [[("logo.png", PNG, "image/png")]]
    assert fake.uploads == [[("invoice.pdf", PDF, "application/pdf")]]
    [body] = fake.sent
    assert "cid:logo@acme" not in body["content"]
    assert '<img src="/zm/ImageSignature?fileName=' in body["content"]
    assert [a["attachmentName"] for a in body["attachments"]] == ["invoice.pdf"]
    inline_call = next(c for c in fake.mail_calls if c.form.get("isInline") == "true")
    assert inline_call.form["uploadType"] == "multipart"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"html": None, "text": "no html"}, "inline_needs_html"),
        ({"content_id": "has space"}, "invalid_content_id"),
        ({"content_id": "<logo>"}, "invalid_content_id"),
    ],
)
def test_bad_inline_images_are_400(
    connected: tuple[Flask, FlaskClient, FakeZoho], change: dict[str, str | None], code: str
) -> None:
    _, client, fake = connected
    message = {**MESSAGE, "attachments": [dict(MESSAGE["attachments"][0])]}  # type: ignore[index]
    if "content_id" in change:
        message["attachments"][0]["content_id"] = change["content_id"]  # type: ignore[index]
    else:
        message.pop("html")
        message["text"] = "no html"
    answer = client.post("/api/email/send", json=message, headers=auth_header())
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == code
    assert fake.sent == [] and fake.inline_uploads == []


def test_two_images_with_one_content_id_both_go_and_the_html_shows_the_first(
    connected: tuple[Flask, FlaskClient, FakeZoho],
) -> None:
    _, client, fake = connected
    first = MESSAGE["attachments"][0]  # type: ignore[index]
    second = {**first, "filename": "other.png"}
    answer = client.post(
        "/api/email/send", json={**MESSAGE, "attachments": [first, second]}, headers=auth_header()
    )
    assert answer.status_code == 200, answer.get_json()
    assert [name for name, _, _ in fake.inline_uploads[0]] == ["logo.png", "other.png"]
    [body] = fake.sent
    assert body["content"].count("/zm/ImageSignature?") == 1  # cid:logo@acme, once


def test_the_dry_run_writes_the_image_as_an_inline_part(
    make_settings: object, make_app: object, tmp_path: Path
) -> None:
    settings = make_settings(None, transport="outbox", api_keys=())  # type: ignore[operator]
    _, client = make_app(settings)  # type: ignore[operator]
    sent = client.post("/api/email/send", json=MESSAGE)
    assert sent.status_code == 200
    [eml] = (tmp_path / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    parts = {part.get_filename(): part for part in parsed.iter_attachments()}
    assert parts["logo.png"]["Content-ID"] == "<logo@acme>"
    assert parts["logo.png"].get_content_disposition() == "inline"
    assert parts["invoice.pdf"].get_content_disposition() == "attachment"
