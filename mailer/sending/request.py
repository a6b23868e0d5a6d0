"""What a send request means and how it is validated; knows neither Flask nor Zoho."""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.policy import default as default_policy
from typing import Any

from email_validator import EmailNotValidError, validate_email

from mailer.runtime.errors import InvalidRequest
from mailer.storage.records import Attachment, bare_addresses

# Zoho's cap on recipients of one message (to + cc + bcc), paid plans.
MAX_RECIPIENTS = 150
MAX_SUBJECT_CHARS = 998
MAX_ATTACHMENTS = 50
KNOWN_FIELDS = frozenset(
    {
        *("to", "cc", "bcc", "from", "subject", "html", "text", "attachments"),
        # What the gateway keeps with the message (send_options.py).
        *("send_at", "tags", "metadata"),
    }
)
# C0 controls and DEL; a CR or LF in a header is how header injection starts.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# One bare addr-spec: no display name, quotes, comments, groups or list separators.
_BARE = re.compile(r"^\s*[^\s<>\"(),:;\[\]\\]+@[^\s<>\"(),:;\[\]\\@]+\s*$")
CONTENT_ID = re.compile(r"^[A-Za-z0-9._@+-]{1,200}$")
# What base64.b64decode(validate=True) takes, padding included, and nothing else.
BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")


@dataclass(frozen=True)
class OutgoingMessage:
    """A validated message: addresses as RFC 5322 strings, one body, decoded attachments."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    sender: str | None
    subject: str
    html: str | None
    text: str | None
    attachments: tuple[Attachment, ...] = ()

    @property
    def body(self) -> str:
        """The one body Zoho takes: the HTML when there is one."""
        return self.html if self.html is not None else (self.text or "")

    @property
    def is_html(self) -> bool:
        return self.html is not None

    @property
    def recipient_count(self) -> int:
        return len(self.to) + len(self.cc) + len(self.bcc)

    @property
    def recipient_addresses(self) -> tuple[str, ...]:
        """Every recipient's bare address (lower case), to, cc and bcc."""
        return bare_addresses((*self.to, *self.cc, *self.bcc))


def _fail(field: str, code: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, field=field, code=code)


def _check_text(field: str, value: str, what: str) -> None:
    if _CONTROL.search(value):
        raise _fail(
            field, "header_injection", f"{what} must not contain line breaks or control characters"
        )


@functools.lru_cache(maxsize=4096)
def _normalised(raw: str) -> str:
    """email-validator's ASCII form of an addr-spec (no DNS look-up); cached, as it is pure.

    International domains become their xn-- form; a non-ASCII local part (SMTPUTF8) is refused,
    as Zoho's API does not document support for it.
    """
    checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    return str(checked.ascii_email or checked.normalized)


def _address(field: str, name: str, spec: str) -> Address:
    try:
        return Address(display_name=name, addr_spec=spec)
    except Exception as exc:  # the stdlib re-parses spec and raises its defects
        raise _fail(field, "invalid_address", f"{spec!r} is not a usable address") from exc


def _addr_spec(field: str, raw: str) -> str:
    """A validated, normalised addr-spec."""
    try:
        return _normalised(raw)
    except EmailNotValidError as exc:
        raise _fail(
            field, "invalid_address", f"{raw!r} is not a valid email address: {exc}"
        ) from exc


def parse_addresses(field: str, value: object) -> tuple[Address, ...]:
    """One address, a comma-separated string, or a list of either; each ``addr`` or ``Name <addr>``."""
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise _fail(field, "invalid_type", f"{field} must be a string or a list of strings")
    addresses: list[Address] = []
    for item in items:
        _check_text(field, item, "an address")
        if not item.strip():
            raise _fail(field, "invalid_address", f"{field} holds an empty address")
        if _BARE.match(item):
            # One bare addr@domain needs no header parser; email-validator checks it all.
            local, _, domain = _addr_spec(field, item.strip()).rpartition("@")
            addresses.append(Address(username=local, domain=domain))  # nothing to re-parse
            continue
        try:
            header = default_policy.header_factory("to", item)
            groups = header.groups
        except Exception as exc:  # the stdlib parser raises IndexError and others on junk
            raise _fail(
                field, "invalid_address", f"{item[:200]!r} is not a valid address list"
            ) from exc
        if header.defects or not groups or any(g.display_name is not None for g in groups):
            raise _fail(field, "invalid_address", f"{item[:200]!r} is not a valid address list")
        for group in groups:
            for address in group.addresses:
                spec = _addr_spec(field, address.addr_spec)
                name = address.display_name or ""
                _check_text(field, name, "a display name")
                addresses.append(_address(field, name, spec))
        if len(addresses) > MAX_RECIPIENTS:
            break
    return tuple(addresses)


def _optional_addresses(body: dict[str, Any], field: str) -> tuple[str, ...]:
    value = body.get(field)
    if value is None or value == [] or value == "":
        return ()
    return tuple(str(a) for a in parse_addresses(field, value))


