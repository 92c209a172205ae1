"""The workers' side of the service as Redis holds it, read through RQ's own registries and
heartbeats: each queue's depth and oldest job, each worker's state and the model versions
it reports, jobs done and failed per minute, the failed jobs (requeue, delete) and the
sweeper's last run. /readyz, /metrics, the ops page and `flask status` all read it here."""
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.worker_registration import clean_worker_registry

from .callbacks import QUEUE as CALLBACKS
from .tables import CHECKS

QUEUES = (*CHECKS, CALLBACKS)
MODELS_KEY = "saring:worker-models"  # hash: worker name -> JSON {check: model version}
MINUTE_KEY = "saring:jobs:{queue}:{minute}"  # hash: outcome -> jobs that ended in that minute
SWEEP_KEY = "saring:sweeper:last-run"
MINUTES_KEPT = 60


@dataclass
class QueueState:
    name: str
    depth: int  # jobs waiting
    oldest_age: float | None  # seconds the oldest waiting job has waited
    started: int
    scheduled: int  # waiting for a retry's interval to pass
    failed: int
    done: list[int] = field(default_factory=list)  # jobs finished per minute, oldest minute first
    failures: list[int] = field(default_factory=list)  # failed tries per minute, oldest minute first


@dataclass
class WorkerState:
    name: str
    queues: list[str]
    state: str  # RQ's: idle, busy, suspended, ...
    current_job: str | None
    last_heartbeat: datetime | None
    heartbeat_age: float | None
    alive: bool  # heartbeat recent enough (see heartbeat_limit)
    successful: int
    failed: int
    models: dict[str, str]  # check -> model version the worker loaded


@dataclass
class FailedJob:
    id: str
    queue: str
    description: str
    error: str  # the exception's last line
    traceback: str
    ended_at: datetime | None
    subject: str  # the comment id (checks) or callback event id the job was for


def heartbeat_limit(heartbeat: float) -> float:
    """How old a worker's last heartbeat may be before it counts as dead: two missed beats."""
    return 2 * heartbeat + 5


def worker_ttl(heartbeat: float) -> int:
    """The worker_ttl that makes RQ heartbeat an idle worker every `heartbeat` seconds
    (RQ blocks on the queues for worker_ttl - 15 seconds between beats)."""
    return int(heartbeat) + 15


def report_models(redis: Redis, worker_name: str, versions: dict[str, str]) -> None:
    redis.hset(MODELS_KEY, worker_name, json.dumps(versions))


def forget_worker(redis: Redis, worker_name: str) -> None:
    redis.hdel(MODELS_KEY, worker_name)


def count_job(redis: Redis, queue: str, outcome: str) -> None:
    """Count a job that ended ('done' or 'failed') in this minute's bucket."""
    key = MINUTE_KEY.format(queue=queue, minute=int(time.time() // 60))
    with redis.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, outcome, 1)
        pipe.expire(key, MINUTES_KEPT * 60)
        pipe.execute()


def queue_states(redis: Redis, minutes: int = 10) -> list[QueueState]:
    now, this_minute = time.time(), int(time.time() // 60)
    states = []
    for name in QUEUES:
        queue = Queue(name, connection=redis)
        oldest = queue.get_jobs(0, 1)
        enqueued = oldest[0].enqueued_at if oldest else None
        with redis.pipeline(transaction=False) as pipe:
            for minute in range(this_minute - minutes + 1, this_minute + 1):
                pipe.hmget(MINUTE_KEY.format(queue=name, minute=minute), "done", "failed")
            counts = [[int(value or 0) for value in pair] for pair in pipe.execute()]
        states.append(QueueState(
            name=name,
            depth=queue.count,
            oldest_age=max(0.0, now - enqueued.timestamp()) if enqueued else None,
            started=queue.started_job_registry.get_job_count(cleanup=False),  # the sweeper handles abandoned jobs
            scheduled=queue.scheduled_job_registry.count,
            failed=queue.failed_job_registry.count,
            done=[done for done, _ in counts],
            failures=[failed for _, failed in counts],
        ))
    return states


def worker_states(redis: Redis, heartbeat: float) -> list[WorkerState]:
    """Every worker RQ knows, dead ones included until their key expires; model reports of
    workers RQ no longer knows are dropped."""
    for name in QUEUES:
        clean_worker_registry(Queue(name, connection=redis))
    reports = {key.decode(): json.loads(value) for key, value in redis.hgetall(MODELS_KEY).items()}
    workers = Worker.all(connection=redis)  # after the reports: a worker registering meanwhile keeps its own
    gone = set(reports) - {worker.name for worker in workers}
    if gone:
        redis.hdel(MODELS_KEY, *gone)
    now = datetime.now(timezone.utc)
    states = []
    for worker in sorted(workers, key=lambda w: w.name):
        beat = worker.last_heartbeat.replace(tzinfo=timezone.utc) if worker.last_heartbeat else None
        age = (now - beat).total_seconds() if beat else None
        states.append(WorkerState(
            name=worker.name,
            queues=worker.queue_names(),
            state=str(worker.get_state()),
            current_job=worker.get_current_job_id(),
            last_heartbeat=beat,
            heartbeat_age=age,
            alive=age is not None and age <= heartbeat_limit(heartbeat),
            successful=worker.successful_job_count,
            failed=worker.failed_job_count,
            models=reports.get(worker.name, {}),
        ))
    return states


def failed_jobs(redis: Redis, queue: str | None = None, limit: int = 100) -> list[FailedJob]:
    """The newest failed jobs, per queue (all queues when none is named)."""
    jobs = []
    for name in [queue] if queue else QUEUES:
        registry = FailedJobRegistry(name, connection=redis)
        ids = registry.get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=redis):
            if job is None:
                continue
            result = job.latest_result()
            traceback = (result.exc_string if result else "") or ""
            lines = [line for line in traceback.strip().splitlines()
                     if line.strip() and not line.startswith("(Background on this error")]  # SQLAlchemy's link
            jobs.append(FailedJob(
                id=job.id, queue=name, description=job.description or job.func_name, error=lines[-1] if lines else "",
                traceback=traceback, ended_at=job.ended_at, subject=str(job.args[0]) if job.args else "",
            ))
    return jobs


def requeue_failed(redis: Redis, queue: str, job_ids: list[str] | None = None) -> int:
    """Move failed jobs (all of the queue's when no ids are given) back to their queue."""
    registry = FailedJobRegistry(queue, connection=redis)
    ids = registry.get_job_ids() if job_ids is None else job_ids
    requeued = 0
    for job_id in ids:
        if job_id in registry:
            registry.requeue(job_id)
            requeued += 1
    return requeued


def delete_failed(redis: Redis, queue: str, job_id: str) -> bool:
    registry = FailedJobRegistry(queue, connection=redis)
    if job_id not in registry:
        return False
    registry.remove(job_id, delete_job=True)
    return True


def record_sweep(redis: Redis, report: dict) -> None:
    redis.set(SWEEP_KEY, json.dumps({"at": time.time(), **report}))


def last_sweep(redis: Redis) -> dict | None:
    """The sweeper's last report with its time ('at', Unix seconds), or None if it never ran."""
    raw = redis.get(SWEEP_KEY)
    return json.loads(raw) if raw else None
