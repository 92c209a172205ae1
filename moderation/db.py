"""The database: one engine and session factory per process, a session per request."""
import fcntl
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import psycopg
from flask import current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")  # the first six letters of a writing statement
SERVER_GONE = ("57P01", "57P02", "57P03")  # PostgreSQL shutting down, crashed, starting up
FILE_TROUBLE = ("SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL")


class Base(DeclarativeBase):
    pass


def connect(database_url: str) -> sessionmaker:
    """Create the engine for a URL and return its session factory."""
    options = {"hide_parameters": True}
    if database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 15}
    else:  # a server may restart under us; a file cannot
        options["pool_pre_ping"] = True
        options["connect_args"] = {"connect_timeout": 5}  # a host that stops answering fails /readyz, not hangs it
    engine = create_engine(database_url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
        if engine.url.database not in (None, "", ":memory:"):
            queue_sqlite_writers(engine, Path(engine.url.database + ".writers"))
    return sessionmaker(engine, expire_on_commit=False)


def is_outage(error: BaseException) -> bool:
    """The database could not be reached, or dropped the connection: not a statement that
    failed (a lock or statement timeout, a constraint), which trying later would not mend.
    The first failure of a chain decides: a rollback that failed because a job's timeout
    interrupted a query is that timeout, not an outage."""
    seen = set()
    while error.__context__ is not None and id(error) not in seen:
        seen.add(id(error))
        error = error.__context__
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if isinstance(error, sqlite3.OperationalError):
        return (error.sqlite_errorname or "").startswith(FILE_TROUBLE)
    if not isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return False
    return error.sqlstate is None or error.sqlstate.startswith("08") or error.sqlstate in SERVER_GONE  # none: no server


def queue_sqlite_writers(engine: Engine, lock_path: Path) -> None:
    """Make SQLite writers from every process wait in the kernel (flock) for each other.

    SQLite's own busy handler sleeps at least 1 ms whenever two writers collide, which
    idles the CPU and halves the throughput of two web processes; a blocking file lock
    wakes the next writer as soon as the last one commits. SQLite's locks still guarantee
    correctness; this only orders the writers."""

    @event.listens_for(engine, "connect")
    def open_lock(dbapi_connection, record):
        record.info["writer_lock"] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    @event.listens_for(engine, "close")
    def close_lock(dbapi_connection, record):
        os.close(record.info.pop("writer_lock"))

    @event.listens_for(engine, "before_cursor_execute")
    def wait_to_write(connection, cursor, statement, parameters, context, executemany):
        record = connection.connection._connection_record
        if not record.info.get("writing") and statement.lstrip()[:6].upper() in WRITES:
            fcntl.flock(record.info["writer_lock"], fcntl.LOCK_EX)
            record.info["writing"] = True

    def release(record) -> None:
        if record.info.pop("writing", False):
            fcntl.flock(record.info["writer_lock"], fcntl.LOCK_UN)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def transaction_ended(connection):
        release(connection.connection._connection_record)

    @event.listens_for(engine.pool, "checkin")
    def returned_to_pool(dbapi_connection, record):
        release(record)


def _tune_sqlite(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA secure_delete=ON")  # an erased author's data is overwritten, not just unlinked
    cursor.close()


@contextmanager
def transaction(sessions: sessionmaker):
    """A session that commits on success and rolls back on any error."""
    with sessions() as session, session.begin():
        yield session


def init_app(app) -> None:
    sessions = connect(app.config["SETTINGS"].database_url)
    app.extensions["sessions"] = sessions
    app.extensions["engine"] = sessions.kw["bind"]
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    """The engine, for the few hot paths that write with Core statements."""
    return current_app.extensions["engine"]


def session() -> Session:
    """The current request's session (created on first use)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["sessions"]()
    return g.db_session


def _close_session(_exc=None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
