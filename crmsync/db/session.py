"""Engine and session factory, one per database URL.

SQLite gets WAL and a busy timeout so the API, the embedded worker and the scheduler can
write from several threads without "database is locked" errors.

Two databases (``CRMSYNC_ERP_DATABASE_URL`` set to another database than ours, with a
schema map): sessions are a :class:`TwoDatabaseSession`, which sends every statement on a
mapped ERP table to the ERP's database and everything else (the ``crm_*`` tables) to ours,
and commits the ERP first (see its docstring). With one database nothing changes: a plain
``Session`` on one engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from crmsync import fastjson
from crmsync.private_files import create_private, sqlite_file
from crmsync.settings import get_settings
from crmsync.sqlite_wal import enable_wal


def _mysql_strict(dbapi_conn: Any, _record: Any) -> None:
    """Strict mode on our own sessions, whatever the server's default: an old PHP ERP's
    server often runs with sql_mode='' and MariaDB would then cut a too-long text or store
    0 for a bad number with a warning. Strict, the write fails and the record becomes a
    failed item with the database's message; nothing is cut silently."""
    cur = dbapi_conn.cursor()
    cur.execute("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')")
    cur.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    enable_wal(cur)
    cur.execute(f"PRAGMA busy_timeout={int(get_settings().sqlite_busy_timeout_seconds * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # A large first pull writes 100,000s of rows whose indexes (e-mail, CPF, CNPJ) take
    # keys in random order: a 16 MB page cache (default 2 MB) and a checkpoint every ~32 MB
    # of WAL (default 4 MB) keep those index pages from being re-read and re-copied on
    # every page's commit; measured 15-20 % of the pull's apply time.
    cur.execute("PRAGMA cache_size=-16384")
    cur.execute("PRAGMA wal_autocheckpoint=8000")
    cur.execute("PRAGMA journal_size_limit=67108864")
    cur.close()


def _pool_args() -> dict[str, Any]:
    """Pool sized with the API's concurrency (`CRMSYNC_DB_POOL_SIZE`, default
    `CRMSYNC_API_CONCURRENCY` + 10): every admitted request and every embedded worker thread
    gets a connection without waiting; past the pool, a short wait and then an error the API
    answers 503 (never the old 30 s stall)."""
    settings = get_settings()
    return {
        "pool_size": settings.resolved_db_pool_size(),
        "max_overflow": 10,
        "pool_timeout": settings.db_pool_timeout_seconds,
    }


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            create_private(path)
        engine = create_engine(
            url,
            **(_pool_args() if path is not None else {}),  # in-memory SQLite has no queue pool
            connect_args={"check_same_thread": False, "timeout": get_settings().sqlite_busy_timeout_seconds},
            json_serializer=fastjson.dumps,
            json_deserializer=fastjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("mysql") or url.startswith("mariadb"):
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_recycle=3600,
            **_pool_args(),
            isolation_level="READ COMMITTED",
            json_serializer=fastjson.dumps,
            json_deserializer=fastjson.loads,
        )
        event.listen(engine, "connect", _mysql_strict)
        return engine
    return create_engine(
        url, pool_pre_ping=True, **_pool_args(), json_serializer=fastjson.dumps, json_deserializer=fastjson.loads
    )


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().resolved_database_url())


