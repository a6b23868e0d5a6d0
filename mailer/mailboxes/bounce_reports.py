"""Reading a bounce: which recipients failed, hard or soft, with what status, and which of
our messages the bounce answers.

Three readers, most exact first: an RFC 3464 delivery-status report (Postfix, Exim with DSN,
Exchange, Gmail), Zoho's own notice (``multipart/mixed`` with ``ERROR_CODE`` lines, no
report), and flufl.bounce's detectors for every other MTA's prose. An ordinary mail, a reply
or an auto-reply reads as no bounce.

The reader only reports; it trusts nothing it found. flufl.bounce also names the quoted
Message-ID and the sending mailbox as "addresses", so a bounce's recipients count only once
matched against the recipients of the message it answers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from typing import Literal

from flufl.bounce import all_failures

BounceKind = Literal["hard", "soft"]

_LOG = logging.getLogger(__name__)
# A failure's codes, not a part of an address such as 192.0.2.45.
_ENHANCED_STATUS = re.compile(r"(?<![\w.])([45])\.(\d{1,3})\.(\d{1,3})(?![\w.])")
_SMTP_REPLY = re.compile(r"(?<![\w.])([45])\d\d(?![\w.])")
_MESSAGE_ID = re.compile(r"^Message-ID:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
_ZOHO_HARD = re.compile(r"^(\S+@\S+) .*?ERROR_CODE :(\d{3})(.*)$", re.MULTILINE)
_ZOHO_SOFT = re.compile(r"\[Status: \w+, Address: <([^>]+)>, ResponseCode (\d{3}),([^\]]*)\]")
_DIAGNOSTIC_CHARS = 300


@dataclass(frozen=True, slots=True)
class Failure:
    """One recipient a bounce reports: ``status`` is the enhanced code (``5.1.1``), or the
    class alone (``5.0.0``) when the bounce gives none."""

    recipient: str
    kind: BounceKind
    status: str
    diagnostic: str


@dataclass(frozen=True, slots=True)
class BounceReport:
    """A bounce as read: the Message-ID of the message it returns (None when the bounce
    quotes none, as Exim's ``bounce_return_message = false``) and who failed."""

    original_message_id: str | None
    failures: tuple[Failure, ...]


def read_bounce(raw: bytes) -> BounceReport | None:
    """The bounce ``raw`` (one message's original MIME) reports, or None for no bounce."""
    message = message_from_bytes(raw)
    failures = _delivery_status(message) or _zoho_notice(message) or _detected(message)
    original = _original_message_id(message)
    not_recipients = {_address(str(value)) for value in _own_addresses(message)}
    not_recipients.add((original or "").lower())
    kept = tuple(failure for failure in failures if failure.recipient not in not_recipients)
    return BounceReport(original, kept) if kept else None


def _own_addresses(message: Message) -> list[object]:
    """The mailbox the bounce came back to, which flufl.bounce may name as failing."""
    return [*message.get_all("to", []), *message.get_all("delivered-to", [])]


def _delivery_status(message: Message) -> list[Failure]:
    """RFC 3464: each per-recipient block of a ``message/delivery-status`` part."""
    failures = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks[1:]:
            if not isinstance(block, Message):
                continue
            # The address as we gave it, when the MTA rewrote it on the way (Postfix does).
            recipient = _typed_address(
                block.get("original-recipient") or block.get("final-recipient")
            )
            action = str(block.get("action", "")).strip().lower()
            status = _status(str(block.get("status", "")), "")
            if not recipient or action not in {"failed", "delayed"}:
                continue
            kind: BounceKind = "hard" if action == "failed" and status.startswith("5") else "soft"
            status = status or ("5.0.0" if kind == "hard" else "4.0.0")
            diagnostic = _typed_value(block.get("diagnostic-code"))
            failures.append(Failure(recipient, kind, status, diagnostic))
    return failures


def _zoho_notice(message: Message) -> list[Failure]:
    """Zoho's mailer-daemon notice: ``addr Invalid Address, ERROR_CODE :550, ...`` lines for a
    permanent error, ``[Status: Error, Address: <addr>, ResponseCode 421, ...]`` for a delay."""
    if "zoho" not in str(message.get("x-mailer", "")).lower() and "x-zohomail" not in message:
        return []
    text = _text(message)
    failures = []
    for address, code, rest in _ZOHO_HARD.findall(text):
        line = f"{code}{rest}".strip()
        kind: BounceKind = "hard" if code.startswith("5") else "soft"
        failures.append(Failure(address.lower(), kind, _status(line, code), _clip(line)))
    for address, code, rest in _ZOHO_SOFT.findall(text):
        line = f"{code} {rest.strip(' ,')}".strip()
        failures.append(Failure(address.lower(), "soft", _status(line, code), _clip(line)))
    return failures


def _detected(message: Message) -> list[Failure]:
    """flufl.bounce's detectors, for the MTAs whose bounce is prose; the status and the
    diagnostic are read from the lines about each address."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector raising: IndexError on a bounce without From
        _LOG.warning("a bounce the detectors could not read was skipped")
        return []
    text = _text(message)
    found = [(address, "hard") for address in permanent]
    found += [(address, "soft") for address in temporary]
    failures = []
    for address, kind in found:
        recipient = address.decode("utf-8", "replace").lower()
        diagnostic = _lines_about(text, recipient)
        default = "5.0.0" if kind == "hard" else "4.0.0"
        status = _status(diagnostic, default) if diagnostic else default
        failures.append(Failure(recipient, _kind(kind), status, _clip(diagnostic)))
    return failures


def _kind(value: str) -> BounceKind:
    return "hard" if value == "hard" else "soft"


def _original_message_id(message: Message) -> str | None:
    """The returned message's Message-ID: from a ``message/rfc822`` or headers part, else
    the first one quoted in the text (Zoho's notice, Exim's copy)."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(first, Message) and first.get("message-id"):
                return _inside_angles(str(first["message-id"]))
        if content_type == "text/rfc822-headers":
            found = _MESSAGE_ID.search(_decoded(part))
            if found:
                return found.group(1)
    found = _MESSAGE_ID.search(_text(message))
    return found.group(1) if found else None


def _status(text: str, fallback: str) -> str:
    enhanced = _ENHANCED_STATUS.search(text)
    if enhanced:
        return ".".join(enhanced.groups())
    reply = _SMTP_REPLY.search(text)
    cls = reply.group(1) if reply else fallback[:1]
    return f"{cls}.0.0" if cls else ""


def _lines_about(text: str, recipient: str) -> str:
    """The line naming ``recipient`` and the indented lines under it, as one line."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if recipient in line.lower():
            block = [line.strip()]
            for following in lines[index + 1 : index + 4]:
                if not following.strip() or not following[:1].isspace():
                    break
                block.append(following.strip())
            return " ".join(block)
    return ""


def _text(message: Message) -> str:
    """Every text part, decoded, one after another."""
    return "\n".join(
        _decoded(part) for part in message.walk() if part.get_content_maintype() == "text"
    )


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return payload.decode(part.get_content_charset() or "utf-8", "replace")


def _typed_address(value: object) -> str:
    """``rfc822; a@b`` → ``a@b``."""
    return _address(_typed_value(value))


def _typed_value(value: object) -> str:
    text = " ".join(str(value or "").split())
    return _clip(text.split(";", 1)[1].strip() if ";" in text else text)


def _address(value: str) -> str:
    return _inside_angles(value).lower()


def _inside_angles(value: str) -> str:
    text = value.strip()
    if "<" in text and ">" in text:
        text = text[text.index("<") + 1 : text.index(">")]
    return text.strip()


def _clip(text: str) -> str:
    return text[:_DIAGNOSTIC_CHARS]
