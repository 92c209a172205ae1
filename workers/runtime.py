"""What a worker process holds: its settings, a session factory, Redis, the loaded models;
and the RQ worker class that reports on its jobs.

`configure` is called once at start (by __main__, or by the tests with their settings);
`model` loads a check's artifact once (run_worker loads them all before any work).
"""
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from rq import SimpleWorker

from moderation import fleet
from moderation.callbacks import QUEUE as CALLBACKS
from moderation.callbacks import init_worker
from moderation.counters import count_after_commit, record
from moderation.db import connect
from moderation.jobs import CheckQueues, connect_redis
from moderation.perspective import ANALYZE_JOB, delete_analysis
from moderation.privacy import Vault
from moderation.settings import Settings
from moderation.tables import CHECKS

if TYPE_CHECKING:
    from models.scoring import Model

log = logging.getLogger("workers.jobs")
ABANDON_SLACK = 5  # seconds past a job's timeout and failure callback before it counts as abandoned
DELIVERIES = {"done": "delivered", "retried": "retried", "failed": "failed"}  # job outcome -> delivery result
_state: dict = {}


def configure(settings: Settings, models: "dict[str, Model] | None" = None) -> None:
    redis = connect_redis(settings.redis_url)
    sessions = connect(settings.database_url)
    _state.clear()
    _state.update(
        settings=settings,
        sessions=sessions,
        redis=redis,
        checks=CheckQueues(redis, settings),
        callbacks=init_worker(sessions, settings, redis),  # decisions' callbacks are enqueued after commit
        vault=Vault(settings.email_keys, settings.fingerprint_key),
        models=dict(models or {}),
    )
    count_after_commit(sessions, redis)  # decisions are counted for /metrics once committed


def current(name: str):
    if not _state:
        configure(Settings.from_env())
    return _state[name]


def model(check: str) -> "Model":
    """A check's model, loaded once from MODERATION_MODELS_DIR (default models/artifacts).
    scikit-learn is imported here, so the scheduler and callback workers never load it."""
    models = current("models")
    if check not in models:
        from models.scoring import load_model

        directory = current("settings").models_dir
        models[check] = load_model(check, Path(directory) if directory else None)
    return models[check]


class Worker(SimpleWorker):
    """RQ's non-forking worker, which also reports the model versions it loaded (from its
    registration, at each heartbeat, until it stops) and, per job, logs one line and counts
    the outcome and, for a check, its duration; a Redis outage loses those figures, never
    the job."""

    models: dict[str, str] = {}  # check -> model version loaded before any work

    def get_heartbeat_ttl(self, job, working_time=0.0):
        """How long a running job's entry in RQ's started registry lasts (a SimpleWorker sends
        no heartbeat mid-job): the job's timeout, its failure callback's, and a few seconds.
        RQ allows 60 s after the timeout, so a job whose worker died would wait that much
        longer before the sweeper has RQ retry it (moderation.sweep.handle_abandoned)."""
        if not job.timeout or job.timeout < 0 or job.success_callback is not None:
            return super().get_heartbeat_ttl(job, working_time)
        return int(job.timeout) + (job.failure_callback_timeout if job.failure_callback else 0) + ABANDON_SLACK

    def register_birth(self):
        super().register_birth()
        if self.models:
            fleet.report_models(self.connection, self.name, self.models)

    def heartbeat(self, timeout=None, pipeline=None):
        super().heartbeat(timeout, pipeline)
        if self.models:  # again at each beat: a report another process cleared comes back
            fleet.report_models(pipeline if pipeline is not None else self.connection, self.name, self.models)

    def register_death(self):
        fleet.forget_worker(self.connection, self.name)
        super().register_death()

    def handle_job_success(self, job, queue, started_job_registry, execution):
        deleted = self.deleted_analysis(job)
        super().handle_job_success(job, queue, started_job_registry, execution)
        self.drop_given_up_analysis(job, deleted)
        result = getattr(job, "_result", None)  # the job's return value, as RQ just stored it
        skipped = result.get("skipped") if isinstance(result, dict) else None
        self.report_job(job, queue.name, "done", skipped=skipped)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        retry = job.should_retry and self._stopped_job_id != job.id
        deleted = self.deleted_analysis(job)
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        self.drop_given_up_analysis(job, deleted)
        self.report_job(job, queue.name, "retried" if retry else "failed", error=last_line(exc_string))

    def deleted_analysis(self, job) -> bool:
        """A Perspective job that its request deleted while it ran (a heartbeat re-creates the
        job's key meanwhile; its `data`, the text, it does not)."""
        return job.func_name == ANALYZE_JOB and not self.connection.hexists(job.key, "data")

    def drop_given_up_analysis(self, job, deleted: bool) -> None:
        """RQ has just saved the job again, text and all: delete it when its request deleted
        it or gives up by now (its deadline, the job's third argument, has passed), as nobody
        will read the result."""
        if job.func_name == ANALYZE_JOB and (deleted or time.time() > job.args[2]):
            delete_analysis(job)

    def report_job(self, job, queue: str, outcome: str, **details) -> None:
        seconds = (job.ended_at - job.started_at).total_seconds() if job.started_at and job.ended_at else None
        level = logging.INFO if outcome == "done" else logging.WARNING
        analysis = job.func_name == ANALYZE_JOB  # its argument is a text, never logged
        subject = "event_id" if queue == CALLBACKS else "comment_id"  # what job.args[0] names
        log.log(level, "%s %s %s", queue, job.id, outcome, extra={
            "job_id": job.id, "queue": queue, subject: str(job.args[0]) if job.args and not analysis else None,
            "outcome": outcome, "duration_ms": round(seconds * 1000, 2) if seconds is not None else None,
            **{key: value for key, value in details.items() if value},
        })
        writes = [("add", "jobs", (queue, outcome), 1)]
        if queue in CHECKS and outcome == "done" and seconds is not None and not analysis:
            writes.append(("observe", "check_seconds", (queue,), seconds))
        if queue == CALLBACKS:
            writes.append(("add", "deliveries", ("skipped" if details.get("skipped") else DELIVERIES[outcome],), 1))
        if record(self.connection, *writes):
            try:
                fleet.count_job(self.connection, queue, "done" if outcome == "done" else "failed")
            except RedisError as error:  # the job is done either way; only the figure is lost
                log.warning("job count not recorded: %s", type(error).__name__)


def last_line(traceback: str) -> str:
    """An exception's last line (its type and message), for the job's log line."""
    lines = [line for line in (traceback or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
