"""Work in Redis: the checks are RQ jobs, enqueued by dotted path (the web never imports
the workers). A job carries the comment's public id only."""
import logging

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Callback, Queue, Retry
from rq.job import Job

from .db import is_outage
from .settings import Settings
from .tables import CHECKS

log = logging.getLogger(__name__)

CHECK_FUNCTIONS = {check: f"workers.checks.check_{check}" for check in CHECKS}
FAILURE_CALLBACK = "workers.checks.on_check_failure"
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
FAILURE_CALLBACK_TIMEOUT = 10  # seconds a job's failure callback may take (RQ's default: 60)


def connect_redis(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=5, health_check_interval=30)


def note_storage_outage(job: Job, error: BaseException) -> bool:
    """Mark a job whose last try failed only because the database could not be reached:
    nothing is wrong with its comment or event, so the sweeper runs it again once the
    database answers instead of treating it as failed for good. True if it was marked."""
    job.meta["storage_down"] = down = is_outage(error)  # (a requeued job's old mark goes)
    job.save_meta()
    return down


def waits_for_storage(job: Job | None) -> bool:
    """A failed job that `note_storage_outage` marked."""
    return job is not None and job.meta.get("storage_down", False)


def job_id(check: str, comment_id: str) -> str:
    return f"{check}-{comment_id}"


class CheckQueues:
    """The `spam` and `toxicity` queues, and the options every check job gets."""

    def __init__(self, redis: Redis, settings: Settings):
        self.redis = redis
        self.queues = {check: Queue(check, connection=redis) for check in CHECKS}
        self.options = {
            "timeout": settings.check_timeout,
            "retry": Retry(max=len(settings.check_retries), interval=list(settings.check_retries))
            if settings.check_retries else None,  # none: a failed try is final
            "on_failure": Callback(FAILURE_CALLBACK, timeout=FAILURE_CALLBACK_TIMEOUT),
            "result_ttl": 3600,
        }

    def enqueue(self, comment_id: str, checks=CHECKS) -> None:
        """Enqueue the checks of one comment in one Redis round trip (a job run again by the
        sweeper leaves the failed registry). Not a MULTI transaction: a check whose job did
        not arrive is found and enqueued by the sweeper."""
        with self.redis.pipeline(transaction=False) as pipe:
            for check in checks:
                self.queues[check].failed_job_registry.remove(job_id(check, comment_id), pipeline=pipe)
                job = Queue.prepare_data(
                    CHECK_FUNCTIONS[check],
                    args=(comment_id,),
                    job_id=job_id(check, comment_id),
                    description=f"{check} check of comment {comment_id}",
                    **self.options,
                )
                self.queues[check].enqueue_many([job], pipeline=pipe)
            pipe.execute()

    def try_enqueue(self, comment_id: str) -> bool:
        """Enqueue, or leave the comment to the sweeper when Redis cannot be reached: the
        comment is already stored, so the submission still succeeds."""
        try:
            self.enqueue(comment_id)
        except REDIS_DOWN as error:
            log.warning("redis unavailable, comment %s left to the sweeper: %s", comment_id, type(error).__name__)
            return False
        return True


    def requeue(self, comment_id: str) -> bool:
        """Enqueue both checks of an edited comment again under their usual job ids. The last
        run's job is dropped first (its hash, which still carries the result TTL that would
        expire the new job, and its place in a queue or the finished or failed registry):
        otherwise the sweeper would take a failed run's verdict for the edit's. While Redis is
        down the comment stays pending and the sweeper enqueues it."""
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for check in CHECKS:
                    queue, old = self.queues[check], job_id(check, comment_id)
                    pipe.lrem(queue.key, 0, old)
                    pipe.zrem(queue.finished_job_registry.key, old)
                    pipe.zrem(queue.failed_job_registry.key, old)
                    pipe.delete(Job.key_for(old))
                pipe.execute()
        except REDIS_DOWN as error:
            log.warning("redis unavailable, edited comment %s left to the sweeper: %s", comment_id,
                        type(error).__name__)
            return False
        return self.try_enqueue(comment_id)


def init_app(app) -> None:
    settings = app.config["SETTINGS"]
    app.extensions["redis"] = redis = connect_redis(settings.redis_url)
    app.extensions["checks"] = CheckQueues(redis, settings)
