"""What both engines share: the tables over one Database, and the retention purge."""

from __future__ import annotations

from mailer.storage.database import Database
from mailer.storage.group_commit import GroupCommit
from mailer.storage.retention import Cutoffs
from mailer.storage.sealing import Sealer
from mailer.storage.tables.admission import AdmissionTable
from mailer.storage.tables.api_keys import ApiKeyTable
from mailer.storage.tables.bounces import BounceTable
from mailer.storage.tables.connect_links import ConnectLinkTable
from mailer.storage.tables.console_sessions import ConsoleSessionTable
from mailer.storage.tables.history import HistoryTable
from mailer.storage.tables.idempotency import IdempotencyTable
from mailer.storage.tables.ledger import LedgerTable
from mailer.storage.tables.mailboxes import MailboxTable
from mailer.storage.tables.messages import MessageTable
from mailer.storage.tables.oauth_states import OAuthStateTable
from mailer.storage.tables.suppressions import SuppressionTable
from mailer.storage.tables.webhooks import WebhookTable


class Tables:
    """The aggregates of one database; an engine's Storage inherits them."""

    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._database = db
        self.mailboxes = MailboxTable(db, sealer)
        self.api_keys = ApiKeyTable(db)
        self.connect_links = ConnectLinkTable(db)
        self.webhooks = WebhookTable(db)
        self.idempotency = IdempotencyTable(db)
        self.messages = MessageTable(db)
        self.admissions = AdmissionTable(db, GroupCommit(db))
        self.suppressions = SuppressionTable(db)
        self.bounces = BounceTable(db)
        self.ledger = LedgerTable(db)
        self.oauth_states = OAuthStateTable(db)
        self.console_sessions = ConsoleSessionTable(db)
        self.history = HistoryTable(db)

    def purge(self, cutoffs: Cutoffs) -> int:
        with self._database.write() as tx:
            # Attachments go with their message (ON DELETE CASCADE).
            deleted = tx.execute(
                "DELETE FROM messages WHERE status IN ('sent', 'failed', 'canceled', 'bounced')"
                " AND finished_at < ?",
                (cutoffs.messages_finished_before,),
            )
            tx.execute("DELETE FROM bounces WHERE at < ?", (cutoffs.messages_finished_before,))
            tx.execute(
                "DELETE FROM message_attempts WHERE at < ?", (cutoffs.messages_finished_before,)
            )
            tx.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (cutoffs.now,))
            tx.execute("DELETE FROM idempotency WHERE expires_at <= ?", (cutoffs.now,))
            tx.execute("DELETE FROM accept_refusals WHERE at < ?", (cutoffs.now - 86400,))
            tx.execute(
                "DELETE FROM oauth_states WHERE expires_at < ?",
                (cutoffs.oauth_states_expired_before,),
            )
            tx.execute(
                "DELETE FROM connect_links WHERE expires_at < ?",
                (cutoffs.oauth_states_expired_before,),
            )
            tx.execute(
                "DELETE FROM webhook_events WHERE created_at < ?"
                " AND (delivered_at IS NOT NULL OR given_up_at IS NOT NULL)",
                (cutoffs.messages_finished_before,),
            )
        return deleted
