"""A message as the API and webhooks show it: where it stands, never its body."""

from __future__ import annotations

from typing import Any

from mailer.runtime.clock import utc_iso
from mailer.storage.records import StoredMessage


def message_view(stored: StoredMessage) -> dict[str, Any]:
    """A message as ``GET /api/email/messages/<id>`` shows it (never its body)."""
    return {
        "id": stored.id,
        "mailbox": stored.mailbox,
        "status": stored.status,
        "subject": stored.payload.get("subject"),
        "to": stored.payload.get("to", []),
        "cc": stored.payload.get("cc", []),
        "bcc_count": len(stored.payload.get("bcc", [])),
        "tags": stored.payload.get("tags", []),
        "metadata": stored.payload.get("metadata", {}),
        "source": stored.payload.get("source", "http"),
        "send_at": utc_iso(stored.next_attempt_at) if stored.status == "scheduled" else None,
        "attempts": stored.attempts,
        "next_attempt_at": utc_iso(stored.next_attempt_at) if stored.status == "queued" else None,
        "last_error": None
        if stored.last_error_code is None
        else {
            "code": stored.last_error_code,
            "message": stored.last_error,
            "zoho_error_code": stored.zoho_error_code,
        },
        "zoho_message_id": stored.zoho_message_id,
        "mail_id": stored.mail_id,
        "created_at": utc_iso(stored.created_at),
        "updated_at": utc_iso(stored.updated_at),
        "finished_at": utc_iso(stored.finished_at),
    }
