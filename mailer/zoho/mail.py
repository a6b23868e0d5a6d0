"""Zoho Mail's REST API: the account lookup, attachment upload and send, with its answers classified.

Errors come in Zoho's envelope ``{"data": {"errorCode": ...}, "status": {"code": n}}``, but
Zoho documents few of its answers, so only those it documents have a rule:

MailError
├── MailTokenRejected   401 INVALID_OAUTHTOKEN: renew the token once and retry once
├── MailThrottled       429 or a throttle errorCode: pause, do not fail the message
├── MailRejected        a documented input-validation code: this message is wrong
├── MailUnknown         any other answer (a new code, a 403, a body that is not Zoho's
│   │                   envelope, a success status with an error inside): retry, never fail
│   ├── MailAccountBlocked  an answer that says the account may not send now
│   └── MailScopeMissing    INVALID_OAUTHSCOPE (401 or 404): the consent lacks the scope;
│                           a new token cannot help, only a new consent
└── MailUnavailable     5xx, connection error: transient
    └── MailTimeout     no answer within the timeout
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

from mailer.zoho.account import Account, as_id, parse_accounts
from mailer.zoho.http import ZohoSession, call_name, json_body

THROTTLE_CODES = frozenset({"URL_ROLLING_THROTTLES_LIMIT_EXCEEDED", "THROTTLES_LIMIT_EXCEEDED"})
# Zoho's input-validation codes (the shared IAM framework's): the request itself is wrong, so
# sending the same message again cannot help. Only these fail a message for good.
VALIDATION_CODES = frozenset(
    {
        "INVALID_DATA",
        "EXTRA_KEY_FOUND_IN_JSON",
        "PATTERN_NOT_MATCHED",
        "LESS_THAN_MIN_OCCURANCE",
        "JSON_PARSE_ERROR",
    }
)
# Words of an answer that says the account may not send now (Zoho's "Mail Outgoing blocked",
# a sending limit reached). No document names the code, so the words decide; a wrong guess only
# holds the mailbox sooner, it never fails a message.
BLOCKED_WORDS = ("BLOCK", "LIMIT_EXCEEDED", "SENDING_LIMIT", "SUSPEND")


class MailError(Exception):
    """Zoho Mail did not do what we asked; ``reason`` is safe to log and show."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        description: str | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.error_code = error_code
        # Zoho's own words (status.description and moreInfo), as it gave them.
        self.description = description
        # Which call met it ("send", "upload", "accounts"), set by the client.
        self.call = "other"


class MailTokenRejected(MailError):
    """The access token was refused (expired, revoked or superseded)."""


class MailThrottled(MailError):
    """Zoho asked us to slow down."""


class MailRejected(MailError):
    """Zoho refused this request; sending it again will not help."""


class MailUnknown(MailError):
    """Zoho answered something no rule covers: the message waits and is retried."""


class MailAccountBlocked(MailUnknown):
    """Zoho says the account may not send now (outgoing blocked, a sending limit)."""


class MailScopeMissing(MailUnknown):
    """The mailbox's consent did not grant this call's scope."""


class MailUnavailable(MailError):
    """Zoho failed or could not be reached; worth retrying."""


class MailTimeout(MailUnavailable):
    """Zoho did not answer within the timeout."""


@dataclass(frozen=True)
class SentMessage:
    """Zoho's ids for a message it accepted."""

    message_id: str | None
    mail_id: str | None


@dataclass(frozen=True)
class UploadedAttachment:
    """A file in Zoho's store, ready to be referenced by a message."""

    store_name: str
    attachment_path: str
    attachment_name: str
    # Inline uploads: where the HTML's <img> finds it.
    url: str | None = None


