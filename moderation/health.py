"""/healthz: the process answers (no database, no Redis). /readyz: whether the service can
do its work — the database answers and is migrated to the code's head, Redis answers, and
every queue has a live worker (by RQ heartbeat), with the model versions the check workers
report having loaded. 200 when all is well, 503 otherwise, each part saying why. Neither
needs a key; neither names an email, a key or a secret."""
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from . import db, fleet
from .migrate import MIGRATIONS
from .tables import CHECKS

bp = Blueprint("health", __name__)
_heads: list[tuple[str, ...]] = []  # the code's migration heads, read once per process


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    database, migrations = check_database()
    redis = check_redis()
    workers = check_workers() if redis["ok"] else {"ok": False, "reason": "Redis is unavailable."}
    parts = {"database": database, "migrations": migrations, "redis": redis, "workers": workers}
    ready = all(part["ok"] for part in parts.values())
    return jsonify(status="ok" if ready else "unavailable", **parts), 200 if ready else 503


def code_heads() -> tuple[str, ...]:
    if not _heads:
        _heads.append(tuple(sorted(ScriptDirectory(str(MIGRATIONS)).get_heads())))
    return _heads[0]


def check_database() -> tuple[dict, dict]:
    """Whether the database answers, and whether its alembic_version is the code's head."""
    try:
        with db.engine().connect() as connection:
            connection.execute(text("select 1"))
            current = read_revisions(connection)
    except SQLAlchemyError as error:
        cause = type(getattr(error, "orig", None) or error).__name__
        return ({"ok": False, "reason": f"The database does not answer ({cause})."},
                {"ok": False, "reason": "The database does not answer."})
    head = code_heads()
    migrations = {"ok": current == head, "current": list(current), "head": list(head)}
    if current != head:
        migrations["reason"] = "The database is not at the code's migration head: run `flask --app moderation migrate`."
    return {"ok": True}, migrations


def read_revisions(connection) -> tuple[str, ...]:
    """The database's alembic_version (none in a database never migrated). Read with SQL:
    alembic's MigrationContext would log two INFO lines at every probe."""
    try:
        return tuple(sorted(connection.scalars(text("select version_num from alembic_version"))))
    except (OperationalError, ProgrammingError):
        return ()


def check_redis() -> dict:
    try:
        current_app.extensions["redis"].ping()
    except RedisError as error:
        return {"ok": False, "reason": f"Redis does not answer ({type(error).__name__})."}
    return {"ok": True}


def check_workers() -> dict:
    """Live workers per queue, and the model versions the live check workers loaded."""
    heartbeat = current_app.config["SETTINGS"].worker_heartbeat
    try:
        live = [worker for worker in fleet.worker_states(current_app.extensions["redis"], heartbeat) if worker.alive]
    except RedisError as error:
        return {"ok": False, "reason": f"Redis does not answer ({type(error).__name__})."}
    queues = {}
    for queue in fleet.QUEUES:
        serving = [worker for worker in live if queue in worker.queues]
        queues[queue] = {"live": len(serving)}
        if queue in CHECKS:
            queues[queue]["models"] = sorted({worker.models[queue] for worker in serving if queue in worker.models})
    missing = [queue for queue, state in queues.items() if not state["live"]]
    workers = {"ok": not missing, "queues": queues}
    if missing:
        limit = fleet.heartbeat_limit(heartbeat)
        workers["reason"] = f"No worker has sent a heartbeat in the last {limit:g} s for: {', '.join(missing)}."
    return workers
