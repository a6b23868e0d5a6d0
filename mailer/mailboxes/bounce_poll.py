"""Reading bounces back: every mailbox whose consent allows it has its Inbox read every
``poll_seconds`` by one worker of one host (a claim in the state store), from the newest message
the last read saw (its mark). The messages that look like bounces are fetched whole and read;
a bounce tied to a message of ours is kept, with what it changes.

Cost: with nothing new, one call per mailbox per read (the Inbox's id is looked up once and
kept). Every call counts toward the mailbox's pace, and a read takes no more than
``MAX_ORIGINALS`` bounces a pass, so sends are never starved; what it leaves waits for the next.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial

from mailer.mailboxes.bounce_reports import BounceReport, read_bounce
from mailer.mailboxes.tokens import TokenService
from mailer.runtime import metrics
from mailer.runtime.clock import Clock
from mailer.runtime.errors import GatewayError
from mailer.runtime.fanout import Fanout
from mailer.runtime.pacing import RateLimit
from mailer.sending.view import message_view
from mailer.storage.outbox_ports import CallLedger, EventMaker
from mailer.storage.ports import BounceStore
from mailer.storage.records import BounceRecord, StoredMessage, WebhookEvent
from mailer.zoho.inbox import PAGE_SIZE, InboxRow, ZohoInbox
from mailer.zoho.mail import MailError, MailRejected, MailScopeMissing, MailThrottled

log = logging.getLogger(__name__)

# A mailbox's first read starts this far back: the bounces of the last day's messages.
FIRST_LOOK_BACK_SECONDS = 86400.0
# A bounce without a Message-ID is weighed against messages sent this long before it.
TIE_WINDOW_SECONDS = 7 * 86400.0
# The most bounces one read fetches; the rest wait for the next read.
MAX_ORIGINALS = 10
# The most pages of the Inbox one read lists (Zoho's pages hold 200).
MAX_PAGES = 3
# How long a claim holds before another worker may read the mailbox.
CLAIM_SECONDS = 120.0
# How many mailboxes one pass claims at most.
MAX_CLAIMED = 16
_SENDERS = re.compile(r"^(mailer-daemon|mail-daemon|mailerdaemon|postmaster)@", re.IGNORECASE)
_SUBJECTS = re.compile(
    r"undeliver|delivery status notification|returned mail|delivery failure|failure notice"
    r"|mail delivery failed|delayed mail|could not be delivered|non-delivery|delivery has failed",
    re.IGNORECASE,
)


def looks_like_bounce(row: InboxRow) -> bool:
    """Whether a row is worth fetching whole: a mailer-daemon's or postmaster's, or a subject
    MTAs give their bounces. Replies and ordinary mail are never fetched."""
    return bool(_SENDERS.match(row.from_address) or _SUBJECTS.search(row.subject))


class BouncePoll:
    def __init__(
        self,
        *,
        store: BounceStore,
        tokens: TokenService,
        inbox: ZohoInbox,
        ledger: CallLedger,
        windows: tuple[RateLimit, ...],
        events: EventMaker,
        clock: Clock,
        fanout: Fanout,
        poll_seconds: float,
        look_up_account: Callable[[str], None],
    ) -> None:
        # Zoho's account look-up, for a mailbox that has sent nothing yet (the send looks up
        # its account on first use); it stores the account id.
        self._look_up_account = look_up_account
        self._store = store
        self._tokens = tokens
        self._inbox = inbox
        self._ledger = ledger
        self._windows = windows
        self._events = events
        self._clock = clock
        self._fanout = fanout
        self._poll_seconds = poll_seconds

    def run(self) -> int:
        """One pass: claim the mailboxes due to be read and read each; returns how many."""
        room = MAX_CLAIMED - self._fanout.busy()
        if room <= 0:
            return 0
        now = self._clock.now()
        names = self._store.claim_polls(
            now=now,
            claimed_until=now + CLAIM_SECONDS,
            first_mark_ms=int((now - FIRST_LOOK_BACK_SECONDS) * 1000),
            limit=room,
        )
        for name in names:
            if not self._fanout.submit(name, partial(self.read, name)):
                self._store.release(name, next_poll_at=now)
        return len(names)

    def read(self, name: str) -> int:
        """Read one claimed mailbox's Inbox from its mark; returns the bounces kept."""
        now = self._clock.now()
        try:
            kept, mark = self._read(name)
        except MailScopeMissing:
            log.warning(
                "mailbox %s: Zoho says its consent does not allow reading its messages;"
                " its owner must connect it again for bounces to be read",
                name,
            )
        except (MailError, GatewayError) as exc:
            log.warning("mailbox %s: bounces not read: %s", name, _reason(exc))
        else:
            if mark is not None:
                folder_id, mark_ms = mark
                self._store.advance(
                    name,
                    folder_id=folder_id,
                    mark_ms=mark_ms,
                    next_poll_at=now + self._poll_seconds,
                )
            return kept
        self._store.release(name, next_poll_at=now + self._poll_seconds)
        return 0

    def _read(self, name: str) -> tuple[int, tuple[str, int] | None]:
        mailbox, token = self._tokens.credentials(name)
        if mailbox.account_id is None:
            self._look_up_account(name)
            mailbox, token = self._tokens.credentials(name)
        account = mailbox.account_id
        if account is None:
            raise GatewayError("Zoho named no account for this mailbox")
        base = mailbox.mail_api_url
        folder_id, mark_ms = self._store.mark(name)
        if not self._pace(name, 1 if folder_id else 2):
            return 0, None  # the pace has no room: the next read
        if folder_id is None:
            folder_id = self._inbox.inbox_folder_id(base, token, account)
        rows, calls = self._inbox.rows_since(
            base, token, account, folder_id, mark_ms, max_pages=MAX_PAGES
        )
        if len(rows) >= MAX_PAGES * PAGE_SIZE:
            log.warning(
                "mailbox %s: %d messages or more arrived in its Inbox since the last read;"
                " older ones were not read for bounces",
                name,
                len(rows),
            )
        if calls > 1:
            self._ledger.take(name, calls - 1, self._windows, now=self._clock.now())
        kept = fetched = 0
        for row in rows:
            if looks_like_bounce(row):
                if fetched == MAX_ORIGINALS or not self._pace(name, 1):
                    return kept, (folder_id, row.received_ms - 1)
                fetched += 1
                kept += self._apply(name, row, self._report(base, token, account, row))
            mark_ms = row.received_ms
        return kept, (folder_id, mark_ms)

    def _report(self, base: str, token: str, account: str, row: InboxRow) -> BounceReport | None:
        """The bounce one row holds. A row Zoho will not give (gone, refused) or that nothing
        can read is passed over, so that one message never stalls the mailbox's reading; an
        outage, a throttle or a stale token ends the read (the mark stays)."""
        try:
            raw = self._inbox.original(base, token, account, row.message_id)
        except MailError as exc:
            gone = exc.status == 404 and not isinstance(exc, MailScopeMissing)
            if not (gone or isinstance(exc, MailRejected)):
                raise
            log.warning("a message in the Inbox was passed over: %s", exc)
            return None
        try:
            return read_bounce(raw)
        except Exception:  # a bounce that breaks the reader must not stall the mailbox
            log.exception("a message in the Inbox could not be read as a bounce")
            return None

    def _apply(self, name: str, row: InboxRow, report: BounceReport | None) -> int:
        if report is None:
            return 0
        at = row.received_ms / 1000
        message = self._store.tie(
            name,
            mail_id=report.original_message_id,
            recipients=[failure.recipient for failure in report.failures],
            since=at - TIE_WINDOW_SECONDS,
        )
        if message is None:
            return 0  # no message of ours: the bounce changes nothing
        ours = message.recipient_addresses
        bounces = [
            BounceRecord(f.recipient, f.kind, f.status, f.diagnostic, at)
            for f in report.failures
            if f.recipient in ours  # flufl.bounce may also name the quoted Message-ID
        ]
        if not bounces:
            return 0
        kept = self._store.record(
            message, row.message_id, bounces, now=self._clock.now(), event=self._event
        )
        if any(bounce.kind == "hard" for bounce in kept) and message.status == "sent":
            metrics.message_reached(name, "bounced")
        for bounce in kept:
            log.info(
                "message %s: a %s bounce for one recipient (%s)",
                message.id,
                bounce.kind,
                bounce.status,
            )
        return len(kept)

    def _event(self, message: StoredMessage) -> WebhookEvent | None:
        return self._events("message.bounced", message_view(message))

    def _pace(self, name: str, calls: int) -> bool:
        return self._ledger.take(name, calls, self._windows, now=self._clock.now()) == 0.0


def _reason(exc: Exception) -> str:
    if isinstance(exc, GatewayError):
        return exc.message
    if isinstance(exc, MailThrottled):
        return "Zoho throttled the read"
    return str(exc)
