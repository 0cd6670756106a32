"""The real SuiteCRM 7.14.6 (``../shared/realcrm/suitecrm/setup.sh``) for tests that run against
both the stand-in and the real system.

Found through the environment the setup prints (``SUITECRM_URL``, ``SUITECRM_CLIENT_ID``,
``SUITECRM_CLIENT_SECRET``; ``.ci/run`` exports them). Without them, or when the server does not
answer, the real-instance tests skip with that reason; with ``CI=true`` they fail instead, so a
CI run never passes without having talked to it. Its database (``SUITECRM_DB``, default
``suitecrm_test``, on the MariaDB at 127.0.0.1:3306 as root) is read, and written for fast
seeding, like SuiteCRM's own screens would.

The instance is shared by the whole run (xdist workers included): every test tags its records
with a unique `RealSuite.tag` and looks only at records carrying it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
import pytest

ENV_VARS = ("SUITECRM_URL", "SUITECRM_CLIENT_ID", "SUITECRM_CLIENT_SECRET")
START_HINT = 'set -a; eval "$(bash ../shared/realcrm/suitecrm/setup.sh)"; set +a'


@cache
def _availability() -> str | None:
    """None when the real SuiteCRM answers a token request; else why not."""
    missing = [name for name in ENV_VARS if not os.environ.get(name)]
    if missing:
        return f"real SuiteCRM not configured ({', '.join(missing)} unset; start it with: {START_HINT})"
    try:
        answer = httpx.post(
            os.environ["SUITECRM_URL"].rstrip("/") + "/Api/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": os.environ["SUITECRM_CLIENT_ID"],
                "client_secret": os.environ["SUITECRM_CLIENT_SECRET"],
            },
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        return f"real SuiteCRM at {os.environ['SUITECRM_URL']} does not answer ({type(exc).__name__})"
    if answer.status_code != 200:
        return f"real SuiteCRM at {os.environ['SUITECRM_URL']} refused the test client (HTTP {answer.status_code})"
    return None


def require_real() -> None:
    """Skip (fail under CI=true) when the real SuiteCRM is not there."""
    reason = _availability()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@dataclass
class RealSuite:
    """The real instance, seen by one test."""

    base_url: str
    client_id: str
    client_secret: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    # -- its database, as SuiteCRM's screens and an admin see it -----------------------------
    @contextmanager
    def db(self) -> Iterator[Any]:
        import pymysql

        conn = pymysql.connect(
            host=os.environ.get("SUITECRM_DB_HOST", "127.0.0.1"),
            port=int(os.environ.get("SUITECRM_DB_PORT", "3306")),
            user="root",
            password=os.environ.get("SUITECRM_DB_ROOT_PASS", ""),
            database=os.environ.get("SUITECRM_DB", "suitecrm_test"),
            autocommit=True,
        )
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.db() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def email_rows(self, module: str, bean_id: str) -> list[tuple[str, int]]:
        """(address, primary_address) of the bean's live e-mail links."""
        rows = self.query(
            "SELECT a.email_address, r.primary_address FROM email_addr_bean_rel r "
            "JOIN email_addresses a ON a.id = r.email_address_id "
            "WHERE r.bean_id = %s AND r.bean_module = %s AND r.deleted = 0 ORDER BY r.primary_address DESC",
            bean_id,
            module,
        )
        return [(str(a), int(p)) for a, p in rows]

    @contextmanager
    def admin_time_zone(self, zone: str) -> Iterator[None]:
        """The API user's (admin's) time zone preference set to `zone` for the block."""
        import base64

        def swap(old: str, new: str) -> None:
            rows = self.query(
                "SELECT id, contents FROM user_preferences WHERE assigned_user_id = '1' AND category = 'global' "
                "AND deleted = 0"
            )
            for pref_id, contents in rows:
                text = base64.b64decode(contents).decode()
                before = f's:8:"timezone";s:{len(old)}:"{old}";'
                after = f's:8:"timezone";s:{len(new)}:"{new}";'
                if before in text:
                    sealed = base64.b64encode(text.replace(before, after).encode()).decode()
                    self.query("UPDATE user_preferences SET contents = %s WHERE id = %s", sealed, pref_id)

        swap("UTC", zone)
        try:
            yield
        finally:
            swap(zone, "UTC")

    def my_ids(self) -> set[str]:
        """External ids of the live clientes this test made (their name carries the tag)."""
        like = f"%{self.tag}%"
        contacts = self.query(
            "SELECT id FROM contacts WHERE deleted = 0 AND CONCAT_WS(' ', first_name, last_name) LIKE %s", like
        )
        accounts = self.query("SELECT id FROM accounts WHERE deleted = 0 AND name LIKE %s", like)
        return {f"Contacts:{r[0]}" for r in contacts} | {f"Accounts:{r[0]}" for r in accounts}

    def retire(self) -> None:
        """Mark this test's records deleted (as SuiteCRM's delete does), so the instance's
        listings do not grow with every run."""
        like = f"%{self.tag}%"
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        self.query(
            "UPDATE contacts SET deleted = 1, date_modified = %s "
            "WHERE deleted = 0 AND CONCAT_WS(' ', first_name, last_name) LIKE %s",
            now,
            like,
        )
        self.query("UPDATE accounts SET deleted = 1, date_modified = %s WHERE deleted = 0 AND name LIKE %s", now, like)

    def seed_contacts(self, count: int, stamp: datetime) -> list[str]:
        """`count` Contacts written straight into the database (with a primary e-mail each),
        dated `stamp`: what a store's CRM already holds. Returns their ids."""
        when = stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        ids = [str(uuid.uuid4()) for _ in range(count)]
        contacts, emails, links = [], [], []
        for i, bean in enumerate(ids):
            address = f"semente{i}.{self.tag}@example.com"
            email_id = str(uuid.uuid4())
            contacts.append((bean, when, when, "Semente", f"{i} {self.tag}"))
            emails.append((email_id, address, address.upper(), when, when))
            links.append((str(uuid.uuid4()), email_id, bean, when, when))
        with self.db() as cur:
            cur.executemany(
                "INSERT INTO contacts (id, date_entered, date_modified, modified_user_id, created_by, deleted, "
                "first_name, last_name) VALUES (%s, %s, %s, '1', '1', 0, %s, %s)",
                contacts,
            )
            cur.executemany(
                "INSERT INTO email_addresses (id, email_address, email_address_caps, date_created, date_modified, "
                "deleted) VALUES (%s, %s, %s, %s, %s, 0)",
                emails,
            )
            cur.executemany(
                "INSERT INTO email_addr_bean_rel (id, email_address_id, bean_id, bean_module, primary_address, "
                "reply_to_address, date_created, date_modified, deleted) "
                "VALUES (%s, %s, %s, 'Contacts', 1, 0, %s, %s, 0)",
                links,
            )
        return ids

    def edit_email_in_screens(self, bean_id: str, address: str) -> None:
        """What an edit in SuiteCRM's own screen does: the primary address changes, the bean
        is saved (``date_modified`` now)."""
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        email_id = str(uuid.uuid4())
        with self.db() as cur:
            cur.execute(
                "INSERT INTO email_addresses (id, email_address, email_address_caps, date_created, date_modified, "
                "deleted) VALUES (%s, %s, %s, %s, %s, 0)",
                (email_id, address, address.upper(), now, now),
            )
            cur.execute(
                "UPDATE email_addr_bean_rel SET email_address_id = %s, date_modified = %s "
                "WHERE bean_id = %s AND primary_address = 1 AND deleted = 0",
                (email_id, now, bean_id),
            )
            cur.execute("UPDATE contacts SET date_modified = %s WHERE id = %s", (now, bean_id))

    def delete_in_screens(self, external_id: str) -> None:
        module, _, bean = external_id.partition(":")
        table = "contacts" if module == "Contacts" else "accounts"
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        self.query(f"UPDATE {table} SET deleted = 1, date_modified = %s WHERE id = %s", now, bean)


def real_suite() -> RealSuite:
    """The real SuiteCRM for this test (skips, or fails under CI=true, when it is not there)."""
    require_real()
    return RealSuite(
        os.environ["SUITECRM_URL"].rstrip("/"),
        os.environ["SUITECRM_CLIENT_ID"],
        os.environ["SUITECRM_CLIENT_SECRET"],
    )


__all__ = ["RealSuite", "real_suite", "require_real"]
