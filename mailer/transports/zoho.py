"""Sending through Zoho Mail: a valid token, the mailbox's account, the payload, one retry on 401."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from mailer.mailboxes.tokens import TokenService, require_usable
from mailer.runtime.clock import Clock
from mailer.runtime.errors import (
    AccountNotFound,
    GatewayError,
    NotReady,
    SenderForbidden,
    SenderNotAllowed,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    ZohoThrottled,
    ZohoUnknownAnswer,
)
from mailer.sending.request import OutgoingMessage
from mailer.storage.ports import MailboxStore, SingleFlight
from mailer.storage.records import Attachment, Mailbox
from mailer.transports import Readiness, Receipt
from mailer.transports.zoho_readiness import readiness_of
from mailer.zoho.account import Account, choose_account
from mailer.zoho.mail import (
    MailAccountBlocked,
    MailError,
    MailRejected,
    MailThrottled,
    MailTimeout,
    MailTokenRejected,
    MailUnknown,
    UploadedAttachment,
    ZohoMail,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Validation codes that mean the gateway built a wrong request, not the caller.
GATEWAY_FAULT_CODES = frozenset({"EXTRA_KEY_FOUND_IN_JSON", "PATTERN_NOT_MATCHED"})
# A sender unknown to the cached send-as list triggers a fresh look-up at most this often.
ACCOUNT_REFRESH_SECONDS = 60
# How long a caller is asked to wait after Zoho throttled us.
THROTTLE_RETRY_AFTER_SECONDS = 60


def zoho_payload(
    message: OutgoingMessage,
    sender: str,
    uploaded: list[UploadedAttachment],
    inline: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The send request's JSON, with only the keys Zoho documents (it rejects any other).

    ``inline`` maps each inline image's content id to the URL of its inline upload: the HTML's
    ``cid:`` references become those URLs, which is how Zoho's HTML finds an inline image."""
    content = message.body
    for content_id, url in (inline or {}).items():
        content = content.replace(f"cid:{content_id}", url)
    payload: dict[str, Any] = {
        "fromAddress": sender,
        "toAddress": ",".join(message.to),
        "subject": message.subject,
        "content": content,
        "mailFormat": "html" if message.is_html else "plaintext",
    }
    if message.cc:
        payload["ccAddress"] = ",".join(message.cc)
    if message.bcc:
        payload["bccAddress"] = ",".join(message.bcc)
    if uploaded:
        payload["attachments"] = [
            {
                "storeName": a.store_name,
                "attachmentPath": a.attachment_path,
                "attachmentName": a.attachment_name,
            }
            for a in uploaded
        ]
    return payload


def as_gateway_error(exc: MailError) -> GatewayError:
    """What the caller is told when Zoho Mail failed."""
    if isinstance(exc, MailTimeout):
        return UpstreamTimeout(f"Zoho Mail did not answer in time: {exc.reason}")
    if isinstance(exc, MailThrottled):
        return ZohoThrottled(
            f"Zoho Mail is throttling this mailbox: {exc.reason}; try again later",
            retry_after_seconds=THROTTLE_RETRY_AFTER_SECONDS,
        )
    if isinstance(exc, MailTokenRejected):
        return UpstreamError(
            f"Zoho Mail refused a freshly renewed access token: {exc.reason}",
            code="zoho_token_rejected",
        )
    if isinstance(exc, MailUnknown):
        return ZohoUnknownAnswer(
            f"Zoho Mail answered what the gateway has no rule for: {exc.reason}; the message "
            "waits and is retried",
            call=exc.call,
            zoho_status=exc.status,
            zoho_error_code=exc.error_code,
            description=exc.description,
            blocks_account=isinstance(exc, MailAccountBlocked),
        )
    if isinstance(exc, MailRejected):
        caller_can_fix = exc.error_code not in GATEWAY_FAULT_CODES
        return UpstreamRejected(
            f"Zoho Mail rejected the message: {exc.reason}",
            zoho_error_code=exc.error_code,
            zoho_status=exc.status or 400,
            caller_can_fix=caller_can_fix,
        )
    return UpstreamError(f"Zoho Mail failed: {exc.reason}")


