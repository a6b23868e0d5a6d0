"""A message's rows both ways: a new message as its row, its tags and attachments, and a
stored row as the record."""

from __future__ import annotations

import json
from typing import Any

from mailer.storage.admission_records import NewMessage
from mailer.storage.database import Row, Tx
from mailer.storage.records import Attachment, BounceRecord, StoredMessage

# A message's row as inserted, in the order of ``insert_row``.
COLUMNS = (
    "id", "mailbox", "status", "payload", "calls", "next_attempt_at", "lease_owner",
    "leased_until", "created_at", "updated_at", "seq", "digest", "subject", "recipients",
)  # fmt: skip
INSERT = f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


def new_message(new: NewMessage, *, now: float, leased_until: float | None) -> StoredMessage:
    """A message as it is stored: scheduled, queued, or leased for an attempt right now (with
    ``leased_until``)."""
    return StoredMessage(
        id=new.id,
        mailbox=new.mailbox,
        status="scheduled" if new.send_at else "sending" if leased_until else "queued",
        payload=new.payload,
        attachments=new.attachments,
        calls=new.calls,
        next_attempt_at=new.send_at or now,
        leased_until=leased_until,
        created_at=now,
        updated_at=now,
    )


def insert_message(
    tx: Tx,
    stored: StoredMessage,
    lease_owner: str | None,
    *,
    tags: tuple[str, ...],
    seq: int | None,
    digest: str | None,
) -> None:
    """A new message, its attachments and its tags, in the caller's transaction."""
    tx.execute(INSERT, insert_row(stored, lease_owner, seq, digest))
    insert_parts(tx, stored, tags)


def insert_parts(tx: Tx, stored: StoredMessage, tags: tuple[str, ...]) -> None:
    """A new message's attachments and tags, once its row is inserted."""
    if stored.attachments:
        tx.executemany(
            "INSERT INTO message_attachments (message_id, position, filename,"
            " content_type, content, content_id) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (stored.id, i, a.filename, a.content_type, a.content, a.content_id)
                for i, a in enumerate(stored.attachments)
            ],
        )
    if tags:
        tx.executemany(
            "INSERT INTO message_tags (message_id, mailbox, tag, created_at) VALUES (?, ?, ?, ?)",
            [(stored.id, stored.mailbox, tag, stored.created_at) for tag in tags],
        )


def insert_row(
    stored: StoredMessage, lease_owner: str | None, seq: int | None, digest: str | None
) -> tuple[Any, ...]:
    return (
        *(stored.id, stored.mailbox, stored.status, json.dumps(stored.payload), stored.calls),
        *(stored.next_attempt_at, lease_owner, stored.leased_until, stored.created_at),
        *(stored.updated_at, seq, digest, stored.payload.get("subject"), recipients(stored)),
    )


def recipients(stored: StoredMessage) -> str:
    """What a search by recipient matches: to, cc and bcc as given, lower-cased."""
    payload = stored.payload
    return " ".join(str(a) for k in ("to", "cc", "bcc") for a in payload.get(k, ())).lower()


def lease(tx: Tx, message_id: str, owner: str, leased_until: float, now: float) -> None:
    """``owner`` holds the message for an attempt until ``leased_until``."""
    tx.execute(
        "UPDATE messages SET status = 'sending', lease_owner = ?, leased_until = ?,"
        " updated_at = ? WHERE id = ?",
        (owner, leased_until, now, message_id),
    )


# The columns read into a StoredMessage as they are.
_PLAIN = (
    "id", "mailbox", "status", "calls", "attempts", "next_attempt_at", "leased_until",
    "last_error_code", "last_error", "requeued_at", "zoho_error_code", "zoho_message_id",
    "mail_id", "created_at", "updated_at", "finished_at",
)  # fmt: skip


def stored_message(
    row: Row, attachments: list[Row], bounces: tuple[BounceRecord, ...] = ()
) -> StoredMessage:
    return StoredMessage(
        bounces=bounces,
        **{column: row[column] for column in _PLAIN},
        payload=json.loads(row["payload"]),
        attachments=tuple(
            Attachment(a["filename"], a["content_type"], bytes(a["content"]), a["content_id"])
            for a in attachments
        ),
    )


def bounces_of(tx: Tx, message_id: str) -> tuple[BounceRecord, ...]:
    rows = tx.rows(
        "SELECT recipient, kind, status, diagnostic, at FROM bounces WHERE message_id = ?"
        " ORDER BY at, recipient",
        (message_id,),
    )
    return tuple(_bounce(row) for row in rows)


def _bounce(row: Row) -> BounceRecord:
    return BounceRecord(row["recipient"], row["kind"], row["status"], row["diagnostic"], row["at"])