def parse_sender(value: object, field: str = "from") -> str | None:
    """One bare sender address (lower case), or None when not given."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(field, "invalid_type", f"{field} must be a string")
    addresses = parse_addresses(field, value)
    if len(addresses) != 1:
        raise _fail(field, "invalid_address", f"{field} must be exactly one address")
    if addresses[0].display_name:
        raise _fail(
            field,
            "display_name_not_supported",
            "Zoho sends with the display name set for this address in Zoho Mail; "
            f"give the bare address in {field}",
        )
    return addresses[0].addr_spec.lower()


def _body_text(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(field, "invalid_type", f"{field} must be a string")
    return value or None


def _attachments(value: object) -> tuple[Attachment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail("attachments", "invalid_type", "attachments must be a list of objects")
    if len(value) > MAX_ATTACHMENTS:
        raise _fail("attachments", "too_many_attachments", f"at most {MAX_ATTACHMENTS} attachments")
    result: list[Attachment] = []
    for index, item in enumerate(value):
        field = f"attachments[{index}]"
        if not isinstance(item, dict):
            raise _fail(field, "invalid_type", f"{field} must be an object")
        unknown = set(item) - {"filename", "content", "content_type", "content_id"}
        if unknown:
            raise _fail(
                f"{field}.{sorted(unknown)[0]}",
                "unknown_field",
                f"{field} has an unknown key {sorted(unknown)[0]!r}",
            )
        filename = item.get("filename")
        if not isinstance(filename, str) or not filename.strip():
            raise _fail(f"{field}.filename", "missing_filename", f"{field} needs a file name")
        _check_text(f"{field}.filename", filename, "a file name")
        if "/" in filename or "\\" in filename or len(filename) > 255:
            raise _fail(
                f"{field}.filename",
                "invalid_filename",
                "a file name must not hold a path and must be at most 255 characters",
            )
        content = item.get("content")
        if not isinstance(content, str):
            raise _fail(
                f"{field}.content", "invalid_type", f"{field}.content must be a base64 string"
            )
        if not BASE64.fullmatch(content):
            raise _fail(
                f"{field}.content", "invalid_base64", f"{field}.content is not valid base64"
            )
        data = base64.b64decode(content)
        content_type = item.get("content_type", "application/octet-stream")
        if not isinstance(content_type, str) or not CONTENT_TYPE.fullmatch(content_type):
            raise _fail(
                f"{field}.content_type",
                "invalid_content_type",
                f"{field}.content_type must be a MIME type such as application/pdf",
            )
        content_id = item.get("content_id")
        if content_id is not None and (
            not isinstance(content_id, str) or not CONTENT_ID.fullmatch(content_id)
        ):
            raise _fail(
                f"{field}.content_id",
                "invalid_content_id",
                f"{field}.content_id is 1 to 200 of A-Z, a-z, 0-9 and . _ @ + -",
            )
        result.append(Attachment(filename.strip(), content_type.lower(), data, content_id))
    return tuple(result)


def parse_send_request(body: object) -> OutgoingMessage:
    """Validate a decoded JSON send request; raises InvalidRequest naming the field at fault."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_body")
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise _fail(
            unknown[0],
            "unknown_field",
            f"unknown field {unknown[0]!r}; known fields: {', '.join(sorted(KNOWN_FIELDS))}",
        )
    if body.get("to") in (None, "", []):
        raise _fail("to", "missing_field", "to is required: one or more recipient addresses")
    to = tuple(str(a) for a in parse_addresses("to", body["to"]))
    cc = _optional_addresses(body, "cc")
    bcc = _optional_addresses(body, "bcc")
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise _fail(
            "to",
            "too_many_recipients",
            f"at most {MAX_RECIPIENTS} recipients in to, cc and bcc together (Zoho's cap)",
        )
    subject = body.get("subject")
    if subject is None:
        raise _fail("subject", "missing_field", "subject is required")
    if not isinstance(subject, str):
        raise _fail("subject", "invalid_type", "subject must be a string")
    if not subject.strip():
        raise _fail("subject", "missing_field", "subject must not be empty")
    _check_text("subject", subject, "the subject")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise _fail(
            "subject", "subject_too_long", f"subject is over {MAX_SUBJECT_CHARS} characters"
        )
    html = _body_text(body, "html")
    text = _body_text(body, "text")
    if html is None and text is None:
        raise _fail("text", "missing_body", "give the message body in html or text")
    attachments = _attachments(body.get("attachments"))
    if html is None and any(a.content_id for a in attachments):
        raise _fail(
            "html",
            "inline_needs_html",
            "an attachment with content_id is an inline image of the HTML body: give html",
        )
    return OutgoingMessage(
        to=to,
        cc=cc,
        bcc=bcc,
        sender=parse_sender(body.get("from")),
        subject=subject,
        html=html,
        text=text,
        attachments=attachments,
    )