class ZohoTransport:
    """Sends each message through Zoho Mail for the configured connection."""

    def __init__(
        self,
        *,
        mailbox: str,
        mailboxes: MailboxStore,
        tokens: TokenService,
        mail: ZohoMail,
        locks: SingleFlight,
        clock: Clock,
        account_id: str | None,
        default_sender: str | None,
        api_domain: str,
    ) -> None:
        self._mailbox = mailbox
        self._mailboxes = mailboxes
        # The mailbox's row as the last accept found it usable (see admit).
        self._kept: Mailbox | None = None
        self._tokens = tokens
        self._mail = mail
        self._locks = locks
        self._clock = clock
        self._account_id = account_id
        self._default_sender = default_sender.lower() if default_sender else None
        self._api_domain = api_domain
        self._account_checked_at = float("-inf")

    def send(self, message: OutgoingMessage, message_id: str) -> Receipt:
        try:
            account = self._unblocked(self.account())
            sender = self._sender(message.sender, account)
            uploaded = self._upload(account, [a for a in message.attachments if not a.content_id])
            images = [a for a in message.attachments if a.content_id]
            inline: dict[str, str] = {}
            for a, u in zip(images, self._upload(account, images, inline=True), strict=True):
                inline.setdefault(str(a.content_id), str(u.url))  # the first of a content_id
            payload = zoho_payload(message, sender, uploaded, inline)
            sent = self._with_token(
                lambda c, token: self._mail.send(c.mail_api_url, token, account.account_id, payload)
            )
        except MailError as exc:
            raise as_gateway_error(exc) from exc
        return Receipt(id=message_id, zoho_message_id=sent.message_id, mail_id=sent.mail_id)

    def _upload(
        self, account: Account, attachments: list[Attachment], *, inline: bool = False
    ) -> list[UploadedAttachment]:
        """One multipart upload of ``attachments`` (none: no call)."""
        if not attachments:
            return []
        files = [(a.filename, a.content, a.content_type) for a in attachments]
        return self._with_token(
            lambda c, token: self._mail.upload_attachments(
                c.mail_api_url, token, account.account_id, files, inline=inline
            )
        )

    def account(self, *, refresh: bool = False) -> Account:
        """The mailbox to send from: looked up once (single flight) and kept in the store."""
        connection = self._connection()
        if connection.account is not None and not refresh:
            return connection.account
        with self._locks.hold(f"account-{self._mailbox}"):
            connection = self._connection()
            if connection.account is not None and not refresh:
                return connection.account
            accounts = self._with_token(lambda c, token: self._mail.accounts(c.mail_api_url, token))
            self._account_checked_at = self._clock.now()
            account = choose_account(
                accounts,
                account_id=self._account_id or connection.account_id,
                from_address=self._default_sender,
            )
            if account is None:
                raise AccountNotFound(
                    "the connected Zoho user has no mailbox matching ZOHO_ACCOUNT_ID / "
                    "ZOHO_FROM_ADDRESS; check them, or reconnect at /api/email/auth"
                )
            self._mailboxes.save_account(self._mailbox, account)
            log.info(
                "sending from Zoho account %s (%s)", account.account_id, account.primary_address
            )
            return account

    def _unblocked(self, account: Account) -> Account:
        """The account, unless Zoho's look-up says its outgoing mail is blocked (asked again
        before each try while it says so): then the mailbox holds."""
        if account.outgoing_blocked:
            account = self.account(refresh=True)
        if account.outgoing_blocked:
            raise ZohoUnknownAnswer(
                "Zoho's account look-up says the account's outgoing mail is blocked",
                call="accounts",
                zoho_status=200,
                zoho_error_code="outgoingBlocked",
                description="outgoingBlocked: true in the account look-up",
                blocks_account=True,
            )
        return account

    def look_up_account(self) -> None:
        """Read the account and its send-as addresses from Zoho again."""
        try:
            self.account(refresh=True)
        except MailError as exc:
            raise as_gateway_error(exc) from exc

    def hold_reason(self) -> NotReady | None:
        try:
            self._connection()
        except NotReady as exc:
            return exc
        return None

    def admit(self, message: OutgoingMessage) -> int | None:
        """503 while no message can go out; with the mailbox known, 403 for a sender it refuses.

        Checked against the row this worker keeps from its last accept, when it has one that
        takes the message: the store refuses the message if the row changed since (its
        generation), and the caller checks it again against the row as it is then. A kept
        row that refuses is never trusted: the stored row decides."""
        kept = self._kept
        if kept is not None:
            try:
                self._check(kept, message.sender, look_up=False)
                return kept.generation
            except GatewayError:
                pass
        fresh = self._connection()  # raises the hold reason
        self._check(fresh, message.sender, look_up=False)
        self._kept = fresh
        return fresh.generation

    def forget_kept(self) -> None:
        self._kept = None

    def check_sender(self, sender: str | None, *, look_up: bool = False) -> None:
        self._check(self._connection(), sender, look_up=look_up)  # raises the hold reason

    def _check(self, mailbox: Mailbox, sender: str | None, *, look_up: bool) -> None:
        account = mailbox.account
        try:
            if account is None and look_up:
                account = self.account()
            if account is None:
                return  # checked at delivery, once the account is looked up
            self._sender(sender, account)
        except (MailError, NotReady) as exc:
            log.info("could not re-check the sender now (%s); it is checked at delivery", exc)

    def calls_for(self, message: OutgoingMessage) -> int:
        """The send, one upload for the attachments, one for the inline images."""
        inline = any(a.content_id for a in message.attachments)
        regular = any(not a.content_id for a in message.attachments)
        return 1 + int(inline) + int(regular)

    def readiness(self) -> Readiness:
        stored = self._mailboxes.get(self._mailbox)
        return readiness_of(stored, now=self._clock.now(), api_domain=self._api_domain)

    def _connection(self) -> Mailbox:
        return require_usable(self._mailboxes.get(self._mailbox), self._mailbox)

    def _sender(self, requested: str | None, account: Account) -> str:
        sender = requested or self._default_sender or account.primary_address
        if sender in account.send_as:
            return sender
        if self._clock.now() - self._account_checked_at >= ACCOUNT_REFRESH_SECONDS:
            # The admin may have added an alias since the list was cached.
            account = self.account(refresh=True)
            if sender in account.send_as:
                return sender
        if requested is None:
            raise SenderNotAllowed(
                f"ZOHO_FROM_ADDRESS {sender} is not a send-as address of the mailbox "
                f"{account.primary_address}"
            )
        raise SenderForbidden(
            f"{sender} is not a send-as address of this mailbox; allowed: "
            + ", ".join(account.send_as),
            field="from",
        )

    def _with_token(self, call: Callable[[Mailbox, str], T]) -> T:
        """Call Zoho with the current token; on 401, renew once (single flight) and retry once."""
        connection, token = self._tokens.credentials(self._mailbox)
        try:
            return call(connection, token)
        except MailTokenRejected:
            log.info("Zoho Mail refused the access token; renewing once and retrying")
            token = self._tokens.renew_after_rejection(self._mailbox, token)
            return call(connection, token)  # a renewal changes the token, not the Mail API host
