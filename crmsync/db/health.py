"""Is the database busy, and can it take writes? Answers for the API's error handler (a
locked database is a 503 with Retry-After, never a 500) and for `/health`."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

# Driver codes meaning "try again shortly": PostgreSQL SQLSTATEs (lock not available,
# deadlock, serialization failure, query canceled by lock_timeout/statement_timeout) and
# MariaDB/MySQL error numbers (lock wait timeout, deadlock).
_PG_BUSY = frozenset({"55P03", "40P01", "40001", "57014"})
_MYSQL_BUSY = frozenset({1205, 1213})
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
RETRY_AFTER_SECONDS = 5
_PROBE_TIMEOUT_MS = 2000


def _driver_codes(exc: DBAPIError) -> tuple[object, int | None]:
    """(PostgreSQL's SQLSTATE, MariaDB/MySQL's error number) of a driver error, each None
    when the driver is not that one."""
    orig = exc.orig
    args = getattr(orig, "args", ())
    number = args[0] if args and isinstance(args[0], int) else None
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None), number


def is_busy(exc: BaseException) -> bool:
    """True when the database refused the statement because others hold its locks."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate, number = _driver_codes(exc)
    if sqlstate in _PG_BUSY or number in _MYSQL_BUSY:
        return True
    return isinstance(exc, OperationalError) and any(text_ in str(exc.orig).lower() for text_ in _SQLITE_BUSY)


# PostgreSQL "numeric value out of range" / "datetime field overflow"; MariaDB "out of
# range value" (1264) and "data too long" never reach here: values are checked first.
_PG_RANGE = frozenset({"22003", "22008"})


def is_out_of_range(exc: BaseException) -> bool:
    """True when the database refused a bound value as out of its type's range."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate, number = _driver_codes(exc)
    return sqlstate in _PG_RANGE or number == 1264


def write_problem(engine: Engine) -> str | None:
    """Why the database cannot take a write now (None: it can). SQLite: the write lock is
    taken and released at once, waiting at most 2 s; PostgreSQL and MariaDB: read-only mode
    (a standby, or a server switched read-only when its disk filled)."""
    dialect = engine.dialect.name
    with engine.connect() as conn:
        if dialect == "sqlite":
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute(f"PRAGMA busy_timeout={_PROBE_TIMEOUT_MS}")
            try:
                raw.execute("BEGIN IMMEDIATE")
                raw.execute("ROLLBACK")
            except Exception as exc:  # sqlite3.OperationalError: locked, read-only file, disk I/O
                return str(exc)
            finally:
                raw.execute("PRAGMA busy_timeout=30000")
            return None
        if dialect == "postgresql":
            if conn.execute(
                text("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'")
            ).scalar():
                return "read-only"
            return None
        if conn.execute(text("SELECT @@global.read_only")).scalar():
            return "read-only"
        return None
