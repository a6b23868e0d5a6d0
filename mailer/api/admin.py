"""The admin API: mailboxes, their connect links and their keys (HTTP Basic, MAILER_ADMIN_KEY)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from mailer.api import answers
from mailer.api.incoming import gateway, read_json, require_admin

bp = Blueprint("mailboxes", __name__, url_prefix="/api/email/mailboxes")


@bp.before_request
def _admin_only() -> None:
    require_admin()


@bp.post("")
def create() -> tuple[Response, int]:
    created = gateway().admin.create(read_json())
    body = {**answers.mailbox(created.view), "connect_url": created.link.url}
    return jsonify(body), 201


@bp.get("")
def list_all() -> Response:
    return jsonify({"mailboxes": [answers.mailbox(v) for v in gateway().admin.all()]})


@bp.get("/<name>")
def one(name: str) -> Response:
    return jsonify(answers.mailbox(gateway().admin.get(name)))


@bp.delete("/<name>")
def delete(name: str) -> tuple[str, int]:
    gateway().admin.delete(name)
    return "", 204


@bp.post("/<name>/connect-link")
def connect_link(name: str) -> tuple[Response, int]:
    return jsonify(answers.connect_link(gateway().admin.connect_link(name))), 201


@bp.post("/<name>/keys")
def issue_key(name: str) -> tuple[Response, int]:
    issued = gateway().admin.issue_key(name)
    return jsonify({"id": issued.id, "mailbox": issued.mailbox, "key": issued.key}), 201


@bp.delete("/<name>/keys/<key_id>")
def revoke_key(name: str, key_id: str) -> tuple[str, int]:
    gateway().admin.revoke_key(key_id, name)
    return "", 204
