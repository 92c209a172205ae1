"""What an operator needs to see, gathered once for the ops page (/ops, ops_pages.py) and for
`flask status`: the queues, workers and failed jobs as Redis holds them (fleet.py), the
sweeper's last run, comments stuck in `pending` and undelivered callbacks. Redis or the
database being down is part of the picture, never an error. Also `flask requeue-failed`."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import click
from flask import Blueprint, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from . import fleet
from .audit import record_event, site_slugs
from .callbacks import describe_delivery, list_deliveries
from .db import transaction
from .jobs import REDIS_DOWN
from .queue_pages import human_duration
from .tables import Comment, Site, utcnow

bp = Blueprint("ops", __name__, url_prefix="/ops")

LISTED = 50  # stuck comments, failed jobs and undelivered callbacks shown (the totals count all)


@dataclass
class Snapshot:
    taken_at: datetime
    redis_error: str | None = None  # why Redis could not be read (then its parts are empty)
    database_error: str | None = None
    queues: list[fleet.QueueState] = field(default_factory=list)
    workers: list[fleet.WorkerState] = field(default_factory=list)
    failed_jobs: list[fleet.FailedJob] = field(default_factory=list)  # newest first
    sweep: dict | None = None  # the sweeper's last report, with "at" (Unix seconds)
    stuck: list[dict] = field(default_factory=list)  # id, site, age (seconds): never an email
    stuck_total: int = 0
    callbacks: dict[str, list[dict]] = field(default_factory=dict)  # "failed"/"pending": events
    callback_totals: dict[str, int] = field(default_factory=dict)

    @property
    def failed_total(self) -> int:
        return sum(queue.failed for queue in self.queues)

    def problems(self) -> list[str]:
        """What needs an operator's attention; empty when all is well."""
        found = []
        if self.redis_error:
            found.append(f"Redis is unreachable ({self.redis_error})")
        if self.database_error:
            found.append(f"the database is unreachable ({self.database_error})")
        if not self.redis_error:
            served = {name for worker in self.workers if worker.alive for name in worker.queues}
            found += [f"no live worker for the {queue.name} queue" for queue in self.queues if queue.name not in served]
        if self.failed_total:
            found.append(f"{self.failed_total} failed job(s)")
        if self.stuck_total:
            found.append(f"{self.stuck_total} comment(s) stuck in pending")
        if self.callback_totals.get("failed"):
            found.append(f"{self.callback_totals['failed']} callback(s) failed")
        return found


def take_snapshot(app) -> Snapshot:
    """Everything on the ops page, read now."""
    settings, redis = app.config["SETTINGS"], app.extensions["redis"]
    snapshot = Snapshot(taken_at=utcnow())
    try:
        snapshot.queues = fleet.queue_states(redis)
        snapshot.workers = fleet.worker_states(redis, settings.worker_heartbeat)
        snapshot.failed_jobs = sorted(fleet.failed_jobs(redis, limit=LISTED), key=ended, reverse=True)[:LISTED]
        snapshot.sweep = fleet.last_sweep(redis)
    except REDIS_DOWN as error:
        snapshot.queues, snapshot.workers, snapshot.failed_jobs = [], [], []
        snapshot.redis_error = type(error).__name__
    try:
        with app.extensions["sessions"]() as session:
            read_database(session, snapshot, settings.stuck_after)
    except OperationalError as error:
        snapshot.database_error = type(error.orig).__name__
    return snapshot


def read_database(session, snapshot: Snapshot, stuck_after: float) -> None:
    """Comments pending longer than `stuck_after` seconds (since they were sent or last
    edited), and the callback events that failed or still wait, across every site."""
    since = func.coalesce(Comment.edited_at, Comment.created_at)
    stuck = (Comment.status == "pending", since < snapshot.taken_at - timedelta(seconds=stuck_after))
    snapshot.stuck_total = session.scalar(select(func.count()).where(*stuck))
    rows = session.execute(select(Comment.public_id, Site.slug, since).join(Site, Site.id == Comment.site_id)
                           .where(*stuck).order_by(since).limit(LISTED))
    snapshot.stuck = [{"id": public_id, "site": slug, "age": (snapshot.taken_at - moment).total_seconds()}
                      for public_id, slug, moment in rows]
    slugs = site_slugs(session)
    for state in ("failed", "pending"):
        events, snapshot.callback_totals[state] = list_deliveries(session, None, state, 1, LISTED)
        snapshot.callbacks[state] = [{**describe_delivery(event), "site": slugs.get(event.site_id)} for event in events]


def ended(job: fleet.FailedJob) -> float:
    return job.ended_at.timestamp() if job.ended_at else 0.0


def requeue_jobs(redis, queue: str | None, job_ids: list[str] | None) -> int:
    """Requeue failed jobs: all of one queue (or of every queue), or the named ones wherever
    they failed. Returns how many went back."""
    return sum(fleet.requeue_failed(redis, name, job_ids) for name in ([queue] if queue else fleet.QUEUES))