class ZohoOAuth(requests.auth.AuthBase):
    """Zoho's authorization header: ``Zoho-oauthtoken <token>``."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Zoho-oauthtoken {self._access_token}"
        return request


def _envelope_error(response: requests.Response, body: dict[str, Any] | None) -> MailError:
    """Classify a reply that is not a success: by rule where Zoho documents one, else unknown."""
    status = response.status_code
    data = body.get("data") if body else None
    error_code = data.get("errorCode") if isinstance(data, dict) else None
    error_code = error_code if isinstance(error_code, str) else None
    words = _description(body)
    reason = f"Zoho Mail answered HTTP {status}" + (f" {error_code}" if error_code else "")
    if words:
        reason += f" ({words})"
    kind: type[MailError]
    if error_code == "INVALID_OAUTHSCOPE":
        kind = MailScopeMissing
    elif status == 401 or error_code == "INVALID_OAUTHTOKEN":
        kind = MailTokenRejected
    elif status == 429 or error_code in THROTTLE_CODES:
        kind = MailThrottled
    elif status >= 500:
        kind = MailUnavailable
    elif 400 <= status < 500 and error_code in VALIDATION_CODES:
        kind = MailRejected
    elif any(word in f"{error_code} {words}".upper().replace(" ", "_") for word in BLOCKED_WORDS):
        kind = MailAccountBlocked
    else:
        kind = MailUnknown
    return kind(reason, status=status, error_code=error_code, description=words or None)


def _description(body: dict[str, Any] | None) -> str:
    """Zoho's words in an error envelope: ``status.description`` and ``data.moreInfo``."""
    if body is None:
        return ""
    status = body.get("status")
    data = body.get("data")
    parts = [
        status.get("description") if isinstance(status, dict) else None,
        data.get("moreInfo") if isinstance(data, dict) else None,
    ]
    return "; ".join(p[:200] for p in parts if isinstance(p, str) and p)


def _status_ok(response: requests.Response, body: dict[str, Any] | None) -> bool:
    if response.status_code not in (200, 201) or body is None:
        return False
    status = body.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    return str(code) in ("200", "201")


class ZohoMail:
    """Client of Zoho Mail's API; the base URL and token are per connection, so each call names them."""

    def __init__(self, session: ZohoSession) -> None:
        self._session = session

    def accounts(self, base_url: str, access_token: str) -> list[Account]:
        """Every mailbox the token's user can send from."""
        body = self._call("GET", f"{base_url}/api/accounts", access_token)
        return parse_accounts(body.get("data"))

    def upload_attachments(
        self,
        base_url: str,
        access_token: str,
        account_id: str,
        files: Sequence[tuple[str, bytes, str]],
        *,
        inline: bool = False,
    ) -> list[UploadedAttachment]:
        """Upload (filename, content, content type) files in one multipart request; with
        ``inline``, as images of the HTML body (each gets a ``url``)."""
        params = {"uploadType": "multipart", **({"isInline": "true"} if inline else {})}
        body = self._call(
            "POST",
            f"{base_url}/api/accounts/{account_id}/messages/attachments",
            access_token,
            params=params,
            files=[("attach", (name, content, kind)) for name, content, kind in files],
        )
        data = body.get("data")
        entries = data if isinstance(data, list) else [data]
        uploaded = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise MailUnavailable("Zoho's upload reply has no attachment entry")
            names = (
                entry.get("storeName"),
                entry.get("attachmentPath"),
                entry.get("attachmentName"),
            )
            if not all(isinstance(n, str | int) for n in names):
                raise MailUnavailable("Zoho's upload reply lacks storeName or attachmentPath")
            url = entry.get("url")
            if inline and not isinstance(url, str):
                raise MailUnavailable("Zoho's inline upload reply has no url")
            store_name, path, name = (str(n) for n in names)
            uploaded.append(
                UploadedAttachment(store_name, path, name, url if isinstance(url, str) else None)
            )
        if len(uploaded) != len(files):
            raise MailUnavailable(
                f"Zoho stored {len(uploaded)} attachments of the {len(files)} uploaded"
            )
        return uploaded

    def send(
        self, base_url: str, access_token: str, account_id: str, payload: dict[str, Any]
    ) -> SentMessage:
        """Send one message; ``payload`` holds only keys Zoho documents."""
        body = self._call(
            "POST", f"{base_url}/api/accounts/{account_id}/messages", access_token, json=payload
        )
        data = body.get("data")
        data = data if isinstance(data, dict) else {}
        mail_id = data.get("mailId")
        return SentMessage(
            message_id=as_id(data.get("messageId")),
            mail_id=mail_id if isinstance(mail_id, str) else None,
        )

    def _call(self, method: str, url: str, access_token: str, **kwargs: Any) -> dict[str, Any]:
        return call_mail_api(self._session, method, url, access_token, **kwargs)


def call_mail_api(
    session: ZohoSession, method: str, url: str, access_token: str, **kwargs: Any
) -> dict[str, Any]:
    """One Mail API call: its envelope on success, else the classified ``MailError``."""
    try:
        response = session.request(method, url, auth=ZohoOAuth(access_token), **kwargs)
    except requests.Timeout as exc:
        raise MailTimeout("Zoho Mail did not answer in time") from exc
    except requests.RequestException as exc:
        raise MailUnavailable(f"could not reach Zoho Mail ({type(exc).__name__})") from exc
    body = json_body(response)
    if not _status_ok(response, body):
        error = _envelope_error(response, body)
        error.call = call_name(url)
        raise error
    assert body is not None
    return body
