"""The dry-run transport: each message becomes an RFC 5322 ``.eml`` file instead of a send."""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from mailer.runtime.clock import Clock
from mailer.runtime.errors import NotReady
from mailer.sending.request import OutgoingMessage
from mailer.transports import Readiness, Receipt

log = logging.getLogger(__name__)

DRY_RUN_SENDER = "gateway@localhost"


def to_email(
    message: OutgoingMessage, sender: str, *, sent_at: float, message_id: str
) -> EmailMessage:
    """The message as a standard email, as a mail server would see it (Bcc kept for the record)."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(message.to)
    if message.cc:
        email["Cc"] = ", ".join(message.cc)
    if message.bcc:
        email["Bcc"] = ", ".join(message.bcc)
    email["Subject"] = message.subject
    email["Date"] = format_datetime(datetime.fromtimestamp(sent_at, UTC))
    email["Message-ID"] = message_id
    if message.text is not None:
        email.set_content(message.text)
    if message.html is not None:
        if message.text is not None:
            email.add_alternative(message.html, subtype="html")
        else:
            email.set_content(message.html, subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if attachment.content_id:
            email.add_attachment(
                attachment.content,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                disposition="inline",
                cid=f"<{attachment.content_id}>",
            )
            continue
        email.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return email


class DryRunTransport:
    """Writes ``<id>.eml`` files to a directory and answers as if Zoho had sent them."""

    def __init__(self, directory: Path, clock: Clock, default_sender: str | None) -> None:
        self._directory = directory
        self._clock = clock
        self._default_sender = default_sender or DRY_RUN_SENDER

    def send(self, message: OutgoingMessage, message_id: str) -> Receipt:
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mail_id = make_msgid(domain="dry-run.invalid")
        email = to_email(
            message,
            message.sender or self._default_sender,
            sent_at=self._clock.now(),
            message_id=mail_id,
        )
        target = self._directory / f"{message_id}.eml"
        # Write then rename, so that a reader never sees half a file.
        fd, temporary = tempfile.mkstemp(dir=self._directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(email.as_bytes())
        os.replace(temporary, target)
        log.info("dry run: wrote %s (%d recipients)", target, message.recipient_count)
        return Receipt(id=message_id, zoho_message_id=None, mail_id=mail_id, dry_run=True)

    def hold_reason(self) -> NotReady | None:
        return None

    def admit(self, message: OutgoingMessage) -> int | None:
        """The dry run takes every message, from any sender."""
        return None

    def forget_kept(self) -> None:
        """The dry run keeps no row."""

    def check_sender(self, sender: str | None, *, look_up: bool = False) -> None:
        """The dry run takes any sender."""

    def look_up_account(self) -> None:
        """The dry run has no upstream account."""

    def calls_for(self, message: OutgoingMessage) -> int:
        return 0

    def readiness(self) -> Readiness:
        return Readiness(
            ready=True,
            reason=f"dry run: messages are written to {self._directory} instead of sent; "
            "to send through Zoho, set ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, MAILER_API_KEYS and "
            "either ZOHO_REFRESH_TOKEN or MAILER_ADMIN_KEY (then connect at /api/email/auth)",
            details={"transport": "outbox", "dry_run": True, "outbox_dir": str(self._directory)},
        )
