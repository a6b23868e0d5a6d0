"""Mailbox connections and their tokens (table ``connections``)."""

from __future__ import annotations

import json

from mailer.storage.database import Database, Row
from mailer.storage.records import Account, Grant, Mailbox

_INSERT = (
    "INSERT INTO connections (id, refresh_token, seed_fingerprint, accounts_url, mail_api_url,"
    " account_id, primary_address, send_as, access_token, access_expires_at, next_renewal_at,"
    " last_renewal_at, last_renewal_outcome, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class MailboxTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, name: str) -> Mailbox | None:
        with self._db.read() as tx:
            row = tx.row("SELECT * FROM connections WHERE id = ?", (name,))
        return None if row is None else _mailbox(row)

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
            row = tx.row("SELECT seed_fingerprint FROM connections WHERE id = ?", (name,))
            if row is not None and row["seed_fingerprint"] == fingerprint:
                return False
            tx.execute("DELETE FROM connections WHERE id = ?", (name,))
            tx.execute(
                _INSERT,
                (
                    *(name, refresh_token, fingerprint, accounts_url, mail_api_url, account_id),
                    *(None, "[]", None, None, None, None, None, now),
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
    ) -> None:
        with self._db.write(serialize=f"mailbox:{name}") as tx:
            old = tx.row("SELECT seed_fingerprint FROM connections WHERE id = ?", (name,))
            tx.execute("DELETE FROM connections WHERE id = ?", (name,))
            tx.execute(
                _INSERT,
                (
                    name,
                    refresh_token,
                    old["seed_fingerprint"] if old else None,
                    accounts_url,
                    mail_api_url,
                    account.account_id,
                    account.primary_address,
                    json.dumps(list(account.send_as)),
                    grant.access_token,
                    grant.expires_at,
                    grant.next_renewal_at,
                    now,
                    "connected",
                    now,
                ),
            )

    def record_renewal(self, name: str, grant: Grant, *, now: float) -> None:
        self._db.run(
            "UPDATE connections SET access_token = ?, access_expires_at = ?,"
            " next_renewal_at = ?, renewal_failures = 0, last_renewal_at = ?,"
            " last_renewal_outcome = 'renewed', needs_reauth = 0, updated_at = ?"
            " WHERE id = ?",
            (grant.access_token, grant.expires_at, grant.next_renewal_at, now, now, name),
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
    ) -> None:
        # A refused refresh token takes its access token with it; other failures keep it.
        forget = ", access_token = NULL, access_expires_at = NULL" if needs_reauth else ""
        self._db.run(
            "UPDATE connections SET next_renewal_at = ?, renewal_failures = ?,"
            " last_renewal_at = ?, last_renewal_outcome = ?, needs_reauth = ?,"
            f" updated_at = ?{forget} WHERE id = ?",
            (next_renewal_at, failures, now, outcome, int(needs_reauth), now, name),
        )

    def discard_access_token(self, name: str, access_token: str) -> None:
        self._db.run(
            "UPDATE connections SET access_token = NULL, access_expires_at = NULL"
            " WHERE id = ? AND access_token = ?",
            (name, access_token),
        )

    def save_account(self, name: str, account: Account) -> None:
        self._db.run(
            "UPDATE connections SET account_id = ?, primary_address = ?, send_as = ? WHERE id = ?",
            (
                account.account_id,
                account.primary_address,
                json.dumps(list(account.send_as)),
                name,
            ),
        )


def _mailbox(row: Row) -> Mailbox:
    return Mailbox(
        name=row["id"],
        refresh_token=row["refresh_token"],
        seed_fingerprint=row["seed_fingerprint"],
        accounts_url=row["accounts_url"],
        mail_api_url=row["mail_api_url"],
        account_id=row["account_id"],
        primary_address=row["primary_address"],
        send_as=tuple(json.loads(row["send_as"])),
        access_token=row["access_token"],
        access_expires_at=row["access_expires_at"],
        next_renewal_at=row["next_renewal_at"],
        renewal_failures=row["renewal_failures"],
        last_renewal_at=row["last_renewal_at"],
        last_renewal_outcome=row["last_renewal_outcome"],
        needs_reauth=bool(row["needs_reauth"]),
    )