# -- the text version: flask status ---------------------------------------------------------------

def describe_snapshot(snapshot: Snapshot, newest: int = 5) -> list[str]:
    age = human_duration
    lines = [f"Saring status at {snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC", ""]
    if snapshot.redis_error:
        lines += [f"Redis is unreachable ({snapshot.redis_error}): no queues, workers or failed jobs to show.", ""]
    else:
        lines.append("Queues:")
        for queue in snapshot.queues:
            oldest = age(queue.oldest_age) if queue.oldest_age is not None else "-"
            lines.append(f"  {queue.name:<10} waiting {queue.depth}, oldest {oldest}, started {queue.started}, "
                         f"scheduled {queue.scheduled}, failed {queue.failed}, done in the last "
                         f"{len(queue.done)} min {sum(queue.done)}, failed tries {sum(queue.failures)}")
        lines.append("Workers:" if snapshot.workers else "Workers: none")
        for worker in snapshot.workers:
            beat = f"{age(worker.heartbeat_age)} ago" if worker.heartbeat_age is not None else "never"
            models = ", ".join(f"{check} {version}" for check, version in sorted(worker.models.items())) or "-"
            lines.append(f"  {worker.name} [{', '.join(worker.queues)}] {'alive' if worker.alive else 'DEAD'}, "
                         f"{worker.state}, job {worker.current_job or '-'}, heartbeat {beat}, "
                         f"done {worker.successful}, failed {worker.failed}, models {models}")
        lines.append(f"Failed jobs: {snapshot.failed_total}")
        for job in snapshot.failed_jobs[:newest]:
            lines.append(f"  {job.queue:<10} {job.id}: {job.error}")
        sweep = snapshot.sweep
        lines.append(f"Sweeper's last run: {age(snapshot.taken_at.timestamp() - sweep['at'])} ago"
                     if sweep else "Sweeper's last run: never")
    if snapshot.database_error:
        lines.append(f"The database is unreachable ({snapshot.database_error}).")
    else:
        lines.append(f"Stuck in pending: {snapshot.stuck_total}")
        lines += [f"  {row['id']} ({row['site']}), pending {age(row['age'])}" for row in snapshot.stuck[:newest]]
        lines.append(f"Undelivered callbacks: {snapshot.callback_totals['failed']} failed, "
                     f"{snapshot.callback_totals['pending']} waiting")
        lines += [f"  {event['id']} ({event['site']}, {event['type']}), {event['attempts']} attempt(s): "
                  f"{event['last_error'] or '-'}" for event in snapshot.callbacks["failed"][:newest]]
    problems = snapshot.problems()
    lines += ["", "Needs attention: " + "; ".join(problems) if problems else "All is well."]
    return lines


@click.command("status")
@with_appcontext
def status_command():
    """A text version of the ops page: queues, workers, failed jobs, the sweeper's last run,
    comments stuck in pending and undelivered callbacks.

    Exits 0 when all is well and 1 when something needs attention: Redis or the database
    unreachable, a queue with no live worker, failed jobs, stuck comments or failed
    callbacks (each is named on the last line)."""
    snapshot = take_snapshot(current_app)
    click.echo("\n".join(describe_snapshot(snapshot)))
    if snapshot.problems():
        click.get_current_context().exit(1)


@click.command("requeue-failed")
@with_appcontext
@click.option("--queue", type=click.Choice(fleet.QUEUES), help="Only this queue's failed jobs (default: every queue).")
@click.argument("job_ids", nargs=-1, metavar="[JOB_ID]...")
def requeue_failed_command(queue: str | None, job_ids: tuple[str, ...]):
    """Move failed jobs back to their queues: every failed job, or the named ones.

    A requeued check whose comment the fail policy decided (and nobody touched since)
    decides it again by its score. Prints how many went back, audited as the actor `cli`;
    exits 1 when a named job was not among the failed ones."""
    redis = current_app.extensions["redis"]
    try:
        if job_ids:  # one by one, to name those that were not failed
            counts = {job_id: requeue_jobs(redis, queue, [job_id]) for job_id in job_ids}
            count, missing = sum(counts.values()), [job_id for job_id, found in counts.items() if not found]
        else:
            count, missing = requeue_jobs(redis, queue, None), []
    except REDIS_DOWN as error:
        raise click.ClickException(f"Redis is unreachable ({type(error).__name__})") from None
    if count:
        with transaction(current_app.extensions["sessions"]) as session:
            record_event(session, "jobs_requeued", "cli", details={"queue": queue, "count": count,
                                                                  "job_ids": list(job_ids)[:100]})
    click.echo(f"requeued {count} failed job(s)")
    for job_id in missing:
        click.echo(f"not a failed job: {job_id}", err=True)
    if missing:
        click.get_current_context().exit(1)


from . import ops_pages  # noqa: E402,F401  the page's routes, on this blueprint
