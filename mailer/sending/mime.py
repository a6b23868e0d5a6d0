"""A message that arrived over SMTP, as the send request an HTTP caller would have made.

The standard library's parser (``policy.default``) decodes encoded headers and display names;
the envelope decides who receives it. Knows neither aiosmtpd nor Zoho.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from email import message_from_bytes
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from mailer.runtime.errors import InvalidRequest
from mailer.sending.request import CONTENT_ID

NO_SUBJECT = "(no subject)"
# Headers the send request carries, or that only describe the MIME structure or the way the
# message came; any other (Reply-To, Message-ID, X-...) Zoho's API has no field for.
CARRIED_HEADERS = frozenset(
    h.lower()
    for h in (
        *("From", "To", "Cc", "Bcc", "Subject", "Date", "MIME-Version", "Content-Type"),
        *("Content-Transfer-Encoding", "Content-Disposition", "Content-ID", "Received"),
        "Return-Path",
    )
)
DROPPED_METADATA_KEY = "smtp_dropped_headers"


class _ParsedOnce(HeaderRegistry):
    """policy.default's headers, each parsed once: the stdlib parses a header anew on every
    read (Content-Type about eight times a message), and the header objects are immutable."""

    def __init__(self) -> None:
        super().__init__()
        self._parse = functools.lru_cache(maxsize=4096)(super().__call__)

    def __call__(self, name: str, value: str) -> Any:
        return self._parse(name, value)


POLICY = default_policy.clone(header_factory=_ParsedOnce())


def _addresses(message: EmailMessage, header: str) -> list[Address]:
    try:
        value = message[header]
        return list(value.addresses) if value is not None else []
    except Exception as exc:  # a header the parser cannot read into addresses
        raise InvalidRequest(f"the {header} header is not a valid address list") from exc


def _formatted(address: Address) -> str:
    """``Name <addr>``, quoted where RFC 5322 needs it (a comma in the name), or ``addr``."""
    return str(address) if address.display_name else address.addr_spec


def _recipients(
    message: EmailMessage, envelope: list[str], sender: str | None
) -> dict[str, list[str]]:
    """To and Cc as the headers name them, of those the envelope delivers to; the envelope's
    other recipients as Bcc. With none of To and Cc in the envelope (a client that sends each
    Bcc copy on its own), the sender is the To and every envelope recipient a Bcc."""
    wanted = {r.lower() for r in envelope}
    named: dict[str, list[str]] = {"to": [], "cc": []}
    seen: set[str] = set()
    for field, header in (("to", "To"), ("cc", "Cc")):
        for address in _addresses(message, header):
            spec = address.addr_spec.lower()
            if spec in wanted and spec not in seen:
                named[field].append(_formatted(address))
                seen.add(spec)
    bcc = [r for r in dict.fromkeys(envelope) if r.lower() not in seen]
    if not named["to"] and not named["cc"]:
        return {"to": [sender] if sender else bcc[:1], "bcc": bcc if sender else bcc[1:]}
    return {**named, "bcc": bcc}


def _parts(part: EmailMessage) -> Iterator[EmailMessage]:
    """The leaves of the MIME tree; an attached message (message/rfc822) is one leaf, whole."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part
        return
    for child in part.iter_parts():
        assert isinstance(child, EmailMessage)
        yield from _parts(child)


def _attachment(part: EmailMessage, *, inline_ok: bool) -> dict[str, Any]:
    if part.get_content_type() == "message/rfc822":
        attached = next(part.iter_parts())  # the message within
        content = attached.as_bytes()
        default_name = "attached-message.eml"
    else:
        payload = part.get_payload(decode=True) or b""
        assert isinstance(payload, bytes)  # a leaf's payload, decoded
        content = payload
        default_name = "attachment"
    attachment: dict[str, Any] = {
        "filename": (part.get_filename() or default_name).replace("/", "_").replace("\\", "_"),
        "content": base64.b64encode(content).decode(),
        "content_type": part.get_content_type(),
    }
    content_id = (part.get("Content-ID") or "").strip().strip("<>")
    if inline_ok and CONTENT_ID.fullmatch(content_id):
        attachment["content_id"] = content_id
    return attachment


def send_request(data: bytes, envelope_recipients: list[str]) -> dict[str, Any]:
    """The send request body for a message received over SMTP (RFC 5322 bytes); headers it
    cannot carry are named in its metadata."""
    message = message_from_bytes(data, policy=POLICY)
    assert isinstance(message, EmailMessage)
    senders = _addresses(message, "From")
    if len(senders) != 1:
        raise InvalidRequest("the From header must name exactly one address", field="from")
    sender = senders[0].addr_spec.lower()
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    body_parts = {id(p) for p in (html_part, text_part) if p is not None}
    html = html_part.get_content() if html_part is not None else None
    text = text_part.get_content() if text_part is not None else None
    attachments = [
        _attachment(part, inline_ok=html is not None)
        for part in _parts(message)
        if id(part) not in body_parts and part is not message
    ]
    subject = str(message.get("Subject") or "").strip() or NO_SUBJECT
    request: dict[str, Any] = {
        **_recipients(message, envelope_recipients, sender),
        "from": sender,
        "subject": subject,
    }
    if html is not None:
        request["html"] = html
    if text is not None or html is None:
        request["text"] = text or ""
    if attachments:
        request["attachments"] = attachments
    dropped = sorted({k for k in message if k.lower() not in CARRIED_HEADERS}, key=str.lower)
    if dropped:
        # Kept with the message (its view, its webhooks), so that it is never silently lost.
        request["metadata"] = {DROPPED_METADATA_KEY: ", ".join(dropped)[:500]}
    return request
