"""/healthz and /readyz as an orchestrator and an operator see them: ready only with the
database migrated, Redis up and a live worker on every queue (with the model versions the
check workers loaded), and saying why not otherwise."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from rq import Queue
from rq.utils import utcformat
from sqlalchemy import text

from conftest import empty_database, free_port
from moderation import create_app, fleet
from moderation.migrate import MIGRATIONS
from moderation.settings import Settings
from workers.runtime import Worker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def process_env(settings, **extra) -> dict:
    """The environment that gives a child process the tests' settings."""
    return {**os.environ, "PYTHONPATH": ROOT, "MODERATION_SECRET_KEY": settings.secret_key,
            "MODERATION_EMAIL_KEYS": ",".join(settings.email_keys),
            "MODERATION_FINGERPRINT_KEY": settings.fingerprint_key, "MODERATION_DATABASE_URL": settings.database_url,
            "MODERATION_REDIS_URL": settings.redis_url, "MODERATION_ENV": "test", **extra}


def register_workers(redis, models=None) -> list[Worker]:
    """A check worker and a callback worker, registered the way RQ registers them at start."""
    checks = Worker([Queue("spam", connection=redis), Queue("toxicity", connection=redis)], connection=redis,
                    name=f"spam+toxicity.test.{time.monotonic_ns()}")
    checks.models = models or {"spam": "spam-test-1", "toxicity": "toxicity-test-1"}
    callbacks = Worker([Queue("callbacks", connection=redis)], connection=redis, name=f"callbacks.test.{time.monotonic_ns()}")
    for worker in (checks, callbacks):
        worker.register_birth()
    return [checks, callbacks]


@pytest.fixture
def plain_settings(sqlite_url, redis, redis_server):
    """The tests' settings on SQLite only, for tests where the database is not the point."""
    empty_database(sqlite_url)
    return Settings(secret_key="test-secret", email_keys=(Fernet.generate_key().decode(),),
                    fingerprint_key="test-fingerprint-key", database_url=sqlite_url, redis_url=redis_server.url,
                    env="test")


def wait_for(predicate, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_healthz_answers_while_everything_else_is_down(plain_settings):
    settings = plain_settings
    down = replace(settings, database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone",
                   redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = create_app(down).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "unavailable"
    for part in ("database", "migrations", "redis", "workers"):
        assert body[part]["ok"] is False and body[part]["reason"], part
    assert "gone" not in ready.get_data(as_text=True) and settings.secret_key not in ready.get_data(as_text=True)


def test_ready_once_every_queue_has_a_live_worker(client, redis):
    waiting = client.get("/readyz")
    assert waiting.status_code == 503
    assert all(name in waiting.get_json()["workers"]["reason"] for name in ("spam", "toxicity", "callbacks"))
    checks, callbacks = register_workers(redis)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    body = ready.get_json()
    assert body["status"] == "ok"
    assert body["workers"]["queues"]["spam"] == {"live": 1, "models": ["spam-test-1"]}
    assert body["workers"]["queues"]["toxicity"]["models"] == ["toxicity-test-1"]
    assert body["workers"]["queues"]["callbacks"] == {"live": 1}
    redis.hdel(fleet.MODELS_KEY, checks.name)  # lost (another process cleared it)
    checks.heartbeat()
    assert client.get("/readyz").get_json()["workers"]["queues"]["spam"]["models"] == ["spam-test-1"]
    silent = datetime.now(timezone.utc) - timedelta(seconds=fleet.heartbeat_limit(client.application.config[
        "SETTINGS"].worker_heartbeat) + 1)
    redis.hset(callbacks.key, "last_heartbeat", utcformat(silent))  # it stopped beating without saying so
    stale = client.get("/readyz")
    assert stale.status_code == 503 and "callbacks" in stale.get_json()["workers"]["reason"]
    checks.register_death()  # a clean exit forgets its models
    assert redis.hget(fleet.MODELS_KEY, checks.name) is None


def test_not_ready_while_redis_is_down(client, redis_server, redis):
    if redis_server.process is None:
        pytest.skip("an external test Redis cannot be stopped")
    register_workers(redis)
    assert client.get("/readyz").status_code == 200
    redis_server.stop()
    try:
        down = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
    finally:
        redis_server.start()
    assert down.status_code == 503
    body = down.get_json()
    assert body["redis"]["ok"] is False and "ConnectionError" in body["redis"]["reason"]
    assert body["workers"] == {"ok": False, "reason": "Redis is unavailable."}
    assert body["database"]["ok"] and body["migrations"]["ok"]
    assert client.get("/readyz").status_code == 503  # Redis came back empty: no worker is registered yet
    register_workers(redis)
    assert client.get("/readyz").status_code == 200


def test_not_ready_while_migrations_are_behind(app, client, redis):
    register_workers(redis)
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    previous = ScriptDirectory(str(MIGRATIONS)).get_revision(head).down_revision
    engine = app.extensions["engine"]
    with engine.begin() as connection:
        connection.execute(text("update alembic_version set version_num = :v"), {"v": previous})
    try:
        behind = client.get("/readyz")
    finally:
        with engine.begin() as connection:
            connection.execute(text("update alembic_version set version_num = :v"), {"v": head})
    assert behind.status_code == 503
    migrations = behind.get_json()["migrations"]
    assert migrations["ok"] is False and migrations["current"] == [previous] and migrations["head"] == [head]
    assert "migrate" in migrations["reason"]
    assert client.get("/readyz").status_code == 200


def test_worker_processes_heartbeat_report_models_and_drop_out_when_they_stop(plain_settings, tmp_path):
    settings = replace(plain_settings, worker_heartbeat=1.0)  # the web and the workers read the same setting
    client = create_app(settings).test_client()
    env = process_env(settings, MODERATION_WORKER_HEARTBEAT="1")
    logs = [tmp_path / "all.log", tmp_path / "callbacks.log"]
    started = [subprocess.Popen([sys.executable, "-m", "workers", role], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=log.open("w"))
               for role, log in zip(("all", "callbacks"), logs)]
    try:
        assert wait_for(lambda: client.get("/readyz").status_code == 200), client.get("/readyz").get_json()
        queues = client.get("/readyz").get_json()["workers"]["queues"]
        assert len(queues["spam"]["models"]) == 1 and queues["spam"]["models"][0].startswith("spam-")
        started[1].send_signal(signal.SIGTERM)  # a clean stop unregisters at once
        assert started[1].wait(30) == 0
        assert client.get("/readyz").get_json()["workers"]["queues"]["callbacks"] == {"live": 0}
        started[0].kill()  # a crash: only the missing heartbeats tell
        assert wait_for(lambda: client.get("/readyz").get_json()["workers"]["queues"]["spam"]["live"] == 0,
                        fleet.heartbeat_limit(1.0) + 5)
        assert client.get("/readyz").status_code == 503
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait(10)
    lines = logs[1].read_text().splitlines()
    assert lines and all(json.loads(line)["level"] for line in lines)  # every line is JSON
    assert any(json.loads(line)["logger"] == "workers" for line in lines)


def test_the_web_process_never_loads_scikit_learn(plain_settings):
    settings = plain_settings
    probe = ("import sys; from moderation import create_app; c = create_app().test_client(); "
             "c.get('/readyz'); c.get('/metrics'); c.get('/healthz'); print('sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], env=process_env(settings), cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
