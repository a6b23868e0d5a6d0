"""The OpenAPI document is valid, served, and describes the answers the gateway really gives."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.conftest import auth_header
from tests.fake_zoho import FakeZoho

Connected = tuple[Flask, FlaskClient, FakeZoho]


def check(document: dict[str, Any], schema: str, instance: Any) -> None:
    """Validate ``instance`` against a component schema of the document."""
    Draft202012Validator({**document, "$ref": f"#/components/schemas/{schema}"}).validate(instance)


def test_the_document_is_valid_openapi_and_covers_every_route(connected: Connected) -> None:
    app, client, _ = connected
    response = client.get("/api/email/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    routes = {
        r.rule.replace("<", "{").replace(">", "}")
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/email")
    }
    assert routes == set(document["paths"])


def test_real_answers_match_their_schemas(connected: Connected) -> None:
    _, client, fake = connected
    document = client.get("/api/email/openapi.json").get_json()
    ok = client.post(
        "/api/email/send",
        json={"to": "a@example.com", "subject": "s", "text": "t"},
        headers=auth_header(),
    )
    check(document, "SendResult", ok.get_json())
    check(document, "Status", client.get("/api/email/status", headers=auth_header()).get_json())
    check(document, "Status", client.get("/api/email/status").get_json())
    for bad in (
        client.post("/api/email/send", json={"to": 1}, headers=auth_header()),
        client.post("/api/email/send", json={}),
        client.get("/nowhere"),
    ):
        check(document, "Error", bad.get_json())
    fake.mail_failures.append("reject:INVALID_DATA")
    rejected = client.post(
        "/api/email/send",
        json={"to": "a@example.com", "subject": "s", "text": "t"},
        headers=auth_header(),
    )
    check(document, "Error", rejected.get_json())


def test_the_schema_refuses_what_the_api_refuses_for_blank_recipients(connected: Connected) -> None:
    """A fuzzer found the schema taking ``to: ""``, which the API refuses (missing_field)."""
    _, client, _ = connected
    document = client.get("/api/email/openapi.json").get_json()
    validator = Draft202012Validator({**document, "$ref": "#/components/schemas/SendRequest"})
    for to in ("", " "):
        body = {"to": to, "subject": "s", "text": "t"}
        assert not validator.is_valid(body)
        assert client.post("/api/email/send", json=body, headers=auth_header()).status_code == 400
    body = {"to": "a@example.com", "cc": "", "subject": "s", "text": "t"}
    assert validator.is_valid(body)
    assert client.post("/api/email/send", json=body, headers=auth_header()).status_code in (
        200,
        202,
    )