class TwoDatabaseSession(Session):
    """A session over two databases: the ERP's mapped tables in one, crmsync's in the other.

    Routing: ``binds`` maps every mapped ERP table (and row class) to the ERP's engine; the
    documented ``get_bind`` hook ("custom vertical partitioning") then swaps that engine for
    this session's own ERP connection, kept in a transaction that SQLAlchemy joins in
    ``rollback_only`` mode: it rolls it back with the session, but never commits it.

    Commit order: the ERP first, then ours (``before_commit``, after a flush). Not atomic:
    a crash between the two leaves the ERP's rows written and our links, log and ledger not.
    That is the safe half. The next level-triggered scan sees the ERP row's fingerprint
    differ from the link's ``local_hash``; the three-way merge of base (old) / local (new) /
    remote (new) finds the same value on both sides and converges, writing nothing twice
    that matters (an insert by a pull whose link was lost is found again by the duplicate
    matching of the next run). The other order would be unsafe: a link recording the
    remote value Y as synced while the ERP row still holds X makes X look like a local edit,
    and the next push would send X to the CRM, losing the CRM's edit. SQLAlchemy's own
    multi-bind commit goes through a ``set`` of connections, in no defined order, which is
    why the ERP's connection is committed here and not handed to it as an engine.

    A ``commit()`` with a savepoint still open (never done by crmsync: its savepoints are
    ``with s.begin_nested():`` blocks) commits the ERP after ours (``after_commit``)."""

    def __init__(self, *args: Any, erp_engine: Engine, **kw: Any) -> None:
        kw["join_transaction_mode"] = "rollback_only"
        super().__init__(*args, **kw)
        self.erp_engine = erp_engine
        binds = kw.get("binds") or {}
        self.erp_tables = frozenset(t for t, e in binds.items() if isinstance(t, Table) and e is erp_engine)
        self._erp: Connection | None = None

    def get_bind(self, mapper: Any = None, **kw: Any) -> Any:
        bind = super().get_bind(mapper, **kw)
        if bind is not self.erp_engine:
            return bind
        conn = self._erp
        if conn is None or conn.closed:
            conn = self._erp = self.erp_engine.connect()
        if not conn.in_transaction():
            conn.begin()
        return conn

    def erp_in_transaction(self) -> bool:
        return self._erp is not None and not self._erp.closed and self._erp.in_transaction()

    def commit_erp(self) -> None:
        if self.erp_in_transaction():
            assert self._erp is not None
            self._erp.commit()

    def release_erp(self) -> None:
        """Give the ERP connection back to its pool (rolling back what was not committed)."""
        conn, self._erp = self._erp, None
        if conn is not None and not conn.closed:
            conn.close()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_erp()


@event.listens_for(TwoDatabaseSession, "before_commit")
def _erp_commits_first(session: Session) -> None:
    if isinstance(session, TwoDatabaseSession) and not session.in_nested_transaction():
        session.flush()
        session.commit_erp()


@event.listens_for(TwoDatabaseSession, "after_commit")
def _erp_commits_late(session: Session) -> None:
    if isinstance(session, TwoDatabaseSession) and not session.in_nested_transaction():
        session.commit_erp()


@event.listens_for(TwoDatabaseSession, "after_transaction_end")
def _erp_released(session: Session, transaction: SessionTransaction) -> None:
    if isinstance(session, TwoDatabaseSession) and transaction.parent is None:
        session.release_erp()


def _erp_layout(target: str) -> tuple[str, list[Any]] | None:
    """(the ERP's URL, the mapped tables and row classes to route there) when our database
    and the ERP's are two (a schema map configured, ``CRMSYNC_ERP_DATABASE_URL`` another
    database than ``target``, ours); None for the one-database layout."""
    settings = get_settings()
    if not settings.erp_database_url or not settings.schema_map.strip():
        return None
    erp_url = settings.resolved_erp_database_url()
    if erp_url == target or target != settings.resolved_database_url():
        return None
    from crmsync.erp.table import active_schema  # the map's tables; imported only in this layout

    schema = active_schema()
    return erp_url, [*schema.tables(), *schema.row_classes()]


def get_sessionmaker(url: str | None = None) -> sessionmaker[Session]:
    target = url or get_settings().resolved_database_url()
    layout = _erp_layout(target)
    if layout is None:
        return _plain_sessionmaker(target)
    erp_url, routed = layout
    return _two_database_sessionmaker(target, erp_url, tuple(routed))


@lru_cache(maxsize=8)
def _plain_sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@lru_cache(maxsize=8)
def _two_database_sessionmaker(url: str, erp_url: str, routed: tuple[Any, ...]) -> sessionmaker[Session]:
    """Keyed on the routed tables too: another schema map routes other tables."""
    erp_engine = get_engine(erp_url)
    binds: dict[Any, Engine] = dict.fromkeys(routed, erp_engine)
    from crmsync.db.base import Base  # our models resolve by class, without walking the statement

    binds[Base] = get_engine(url)
    return sessionmaker(
        class_=TwoDatabaseSession,
        bind=get_engine(url),
        binds=binds,
        erp_engine=erp_engine,
        expire_on_commit=False,
    )


def elsewhere(session: Session, table: Table) -> bool:
    """Whether ``table`` lives in another database than crmsync's own tables for this
    session (two-database layout): a query may then not join it with a ``crm_*`` table."""
    return isinstance(session, TwoDatabaseSession) and table in session.erp_tables


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = get_sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Close pooled connections (tests switch databases; workers fork)."""
    get_engine.cache_clear()
    _plain_sessionmaker.cache_clear()
    _two_database_sessionmaker.cache_clear()
