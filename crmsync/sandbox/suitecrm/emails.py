"""E-mail addresses of the SuiteCRM sandbox's beans, kept as SuiteCRM 7.14 keeps them.

SuiteCRM does not store ``email1`` on the bean: addresses live in ``email_addresses`` (one
row per address, shared by every bean that uses it) and ``email_addr_bean_rel`` (bean,
address, ``primary_address``, ``deleted``); ``email1`` is derived on every read (the primary
address, else the first alternate). What a sync client meets because of that, reproduced here
from the real 7.14.6 (``SugarEmailAddress::handleLegacySave``, ``Person::save``):

- a create parses ``email1`` into a primary address;
- a PATCH of ``email1`` on a bean that already has an address is ignored: the answer and every
  later read keep the old one (``needsToParseLegacyAddresses`` only parses when the bean has
  none), so the change must go through the ``email_addresses`` relationship: unlink the
  addresses, then PATCH ``email1`` (now parsed, as on create), then link the alternates back;
- the relationship routes list, unlink and link ``EmailAddress`` records;
- an edit in SuiteCRM's own screens (the sandbox's panel) does change the primary address.

The book shares the store's SQLite connection and lock; the store keeps the derived ``email1``
in each bean's body so listings can filter on it.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS email_addresses (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    caps TEXT NOT NULL UNIQUE,
    date_created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS email_rel (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    module TEXT NOT NULL,
    bean_id TEXT NOT NULL,
    email_address_id TEXT NOT NULL,
    primary_address INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS ix_email_rel_bean ON email_rel (module, bean_id, deleted);
"""


class EmailBook:
    """Addresses and their links to beans; callers hold the store's lock."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._conn.executescript(SCHEMA)

    def _address_id(self, address: str, stamp: str) -> str:
        caps = address.strip().upper()
        row = self._conn.execute("SELECT id FROM email_addresses WHERE caps = ?", (caps,)).fetchone()
        if row is not None:
            return str(row[0])
        new_id = str(uuid.uuid4())
        self._conn.execute(
            "INSERT INTO email_addresses (id, address, caps, date_created) VALUES (?, ?, ?, ?)",
            (new_id, address.strip(), caps, stamp),
        )
        return new_id

    def exists(self, email_address_id: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM email_addresses WHERE id = ?", (email_address_id,)).fetchone()
        return row is not None

    def live(self, module: str, bean_id: str) -> list[dict[str, Any]]:
        """The bean's linked addresses, primary first (``getAddressesByGUID``'s order)."""
        rows = self._conn.execute(
            "SELECT a.id, a.address, a.caps, a.date_created, r.primary_address FROM email_rel r "
            "JOIN email_addresses a ON a.id = r.email_address_id "
            "WHERE r.module = ? AND r.bean_id = ? AND r.deleted = 0 ORDER BY r.primary_address DESC, r.seq",
            (module, bean_id),
        ).fetchall()
        return [
            {"id": r[0], "email_address": r[1], "email_address_caps": r[2], "date_created": r[3], "primary": bool(r[4])}
            for r in rows
        ]

    def has_addresses(self, module: str, bean_id: str) -> bool:
        return bool(self.live(module, bean_id))

    def email1(self, module: str, bean_id: str) -> str:
        live = self.live(module, bean_id)
        return str(live[0]["email_address"]) if live else ""

    def set_primary(self, module: str, bean_id: str, address: str, stamp: str) -> None:
        """What a create (or an edit in SuiteCRM's screens) does with ``email1``: the address
        becomes the primary one; a former primary is dropped; empty drops the primary."""
        self._conn.execute(
            "UPDATE email_rel SET deleted = 1 WHERE module = ? AND bean_id = ? AND primary_address = 1",
            (module, bean_id),
        )
        if not address.strip():
            return
        ea_id = self._address_id(address, stamp)
        self._conn.execute(
            "UPDATE email_rel SET deleted = 1 WHERE module = ? AND bean_id = ? AND email_address_id = ?",
            (module, bean_id, ea_id),
        )
        self._conn.execute(
            "INSERT INTO email_rel (module, bean_id, email_address_id, primary_address) VALUES (?, ?, ?, 1)",
            (module, bean_id, ea_id),
        )

    def bulk_primary(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Seeding: (module, bean id, address, stamp) of new beans, each address its primary."""
        if not rows:
            return
        self._conn.executemany(
            "INSERT OR IGNORE INTO email_addresses (id, address, caps, date_created) VALUES (?, ?, ?, ?)",
            [(str(uuid.uuid4()), a.strip(), a.strip().upper(), stamp) for _m, _b, a, stamp in rows],
        )
        self._conn.executemany(
            "INSERT INTO email_rel (module, bean_id, email_address_id, primary_address) "
            "SELECT ?, ?, id, 1 FROM email_addresses WHERE caps = ?",
            [(m, b, a.strip().upper()) for m, b, a, _stamp in rows],
        )

    def link(self, module: str, bean_id: str, email_address_id: str) -> None:
        """``POST .../relationships/email_addresses``: a non-primary link (an existing live
        link is kept as it is, as ``SugarRelationship::addRow`` updates it in place)."""
        row = self._conn.execute(
            "SELECT 1 FROM email_rel WHERE module = ? AND bean_id = ? AND email_address_id = ? AND deleted = 0",
            (module, bean_id, email_address_id),
        ).fetchone()
        if row is None:
            self._conn.execute(
                "INSERT INTO email_rel (module, bean_id, email_address_id, primary_address) VALUES (?, ?, ?, 0)",
                (module, bean_id, email_address_id),
            )

    def unlink(self, module: str, bean_id: str, email_address_id: str) -> bool:
        """``DELETE .../relationships/email_addresses/{id}``; False when not linked."""
        cursor = self._conn.execute(
            "UPDATE email_rel SET deleted = 1 "
            "WHERE module = ? AND bean_id = ? AND email_address_id = ? AND deleted = 0",
            (module, bean_id, email_address_id),
        )
        return cursor.rowcount > 0
