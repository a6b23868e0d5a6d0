"""The admin API: mailboxes, their connect links and their keys (HTTP Basic, MAILER_ADMIN_KEY)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from mailer.api.incoming import gateway, read_json, require_admin
from mailer.mailboxes.view import connect_link_view, mailbox_view, suppression_view

bp = Blueprint("mailboxes", __name__, url_prefix="/api/email/mailboxes")


@bp.before_request
def _admin_only() -> None:
    require_admin()


@bp.post("")
def create() -> tuple[Response, int]:
    created = gateway().admin.create(read_json())
    body = {**mailbox_view(created.view), "connect_url": created.link.url}
    return jsonify(body), 201


@bp.get("")
def list_all() -> Response:
    return jsonify({"mailboxes": [mailbox_view(v) for v in gateway().admin.all()]})


@bp.get("/<name>")
def one(name: str) -> Response:
    return jsonify(mailbox_view(gateway().admin.get(name)))


@bp.delete("/<name>")
def delete(name: str) -> tuple[str, int]:
    gateway().admin.delete(name)
    return "", 204


@bp.post("/<name>/connect-link")
def connect_link(name: str) -> tuple[Response, int]:
    return jsonify(connect_link_view(gateway().admin.connect_link(name))), 201


@bp.post("/<name>/resume")
def resume(name: str) -> Response:
    return jsonify(mailbox_view(gateway().admin.resume(name)))


@bp.get("/<name>/suppressions")
def suppressions(name: str) -> Response:
    return jsonify(
        {"suppressions": [suppression_view(s) for s in gateway().admin.suppressions(name)]}
    )


@bp.post("/<name>/suppressions")
def suppress(name: str) -> tuple[Response, int]:
    return jsonify(suppression_view(gateway().admin.suppress(name, read_json()))), 201


@bp.delete("/<name>/suppressions/<address>")
def unsuppress(name: str, address: str) -> tuple[str, int]:
    gateway().admin.unsuppress(name, address)
    return "", 204


@bp.post("/<name>/keys")
def issue_key(name: str) -> tuple[Response, int]:
    issued = gateway().admin.issue_key(name)
    return jsonify({"id": issued.id, "mailbox": issued.mailbox, "key": issued.key}), 201


@bp.delete("/<name>/keys/<key_id>")
def revoke_key(name: str, key_id: str) -> tuple[str, int]:
    gateway().admin.revoke_key(key_id, name)
    return "", 204
