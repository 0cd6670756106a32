"""Migrated databases for tests, fast: one template per kind, copied per test.

Migrating a database costs about 0.2 s on SQLite, 1 s on PostgreSQL and 4 s on MariaDB, and
hundreds of tests need one. Each test process (each xdist worker) migrates one template per
kind on first use, through the real migrations (built-in local tables: the default schema
map), and a test that wants a migrated database gets a copy of it: a file copy on SQLite,
`CREATE DATABASE ... TEMPLATE` on PostgreSQL and, MariaDB having no templates, the
template's own `SHOW CREATE TABLE` statements replayed. So a copy holds exactly the DDL the
migrations make. Tests about the migrations themselves keep asking for an empty database
and run them (`migrate` runs them too whenever the database is not empty or the settings ask
for another layout).

Server databases are made and dropped by the `fresh_database` fixture of tests/conftest.py;
this module only fills them. The admin URLs are the conftest's (same environment variables).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from crmsync.db.layout import VERSION_TABLE, local_tables_configured
from crmsync.db.schema import upgrade

PG_ADMIN_URL = os.environ.get("CRMSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIA_ADMIN_URL = os.environ.get("CRMSYNC_TEST_MARIA_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def swap_db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def admin_url(kind: str) -> str:
    return PG_ADMIN_URL if kind == "postgresql" else MARIA_ADMIN_URL


def kind_of(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite"
    return "postgresql" if url.startswith("postgresql") else "mariadb"


def create_server_database(kind: str, name: str, template: str | None = None) -> None:
    eng = create_engine(admin_url(kind), isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
            else:
                conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    finally:
        eng.dispose()


def drop_server_database(kind: str, name: str) -> None:
    eng = create_engine(admin_url(kind), isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        eng.dispose()


class DatabaseTemplates:
    """This process's templates, made on first use, dropped by `close` (session end)."""

    def __init__(self) -> None:
        self._workdir: Path | None = None
        self._sqlite_file: Path | None = None
        self._pg_name: str | None = None
        self._maria_name: str | None = None
        self._maria_script: list[str] = []

    def sqlite_template(self) -> Path:
        if self._sqlite_file is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="crmsync-db-template-"))
            path = self._workdir / "template.db"
            upgrade(f"sqlite:///{path.as_posix()}", local_tables=True)
            self._sqlite_file = path
        return self._sqlite_file

    def pg_template(self) -> str:
        if self._pg_name is None:
            name = f"crmsync_tpl_{uuid.uuid4().hex[:12]}"
            create_server_database("postgresql", name)
            self._pg_name = name  # dropped by close() even if the migration fails
            upgrade(swap_db(PG_ADMIN_URL, name), local_tables=True)
        return self._pg_name

    def maria_script(self) -> list[str]:
        if not self._maria_script:
            name = f"crmsync_tpl_{uuid.uuid4().hex[:12]}"
            create_server_database("mariadb", name)
            self._maria_name = name
            upgrade(swap_db(MARIA_ADMIN_URL, name), local_tables=True)
            eng = create_engine(MARIA_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                with eng.connect() as conn:
                    tables = conn.execute(
                        text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": name}
                    ).scalars()
                    script = ["SET foreign_key_checks = 0"]
                    script += [conn.exec_driver_sql(f"SHOW CREATE TABLE `{name}`.`{t}`").one()[1] for t in tables]
                    for version in conn.exec_driver_sql(
                        f"SELECT version_num FROM `{name}`.`{VERSION_TABLE}`"
                    ).scalars():
                        script.append(f"INSERT INTO `{VERSION_TABLE}` (version_num) VALUES ('{version}')")
                    script.append("SET foreign_key_checks = 1")
            finally:
                eng.dispose()
            self._maria_script = script
        return self._maria_script

    def fill_mariadb(self, url: str) -> None:
        """Replay the template's tables into the empty MariaDB database of `url`."""
        script = self.maria_script()
        eng = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with eng.connect() as conn:
                for statement in script:
                    conn.exec_driver_sql(statement)
        finally:
            eng.dispose()

    def close(self) -> None:
        if self._pg_name:
            drop_server_database("postgresql", self._pg_name)
        if self._maria_name:
            drop_server_database("mariadb", self._maria_name)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self.__init__()  # type: ignore[misc]


TEMPLATES = DatabaseTemplates()


def _is_empty(url: str) -> bool:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            return not inspect(conn).get_table_names()
    finally:
        eng.dispose()


def migrate(url: str) -> None:
    """Bring a test's fresh database to head, as `crmsync.db.schema.upgrade(url)` would: a copy
    of the template when the database is empty (a SQLite file not made yet) and the settings
    ask for the built-in local tables; otherwise the real migrations."""
    kind = kind_of(url)
    if not local_tables_configured():
        upgrade(url)
        return
    if kind == "sqlite":
        target = Path(url.removeprefix("sqlite:///"))
        if url.startswith("sqlite:///") and not target.exists():
            shutil.copy2(TEMPLATES.sqlite_template(), target)
        else:
            upgrade(url)
        return
    if not _is_empty(url):
        upgrade(url)
        return
    if kind == "mariadb":
        TEMPLATES.fill_mariadb(url)
        return
    # PostgreSQL copies a template only into a new database: make this one again from it
    # (FORCE ends any connection a pool of the test still holds).
    name = url.rsplit("/", 1)[1]
    template = TEMPLATES.pg_template()
    drop_server_database(kind, name)
    create_server_database(kind, name, template=template)
