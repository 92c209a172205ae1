"""The sweeper: finds pending comments whose checks are not in Redis and enqueues them.

The database is the source of truth. A comment accepted while Redis was down (or lost
when Redis restarted empty) has no job; the sweeper enqueues it. A job that ended in
RQ's failed registry is not retried forever: its check is recorded as failed, and the
comment follows the fail policy; unless its last try failed because the database was down
(`jobs.note_storage_outage`): then it is run again, every sweep, until the database answers,
so a long outage leaves comments pending instead of sending them to moderators. Callback
events are swept the same way: an undelivered event with no live delivery job is enqueued
again, and one whose job is in the failed registry (its worker died before the failure
callback ran) is marked failed, unless it, too, only waited for the database.

A job whose worker died mid-job (killed, out of memory, the host gone) stays `started`
until its entry in RQ's started registry expires; RQ's own cleanup then retries it, or
fails it when no retry is left. RQ's workers run that cleanup only every ten minutes, so
each sweep runs it first.
"""
import time
from dataclasses import dataclass
from datetime import timedelta

from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from .callbacks import QUEUE as CALLBACKS
from .callbacks import CallbackQueue, delivery_job_id
from .decisions import record_failures
from .jobs import CheckQueues, job_id, waits_for_storage
from .settings import Settings
from .tables import CHECKS, CallbackEvent, CheckResult, Comment, utcnow

ALIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED}
BATCH = 500


@dataclass
class SweepReport:
    pending: int = 0
    enqueued: int = 0
    failed: int = 0
    callbacks: int = 0  # undelivered callback events enqueued again
    callbacks_failed: int = 0
    abandoned: int = 0  # jobs whose worker died mid-job, retried or failed by RQ


def sweep_pending(sessions: sessionmaker, checks: CheckQueues, settings: Settings) -> SweepReport:
    report = SweepReport(abandoned=handle_abandoned(checks.redis))
    cutoff = utcnow() - timedelta(seconds=settings.sweep_after)
    with sessions() as session:
        stale = session.execute(
            select(Comment.public_id, Comment.id)
            .where(Comment.status == "pending", Comment.created_at < cutoff)
            .order_by(Comment.created_at)
            .limit(BATCH)
        ).all()
        done = {
            (comment_id, check)
            for comment_id, check in session.execute(
                select(CheckResult.comment_id, CheckResult.check).where(
                    CheckResult.comment_id.in_([row.id for row in stale])
                )
            )
        }
    report.pending = len(stale)
    for public_id, row_id in stale:
        missing = [check for check in CHECKS if (row_id, check) not in done]
        states = job_states(checks.redis, public_id, missing)
        lost = [check for check in missing if states[check] == "lost"]
        failed = [check for check in missing if states[check] == "failed"]
        if lost:
            checks.enqueue(public_id, lost)
            report.enqueued += 1
        if failed:
            record_failures(sessions, public_id, failed, "failed after retries")
            report.failed += 1
    report.callbacks, report.callbacks_failed = sweep_callbacks(sessions, CallbackQueue(checks.redis, settings), settings)
    return report


def sweep_callbacks(sessions: sessionmaker, callbacks: CallbackQueue, settings: Settings) -> tuple[int, int]:
    """Enqueue undelivered, not failed events that have no live job; mark failed those
    whose job ended in the failed registry. Returns both counts."""
    cutoff = utcnow() - timedelta(seconds=settings.sweep_after)
    with sessions() as session:
        waiting = session.scalars(
            select(CallbackEvent.event_id)
            .where(CallbackEvent.delivered_at.is_(None), CallbackEvent.failed_at.is_(None),
                   CallbackEvent.created_at < cutoff)
            .order_by(CallbackEvent.created_at)
            .limit(BATCH)
        ).all()
    if not waiting:
        return 0, 0
    jobs = Job.fetch_many([delivery_job_id(event_id) for event_id in waiting], connection=callbacks.redis)
    states = {event_id: job_state(job) for event_id, job in zip(waiting, jobs)}
    lost = [event_id for event_id, state in states.items() if state == "lost"]
    failed = [event_id for event_id, state in states.items() if state == "failed"]
    if lost:
        callbacks.enqueue(lost)
    if failed:
        with sessions.begin() as session:
            session.execute(update(CallbackEvent).where(CallbackEvent.event_id.in_(failed)).values(failed_at=utcnow()))
    return len(lost), len(failed)


def handle_abandoned(redis: Redis) -> int:
    """Have RQ retry (or fail, running the failure callback) every job whose worker died
    mid-job: those whose entry in a started registry has expired. Returns how many entries
    had expired."""
    abandoned, now = 0, time.time()
    for queue in (*CHECKS, CALLBACKS):
        registry = StartedJobRegistry(queue, connection=redis)
        expired = registry.get_expired_job_ids(now)
        if expired:
            registry.cleanup(now)
            abandoned += len(expired)
    return abandoned


def job_states(redis: Redis, comment_id: str, checks: list[str]) -> dict[str, str]:
    jobs = Job.fetch_many([job_id(check, comment_id) for check in checks], connection=redis)
    return {check: job_state(job) for check, job in zip(checks, jobs)}


def job_state(job: Job | None) -> str:
    """What the sweeper does about a job: "alive" (leave it), "failed" (for good), or "lost"
    (enqueue it again: gone from Redis, or failed only because the database was down)."""
    status = job.get_status(refresh=False) if job else None
    if status in ALIVE:
        return "alive"
    if status == JobStatus.FAILED and not waits_for_storage(job):
        return "failed"
    return "lost"
