"""Signed decision callbacks, the outbox: every status change of a comment whose site has a
callback URL writes a CallbackEvent in the same transaction as the change. Once that
transaction commits, one delivery job per event goes on the `callbacks` queue
(workers.deliveries signs and sends it); if Redis is down then, the events wait in the table
and the sweeper enqueues them. A job carries the event id only."""
import logging
import math
import uuid

from redis import Redis
from rq import Callback, Queue, Retry
from sqlalchemy import case, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from .audit import record_event
from .errors import InvalidFields
from .jobs import FAILURE_CALLBACK_TIMEOUT, REDIS_DOWN, connect_redis
from .settings import Settings
from .tables import CHECKS, Article, CallbackEvent, CheckResult, Comment, Site, utcnow

log = logging.getLogger(__name__)

QUEUE = "callbacks"
DELIVER = "workers.deliveries.deliver"
FAILURE_CALLBACK = "workers.deliveries.on_delivery_failure"
STATES = ("pending", "delivered", "failed")
UNSENT = "callback_events"  # session.info: ids of the events written in the open transaction
SENDER = "callback_queue"  # sessionmaker info: where a committed session's events are enqueued
REPLAY_LIMIT = 1000


def delivery_job_id(event_id: str) -> str:
    return f"deliver-{event_id}"


class CallbackQueue:
    """The `callbacks` queue and the options every delivery job gets: RQ retries it with
    the settings' backoff, and `on_delivery_failure` marks it failed when none is left."""

    def __init__(self, redis: Redis, settings: Settings):
        self.redis = redis
        self.queue = Queue(QUEUE, connection=redis)
        retries = list(settings.callback_retries)
        self.options = {
            "timeout": math.ceil(settings.callback_timeout * 3) + 10,  # resolve, connect, send, read
            "retry": Retry(max=len(retries), interval=retries) if retries else None,
            "on_failure": Callback(FAILURE_CALLBACK, timeout=FAILURE_CALLBACK_TIMEOUT),
            "result_ttl": 3600,
        }

    def enqueue(self, event_ids: list[str]) -> None:
        """Enqueue one delivery job per event in one round trip (a replayed event's job
        leaves the failed registry)."""
        registry = self.queue.failed_job_registry
        with self.redis.pipeline(transaction=False) as pipe:
            jobs = []
            for event_id in event_ids:
                registry.remove(delivery_job_id(event_id), pipeline=pipe)
                jobs.append(Queue.prepare_data(DELIVER, args=(event_id,), job_id=delivery_job_id(event_id),
                                               description=f"callback {event_id}", **self.options))
            self.queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()

    def try_enqueue(self, event_ids: list[str]) -> bool:
        """Enqueue, or leave the events to the sweeper when Redis cannot be reached."""
        try:
            self.enqueue(event_ids)
        except REDIS_DOWN as error:
            log.warning("redis unavailable, %d callback events left to the sweeper: %s", len(event_ids),
                        type(error).__name__)
            return False
        return True


def enqueue_after_commit(sessions: sessionmaker, queue: CallbackQueue) -> CallbackQueue:
    """Make every session of `sessions` enqueue the events it wrote once it commits (and
    forget them when it rolls back). Safe to call again: the listeners are added once."""
    sessions.configure(info={**sessions.kw.get("info", {}), SENDER: queue})
    if not event.contains(sessions, "after_commit", _send_committed):
        event.listen(sessions, "after_commit", _send_committed)
        event.listen(sessions, "after_rollback", _forget_rolled_back)
    return queue


def _send_committed(session: Session) -> None:
    event_ids, queue = session.info.pop(UNSENT, None), session.info.get(SENDER)
    if event_ids and queue is not None:
        queue.try_enqueue(event_ids)


def _forget_rolled_back(session: Session) -> None:
    session.info.pop(UNSENT, None)


def send_after_commit(session: Session, event_ids: list[str]) -> None:
    session.info.setdefault(UNSENT, []).extend(event_ids)


def init_app(app) -> None:
    queue = CallbackQueue(app.extensions["redis"], app.config["SETTINGS"])
    app.extensions["callbacks"] = enqueue_after_commit(app.extensions["sessions"], queue)


def init_worker(sessions: sessionmaker, settings: Settings, redis: Redis | None = None) -> CallbackQueue:
    """The same for a worker process (workers.runtime.configure)."""
    return enqueue_after_commit(sessions, CallbackQueue(redis or connect_redis(settings.redis_url), settings))


