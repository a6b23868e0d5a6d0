"""The live check: what the Zoho that the settings point at really answers, step by step.

``flask --app app mailer check --to ADDRESS`` renews a token, looks up the account, and sends
four messages to ADDRESS only (plain text; HTML to display names with a comma and non-ASCII
letters; a file with a non-ASCII name; an inline image), each within the mailbox's pace. Every
call and Zoho's answer can be written to a transcript with each token, address, account id and
message id replaced by a placeholder, in the form the project's fake Zoho replays.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

import requests

from mailer.mailboxes.tokens import Renewal, TokenService
from mailer.runtime import pacing
from mailer.runtime.clock import Clock
from mailer.runtime.errors import GatewayError, UpstreamRejected, ZohoUnknownAnswer
from mailer.sending.request import parse_send_request
from mailer.storage.outbox_ports import CallLedger
from mailer.storage.records import Mailbox
from mailer.transports.zoho import ZohoTransport, as_gateway_error
from mailer.zoho.http import ZohoSession, call_name
from mailer.zoho.inbox import ZohoInbox
from mailer.zoho.mail import MailError, MailScopeMissing

SUBJECT = "[gateway check]"
# What a mailbox's mail says (read back by the read_back step): never in a transcript.
_PRIVATE_TEXT = frozenset({"content", "summary", "subject"})
# The smallest PNG: one transparent pixel.
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
    )
).decode()


@dataclass(frozen=True)
class CheckRow:
    step: str
    result: str  # "pass", "fail" or "skipped"
    http_status: int | None = None
    code: str | None = None
    todo: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "result": self.result,
            "http_status": self.http_status,
            "code": self.code,
            "todo": self.todo,
        }


@dataclass
class Recorder:
    """Zoho's answers as they come, through a response hook on the Session; each written to
    the transcript (if any) with every secret, address and id replaced."""

    transcript: TextIO | None = None
    step: str = ""
    last_status: int | None = None
    _names: dict[str, str] = field(default_factory=dict)

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_status = response.status_code
        if self.transcript is None:
            return
        request = response.request
        parts = urlsplit(str(request.url))
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        line = {
            "step": self.step,
            "call": call_name(str(request.url)),
            "method": request.method,
            "path": self._scrub(parts.path),
            "query": {k: self._scrub(v) for k, v in parse_qsl(parts.query) if k != "token"},
            "status": response.status_code,
            "content_type": response.headers.get("Content-Type", ""),
            "body": self._scrub(body) if body is not None else None,
            "text": None if body is not None else self._scrub(response.text[:500]),
        }
        self.transcript.write(json.dumps(line, ensure_ascii=False) + "\n")

    def _scrub(self, value: Any) -> Any:
        """Every token, address, account id and message id as a stable placeholder."""
        if isinstance(value, dict):
            return {
                k: "<token>"
                if "token" in k.lower()
                else "<text>"
                if k in _PRIVATE_TEXT
                else self._scrub(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and value > 10**9:
            return self._placeholder(str(value), "id")
        if not isinstance(value, str):
            return value
        value = re.sub(r"\b\d{4}\.[0-9a-fA-F.]{16,}", "<token>", value)
        value = re.sub(
            r"<[^<>\s]+@[^<>\s]+>", lambda m: self._placeholder(m.group(0), "mail_id"), value
        )
        value = re.sub(
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
            lambda m: self._placeholder(m.group(0), "address"),
            value,
        )
        return re.sub(r"\d{10,}", lambda m: self._placeholder(m.group(0), "id"), value)

    def _placeholder(self, secret: str, kind: str) -> str:
        if secret not in self._names:
            count = sum(1 for v in self._names.values() if v.startswith(f"<{kind}-"))
            self._names[secret] = f"<{kind}-{count + 1}>"
        return self._names[secret]


@dataclass(frozen=True)
class LiveCheck:
    """One mailbox against the Zoho its settings name."""

    mailbox: str
    to: str
    tokens: TokenService
    transport: ZohoTransport
    ledger: CallLedger
    limits: tuple[pacing.RateLimit, ...]
    clock: Clock
    # The Session every call to Zoho goes through: the recorder listens on it.
    session: ZohoSession

    def run(self, transcript: TextIO | None = None) -> list[CheckRow]:
        recorder = Recorder(transcript)
        rows: list[CheckRow] = []
        with self._recording(recorder):
            for step, work in self._steps():
                recorder.step = step
                recorder.last_status = None
                rows.append(self._row(step, work, recorder))
            rows.append(self._read_back_row(recorder))
        return rows

    def _read_back_row(self, recorder: Recorder) -> CheckRow:
        """Reading the mailbox back, as the bounce poll does: when its consent allows."""
        try:
            mailbox, token = self.tokens.credentials(self.mailbox)
        except GatewayError as exc:
            return CheckRow("read_back", "fail", None, exc.code, exc.message)
        if not mailbox.can_read():
            return CheckRow(
                "read_back",
                "skipped",
                todo="its consent does not allow reading the mailbox: set MAILER_BOUNCES=on "
                "and connect it again",
            )
        recorder.step, recorder.last_status = "read_back", None
        return self._row("read_back", lambda: self._read_back(mailbox, token), recorder)

    def _read_back(self, mailbox: Mailbox, token: str) -> None:
        """The Inbox found, the last day's list read, and the newest message read whole."""
        account = mailbox.account_id
        if account is None:
            raise GatewayError("no Zoho account is known for this mailbox", code="no_account")
        inbox = ZohoInbox(self.session)
        base = mailbox.mail_api_url
        try:
            folder = inbox.inbox_folder_id(base, token, account)
            since = int((self.clock.now() - 86400) * 1000)
            rows, _ = inbox.rows_since(base, token, account, folder, since, max_pages=1)
            raw = inbox.original(base, token, account, rows[-1].message_id) if rows else None
        except MailScopeMissing as exc:
            raise GatewayError(
                "Zoho says the consent does not allow reading the mailbox; connect it again",
                code=exc.error_code or "INVALID_OAUTHSCOPE",
            ) from exc
        except MailError as exc:
            raise as_gateway_error(exc) from exc
        if raw is not None and not message_from_bytes(raw).keys():
            raise GatewayError(
                "Zoho's original message has no header the gateway can read",
                code="original_unreadable",
            )

    def _steps(self) -> Iterator[tuple[str, Callable[[], object]]]:
        yield "token", self._renew
        yield "account", self.transport.look_up_account
        yield "plain", lambda: self._send("plain", {"text": "A plain-text check."})
        yield (
            "names",
            lambda: self._send(
                "names",
                {"html": "<p>Names with a comma and letters beyond ASCII.</p>"},
                to=f'"Doe, Jane Ünïcödé" <{self.to}>',
            ),
        )
        yield (
            "attachment",
            lambda: self._send(
                "attachment",
                {
                    "text": "A file with a name beyond ASCII.",
                    "attachments": [
                        {
                            "filename": "Übersicht - Prüfung.txt",
                            "content": base64.b64encode("grüße\n".encode()).decode(),
                            "content_type": "text/plain",
                        }
                    ],
                },
            ),
        )
        yield (
            "inline",
            lambda: self._send(
                "inline",
                {
                    "html": '<p>An inline image: <img src="cid:pixel" alt="pixel"></p>',
                    "attachments": [
                        {"filename": "pixel.png", "content": PIXEL, "content_id": "pixel"}
                    ],
                },
            ),
        )

    def _row(self, step: str, work: Callable[[], object], recorder: Recorder) -> CheckRow:
        try:
            work()
        except ZohoUnknownAnswer as exc:
            return CheckRow(
                step,
                "fail",
                exc.zoho_status,
                exc.zoho_error_code,
                "Zoho answered what the gateway has no rule for: run again with --transcript "
                "FILE and send us the file (it holds no token, address or id)",
            )
        except UpstreamRejected as exc:
            return CheckRow(
                step, "fail", exc.zoho_status, exc.zoho_error_code, f"Zoho refused: {exc.message}"
            )
        except GatewayError as exc:
            return CheckRow(step, "fail", recorder.last_status, exc.code, exc.message)
        return CheckRow(step, "pass", recorder.last_status)

    def _renew(self) -> None:
        result = self.tokens.renew(self.mailbox, lambda mailbox, now: True)
        if result.outcome is not Renewal.RENEWED:
            stored = result.mailbox
            why = stored.last_renewal_outcome if stored else None
            raise GatewayError(
                f"the renewal {result.outcome.value}"
                + (f" ({why})" if why else "")
                + "; reconnect the mailbox if Zoho refuses its refresh token",
                code=f"renewal_{result.outcome.value}",
            )

    def _send(self, step: str, body: dict[str, Any], *, to: str | None = None) -> None:
        message = parse_send_request({"to": to or self.to, "subject": f"{SUBJECT} {step}", **body})
        calls = self.transport.calls_for(message)
        while (
            wait := self.ledger.take(
                self.mailbox, calls, pacing.windows_for(self.limits), now=self.clock.now()
            )
        ) > 0:
            self.clock.sleep(wait)  # the check counts toward the mailbox's pace
        self.transport.send(message, f"check-{step}")

    @contextmanager
    def _recording(self, recorder: Recorder) -> Iterator[None]:
        hooks = self.session.hooks["response"]
        hooks.append(recorder)
        try:
            yield
        finally:
            hooks.remove(recorder)
