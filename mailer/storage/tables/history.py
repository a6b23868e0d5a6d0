"""What happened, for the console: hourly counts (``activity_hours``, kept by triggers), a
message's attempts (``message_attempts``) and webhook deliveries, and a search."""

from __future__ import annotations

from mailer.storage.console_ports import (
    AttemptRecord,
    DeliveryRecord,
    Found,
    HourCount,
    MessageQuery,
)
from mailer.storage.database import Database, Row, Tx
from mailer.storage.tables.message_rows import stored_message

# A search with a filter no index serves (part of a subject or a recipient; a status across
# every mailbox) reads at most this many messages, newest first, per page, then says where it
# stopped; the mailbox, a mailbox's status, the tag and the time use indexes.
SCAN_LIMIT = 5000


class HistoryTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    def hours(self, mailbox: str | None, *, since: float) -> list[HourCount]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT hour, outcome, count FROM activity_hours"
                " WHERE mailbox = ? AND hour >= ? ORDER BY hour",
                (mailbox or "", int(since // 3600 * 3600)),
            )
        return [HourCount(int(r["hour"]), r["outcome"], int(r["count"])) for r in rows]

    def attempts(self, message_id: str) -> list[AttemptRecord]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT at, attempt, status, error_code, error, zoho_error_code, zoho_message_id"
                " FROM message_attempts WHERE message_id = ? ORDER BY at, attempt",
                (message_id,),
            )
        return [AttemptRecord(**dict(r)) for r in rows]

    def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        with self._db.read() as tx:
            rows = tx.rows(
                "SELECT id, type, created_at, attempts, delivered_at, given_up_at, last_error"
                " FROM webhook_events WHERE message_id = ? ORDER BY created_at, id",
                (message_id,),
            )
        return [DeliveryRecord(**dict(r)) for r in rows]

    def search(self, query: MessageQuery) -> Found:
        """Indexed filters pick candidates newest first; the others read at most SCAN_LIMIT
        of them and say where they stopped."""
        parts = query.recipient is not None or query.subject is not None or _status_scanned(query)
        with self._db.read() as tx:
            candidates = _candidates(tx, query, SCAN_LIMIT if parts else query.limit + 1)
            matched = [c for c in candidates if _matches(c, query)]
            shown = matched[: query.limit]
            more: tuple[float, str] | None = None
            if len(matched) > query.limit:
                more = (shown[-1]["created_at"], shown[-1]["id"])
            elif parts and len(candidates) == SCAN_LIMIT:
                more = (candidates[-1]["created_at"], candidates[-1]["id"])
            ids = [c["id"] for c in shown]
            marks = ", ".join("?" for _ in ids)
            rows = tx.rows(f"SELECT * FROM messages WHERE id IN ({marks})", ids) if ids else []
        by_id = {row["id"]: row for row in rows}
        return Found([stored_message(by_id[i], []) for i in ids if i in by_id], more)


def _status_scanned(query: MessageQuery) -> bool:
    """Whether the status is matched by reading rows (no index orders it by time)."""
    return query.status is not None and (query.mailbox is None or query.tag is not None)


def _candidates(tx: Tx, query: MessageQuery, limit: int) -> list[Row]:
    source, order = "messages AS m", ("m.created_at", "m.id")
    where: list[str] = []
    params: list[object] = []
    if query.tag is not None:
        source = "message_tags AS t JOIN messages AS m ON m.id = t.message_id"
        order = ("t.created_at", "t.message_id")
        where.append("t.tag = ?")
        params.append(query.tag)
        if query.mailbox is not None:
            where.append("t.mailbox = ?")
            params.append(query.mailbox)
    elif query.mailbox is not None:
        where.append("m.mailbox = ?")
        params.append(query.mailbox)
    if query.status is not None and not _status_scanned(query):
        where.append("m.status = ?")
        params.append(query.status)
    if query.since is not None:
        where.append(f"{order[0]} >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append(f"{order[0]} < ?")
        params.append(query.until)
    if query.before is not None:
        where.append(f"({order[0]} < ? OR ({order[0]} = ? AND {order[1]} < ?))")
        params.extend((query.before[0], query.before[0], query.before[1]))
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return tx.rows(
        f"SELECT m.id, m.created_at, m.status, m.subject, m.recipients FROM {source}{condition}"
        f" ORDER BY {order[0]} DESC, {order[1]} DESC LIMIT ?",
        (*params, limit),
    )


def _matches(candidate: Row, query: MessageQuery) -> bool:
    if query.status is not None and candidate["status"] != query.status:
        return False
    if (
        query.subject is not None
        and query.subject.lower() not in (candidate["subject"] or "").lower()
    ):
        return False
    return query.recipient is None or query.recipient.lower() in (candidate["recipients"] or "")