def announce(session: Session, comments: list[Comment]) -> list[str]:
    """Write a callback event for each comment just moved whose site has a callback URL;
    returns their event ids. A few statements however many comments: one per kind of row
    read, one INSERT."""
    sites = {row.id: row for row in session.execute(
        select(Site.id, Site.slug, Site.policy_version)
        .where(Site.id.in_({comment.site_id for comment in comments}), Site.callback_url.is_not(None)))}
    comments = [comment for comment in comments if comment.site_id in sites]
    if not comments:
        return []
    articles = dict(session.execute(
        select(Article.id, Article.external_id).where(Article.id.in_({comment.article_id for comment in comments}))).all())
    parent_ids = {comment.parent_id for comment in comments if comment.parent_id}
    parents = dict(session.execute(
        select(Comment.id, Comment.public_id).where(Comment.id.in_(parent_ids))).all()) if parent_ids else {}
    checks: dict[int, dict] = {}
    for row in session.execute(select(CheckResult.comment_id, CheckResult.check, CheckResult.score,
                                      CheckResult.model_version)
                               .where(CheckResult.comment_id.in_([comment.id for comment in comments]))):
        checks.setdefault(row.comment_id, {})[row.check] = row
    now, rows = utcnow(), []
    for comment in comments:
        event_id, kind = f"evt_{uuid.uuid4().hex}", f"comment.{comment.status}"
        results, reasons = checks.get(comment.id, {}), comment.reasons or {}
        payload = {
            "event": {"id": event_id, "type": kind, "created_at": now.isoformat()},
            "comment": {
                "id": comment.public_id,
                "site": sites[comment.site_id].slug,
                "article_id": articles[comment.article_id],
                "parent_id": parents.get(comment.parent_id),
                "status": comment.status,
                "reason": comment.reason,
                "author_name": comment.author_name,
                "author_url": comment.author_url,
                "content": comment.content,
                "language": comment.language,
                "created_at": iso(comment.created_at),
                "edited_at": iso(comment.edited_at),
                "decided_at": iso(comment.decided_at),
                "decided_by": comment.decided_by,
            },
            "scores": {check: results[check].score if check in results else None for check in CHECKS},
            "reasons": reasons,
            "model_versions": {check: row.model_version for check, row in results.items() if row.model_version},
            "policy_version": reasons.get("policy_version", sites[comment.site_id].policy_version),
        }
        rows.append({"event_id": event_id, "site_id": comment.site_id, "comment_id": comment.id, "kind": kind,
                     "payload": payload, "attempts": 0, "created_at": now})
    session.execute(insert(CallbackEvent), rows)
    send_after_commit(session, [row["event_id"] for row in rows])
    return [row["event_id"] for row in rows]


def iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def replay(session: Session, site_id: int | None, actor: str, event_ids: list[str] | None = None) -> dict:
    """Send events again: the named ones, or (without ids) every failed one, of one site
    (None: every site, for operators). Delivered events are skipped. Audited; the caller
    commits, and the jobs are enqueued once it has."""
    query = select(CallbackEvent.event_id, CallbackEvent.delivered_at)
    if site_id is not None:
        query = query.where(CallbackEvent.site_id == site_id)
    if event_ids is None:
        query = query.where(CallbackEvent.failed_at.is_not(None), CallbackEvent.delivered_at.is_(None))
    elif len(event_ids) > REPLAY_LIMIT:
        raise InvalidFields("Too many events.", {"event_ids": f"At most {REPLAY_LIMIT} at a time."})
    else:
        query = query.where(CallbackEvent.event_id.in_(event_ids))
    found = dict(session.execute(query.order_by(CallbackEvent.created_at).limit(REPLAY_LIMIT)).all())
    skipped = {event_id: "unknown event" for event_id in event_ids or () if event_id not in found}
    skipped |= {event_id: "already delivered" for event_id, delivered in found.items() if delivered}
    replayed = [event_id for event_id, delivered in found.items() if not delivered]
    if replayed:
        session.execute(update(CallbackEvent).where(CallbackEvent.event_id.in_(replayed)).values(failed_at=None))
        send_after_commit(session, replayed)
    record_event(session, "callback_replay", actor, site_id=site_id,
                 details={"count": len(replayed), "event_ids": replayed[:100]})
    return {"replayed": replayed, "skipped": skipped}


def list_deliveries(session: Session, site_id: int | None, state: str, page: int = 1,
                    per_page: int = 50) -> tuple[list[CallbackEvent], int]:
    """One page of a site's events (None: every site) in a delivery state, newest first,
    and how many there are."""
    if state not in STATES:
        raise InvalidFields("Unknown delivery state.", {"state": f"One of {', '.join(STATES)}."})
    query = select(CallbackEvent)
    if site_id is not None:
        query = query.where(CallbackEvent.site_id == site_id)
    if state == "delivered":
        query = query.where(CallbackEvent.delivered_at.is_not(None))
    else:
        failed = CallbackEvent.failed_at.is_not(None) if state == "failed" else CallbackEvent.failed_at.is_(None)
        query = query.where(CallbackEvent.delivered_at.is_(None), failed)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    events = session.scalars(query.order_by(CallbackEvent.created_at.desc(), CallbackEvent.id.desc())
                             .offset((page - 1) * per_page).limit(per_page)).all()
    return events, total


def count_deliveries(session: Session, site_id: int) -> dict[str, int]:
    """How many of a site's events are pending, delivered and failed."""
    state = case((CallbackEvent.delivered_at.is_not(None), "delivered"),
                 (CallbackEvent.failed_at.is_not(None), "failed"), else_="pending")
    counts = dict(session.execute(select(state, func.count()).where(CallbackEvent.site_id == site_id)
                                  .group_by(state)).all())
    return {name: counts.get(name, 0) for name in STATES}


def describe_delivery(event: CallbackEvent) -> dict:
    """An event's delivery state, without its payload (the site already got that)."""
    return {
        "id": event.event_id,
        "type": event.kind,
        "comment_id": event.payload.get("comment", {}).get("id"),
        "created_at": iso(event.created_at),
        "attempts": event.attempts,
        "last_attempt_at": iso(event.last_attempt_at),
        "last_error": event.last_error,
        "delivered_at": iso(event.delivered_at),
        "failed_at": iso(event.failed_at),
    }
