"""The database: one engine and session factory per process, a session per request."""
from contextlib import contextmanager

from flask import current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    pass


def connect(database_url: str) -> sessionmaker:
    """Create the engine for a URL and return its session factory."""
    options = {"hide_parameters": True, "pool_pre_ping": True}
    if database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 15}
    engine = create_engine(database_url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    return sessionmaker(engine, expire_on_commit=False)


def _tune_sqlite(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


@contextmanager
def transaction(sessions: sessionmaker):
    """A session that commits on success and rolls back on any error."""
    with sessions() as session, session.begin():
        yield session


def init_app(app) -> None:
    app.extensions["sessions"] = connect(app.config["SETTINGS"].database_url)
    app.teardown_appcontext(_close_session)


def session() -> Session:
    """The current request's session (created on first use)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["sessions"]()
    return g.db_session


def _close_session(_exc=None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
