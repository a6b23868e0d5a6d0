"""Mailboxes and their tokens (table ``mailboxes``)."""

from __future__ import annotations

import json

from mailer.storage.database import Database, Row
from mailer.storage.records import Grant, Mailbox, WebhookEvent
from mailer.storage.sealing import Sealer
from mailer.storage.tables.webhooks import insert_event
from mailer.zoho.account import Account

_INSERT = (
    "INSERT INTO mailboxes (name, refresh_token, seed_fingerprint, accounts_url, mail_api_url,"
    " account_id, primary_address, send_as, access_token, access_expires_at, next_renewal_at,"
    " last_renewal_at, last_renewal_outcome, updated_at, created_at, from_address)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A connected mailbox always has a renewal time (due at once: its time of connection), so
# that this is a range on the index of next_renewal_at.
_DUE = (
    "next_renewal_at <= ? AND refresh_token IS NOT NULL"
    " AND (renewal_claimed_until IS NULL OR renewal_claimed_until <= ?)"
)


class MailboxTable:
    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    def get(self, name: str) -> Mailbox | None:
        with self._db.read() as tx:
            row = tx.row("SELECT * FROM mailboxes WHERE name = ?", (name,))
        return None if row is None else self._mailbox(row)

    def all(self) -> list[Mailbox]:
        with self._db.read() as tx:
            rows = tx.rows("SELECT * FROM mailboxes ORDER BY name")
        return [self._mailbox(row) for row in rows]

    def page(self, *, after: str | None, limit: int) -> list[Mailbox]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT * FROM mailboxes WHERE name > ? ORDER BY name LIMIT ?",
                (after or "", limit),
            )
        return [self._mailbox(row) for row in rows]

    def census(self) -> dict[str, int]:
        with self._db.read() as tx:
            row = tx.row(
                "SELECT count(*) AS every, coalesce(sum(CASE WHEN needs_reauth <> 0 THEN 1"
                " ELSE 0 END), 0) AS reconnect FROM mailboxes"
            )
        assert row is not None
        return {"all": int(row["every"]), "needs_reconnect": int(row["reconnect"])}

    def create(
        self,
        name: str,
        *,
        accounts_url: str,
        mail_api_url: str,
        from_address: str | None,
        refresh_token: str | None,
        now: float,
    ) -> bool:
        """A new mailbox, connected when a refresh token is given; False when the name is taken."""
        with self._db.write(serialize=f"mailbox:{name}") as tx:
            if tx.row("SELECT name FROM mailboxes WHERE name = ?", (name,)) is not None:
                return False
            tx.execute(
                _INSERT,
                (
                    *(name, self._sealer.seal(refresh_token), None, accounts_url, mail_api_url),
                    *(None, None, "[]", None, None, now if refresh_token else None, None, None),
                    *(now, now, from_address),
                ),
            )
            return True

    def delete(self, name: str) -> Mailbox | None:
        """Remove a mailbox; returns what it was (its refresh token, to revoke), or None."""
        with self._db.write(serialize=f"mailbox:{name}") as tx:
            row = tx.row("SELECT * FROM mailboxes WHERE name = ?", (name,))
            if row is None:
                return None
            tx.execute("DELETE FROM mailboxes WHERE name = ?", (name,))
            tx.execute("DELETE FROM api_keys WHERE mailbox = ?", (name,))
            tx.execute("DELETE FROM connect_links WHERE mailbox = ?", (name,))
            tx.execute("DELETE FROM mail_pauses WHERE mailbox = ?", (name,))
            tx.execute("DELETE FROM zoho_answers WHERE mailbox = ?", (name,))
            tx.execute("DELETE FROM suppressions WHERE mailbox = ?", (name,))
        return self._mailbox(row)

    def claim_due(self, *, now: float, claimed_until: float, limit: int) -> list[str]:
        """Claim up to ``limit`` mailboxes whose renewal is due, soonest first, so that no other
        worker or host renews them until ``claimed_until`` or until the outcome is recorded."""
        with self._db.read() as tx:
            due = tx.row(f"SELECT name FROM mailboxes WHERE {_DUE} LIMIT 1", (now, now))
        if due is None:
            return []  # the common case, answered without a write transaction
        with self._db.write() as tx:
            rows = tx.rows(
                f"SELECT name FROM mailboxes WHERE {_DUE} ORDER BY next_renewal_at"
                f" LIMIT ?{self._db.claim_suffix}",
                (now, now, limit),
            )
            names = [row["name"] for row in rows]
            for name in names:
                tx.execute(
                    "UPDATE mailboxes SET renewal_claimed_until = ? WHERE name = ?",
                    (claimed_until, name),
                )
        return names

    def release_claim(self, name: str) -> None:
        self._db.run("UPDATE mailboxes SET renewal_claimed_until = NULL WHERE name = ?", (name,))

    def reseal(self) -> int:
        """Open every stored token (SealError when a key does not fit) and seal again those
        stored plain or with an older key; returns how many rows changed."""
        changed = 0
        with self._db.write(serialize="mailbox-reseal") as tx:
            rows = tx.rows("SELECT name, refresh_token, access_token FROM mailboxes")
            for row in rows:
                refresh, access = row["refresh_token"], row["access_token"]
                opened = (self._sealer.open(refresh), self._sealer.open(access))
                if self._sealer.needs_resealing(refresh) or self._sealer.needs_resealing(access):
                    tx.execute(
                        "UPDATE mailboxes SET refresh_token = ?, access_token = ? WHERE name = ?",
                        (self._sealer.seal(opened[0]), self._sealer.seal(opened[1]), row["name"]),
                    )
                    changed += 1
        return changed

    def seed(
        self,
        name: str,
        *,
        refresh_token: str,
        fingerprint: str,
        accounts_url: str,
        mail_api_url: str,
        account_id: str | None,
        now: float,
    ) -> bool:
        with self._db.write(serialize=f"mailbox:{name}") as tx:
            row = tx.row("SELECT seed_fingerprint FROM mailboxes WHERE name = ?", (name,))
            if row is not None and row["seed_fingerprint"] == fingerprint:
                return False
            tx.execute("DELETE FROM mailboxes WHERE name = ?", (name,))
            tx.execute(
                _INSERT,
                (
                    *(name, self._sealer.seal(refresh_token), fingerprint, accounts_url),
                    *(mail_api_url, account_id, None, "[]", None, None, now, None, None, now),
                    *(now, None),
                ),
            )
            return True

    def connect(
        self,
        name: str,
        *,
        refresh_token: str,
        accounts_url: str,
        mail_api_url: str,
        account: Account,
        grant: Grant,
        now: float,
        event: WebhookEvent | None = None,
    ) -> str | None:
        with self._db.write(serialize=f"mailbox:{name}") as tx:
            if event is not None:
                insert_event(tx, event)
            old = tx.row(
                "SELECT seed_fingerprint, refresh_token, created_at, from_address"
                " FROM mailboxes WHERE name = ?",
                (name,),
            )
            tx.execute("DELETE FROM mailboxes WHERE name = ?", (name,))
            tx.execute(
                _INSERT,
                (
                    name,
                    self._sealer.seal(refresh_token),
                    old["seed_fingerprint"] if old else None,
                    accounts_url,
                    mail_api_url,
                    account.account_id,
                    account.primary_address,
                    json.dumps(list(account.send_as)),
                    self._sealer.seal(grant.access_token),
                    grant.expires_at,
                    grant.next_renewal_at,
                    now,
                    "connected",
                    now,
                    old["created_at"] if old and old["created_at"] is not None else now,
                    old["from_address"] if old else None,
                ),
            )
            tx.execute("UPDATE mailboxes SET scopes = ? WHERE name = ?", (grant.scopes, name))
        previous = self._sealer.open(old["refresh_token"]) if old else None
        return previous if previous != refresh_token else None

    def record_renewal(self, name: str, grant: Grant, *, now: float) -> None:
        self._db.run(
            "UPDATE mailboxes SET access_token = ?, access_expires_at = ?,"
            " next_renewal_at = ?, renewal_failures = 0, last_renewal_at = ?,"
            " last_renewal_outcome = 'renewed', needs_reauth = 0, updated_at = ?,"
            " renewal_claimed_until = NULL, scopes = COALESCE(?, scopes) WHERE name = ?",
            (
                self._sealer.seal(grant.access_token),
                grant.expires_at,
                grant.next_renewal_at,
                now,
                now,
                grant.scopes,
                name,
            ),
        )

    def record_renewal_failure(
        self,
        name: str,
        *,
        outcome: str,
        failures: int,
        next_renewal_at: float,
        needs_reauth: bool,
        now: float,
        event: WebhookEvent | None = None,
    ) -> None:
        # A refused refresh token takes its access token with it; other failures keep it.
        forget = ", access_token = NULL, access_expires_at = NULL" if needs_reauth else ""
        sql = (
            "UPDATE mailboxes SET next_renewal_at = ?, renewal_failures = ?,"
            " last_renewal_at = ?, last_renewal_outcome = ?, needs_reauth = ?,"
            f" updated_at = ?, renewal_claimed_until = NULL{forget} WHERE name = ?"
        )
        params = (next_renewal_at, failures, now, outcome, int(needs_reauth), now, name)
        if event is None:
            self._db.run(sql, params)
            return
        with self._db.write(serialize=f"mailbox:{name}") as tx:
            tx.execute(sql, params)
            insert_event(tx, event)

    def discard_access_token(self, name: str, access_token: str) -> None:
        with self._db.write(serialize=f"mailbox:{name}") as tx:
            row = tx.row("SELECT access_token FROM mailboxes WHERE name = ?", (name,))
            if row is not None and self._sealer.open(row["access_token"]) == access_token:
                tx.execute(
                    "UPDATE mailboxes SET access_token = NULL, access_expires_at = NULL"
                    " WHERE name = ?",
                    (name,),
                )

    def save_account(self, name: str, account: Account) -> None:
        self._db.run(
            "UPDATE mailboxes SET account_id = ?, primary_address = ?, send_as = ?,"
            " outgoing_blocked = ? WHERE name = ?",
            (
                account.account_id,
                account.primary_address,
                json.dumps(list(account.send_as)),
                int(account.outgoing_blocked),
                name,
            ),
        )

    def _mailbox(self, row: Row) -> Mailbox:
        return _mailbox(
            row, self._sealer.open(row["refresh_token"]), self._sealer.open(row["access_token"])
        )


# The columns read into a Mailbox as they are.
_PLAIN = (
    "name", "seed_fingerprint", "accounts_url", "mail_api_url", "account_id", "primary_address",
    "access_expires_at", "next_renewal_at", "renewal_failures", "last_renewal_at",
    "last_renewal_outcome", "from_address", "created_at", "scopes", "generation",
)  # fmt: skip


def _mailbox(row: Row, refresh_token: str | None, access_token: str | None) -> Mailbox:
    return Mailbox(
        **{column: row[column] for column in _PLAIN},
        refresh_token=refresh_token,
        access_token=access_token,
        send_as=tuple(json.loads(row["send_as"])),
        needs_reauth=bool(row["needs_reauth"]),
        outgoing_blocked=bool(row["outgoing_blocked"]),
    )
