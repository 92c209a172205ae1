"""Cluster-wide counters and histograms, kept in Redis so that every worker on every host
adds to the same figures and any web replica can read them at scrape time (metrics.py).

Each metric is one Redis hash, `saring:metrics:<name>`: a counter's field is the JSON list
of its label values; a histogram's fields are its labels plus a bucket bound (or "sum").
Writes go in one pipeline and never raise: a Redis outage costs figures, never a job or a
request. Decisions are counted once their transaction commits (`count_after_commit`), the
way callbacks.py sends its events."""
import json
import logging
from datetime import timezone

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

KEY = "saring:metrics:{name}"
BUCKETS = {
    "check_seconds": (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    "decision_seconds": (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
}
DECIDED = ("approved", "flagged", "rejected")
UNCOUNTED = "decision_counts"  # session.info: decisions made in the open transaction
COUNTER = "decision_counter"  # sessionmaker info: the Redis a committed session's counts go to


def add(pipe, name: str, labels: tuple, amount: float = 1) -> None:
    """Queue an increment of one counter on a pipeline."""
    pipe.hincrbyfloat(KEY.format(name=name), json.dumps(list(labels)), amount)


def observe(pipe, name: str, labels: tuple, value: float) -> None:
    """Queue one observation of a histogram (its bucket and its sum) on a pipeline."""
    bound = next((str(b) for b in BUCKETS[name] if value <= b), "+Inf")
    key = KEY.format(name=name)
    pipe.hincrby(key, json.dumps([*labels, bound]), 1)
    pipe.hincrbyfloat(key, json.dumps([*labels, "sum"]), value)


def record(redis: Redis, *writes: tuple) -> bool:
    """Apply ("add" | "observe", name, labels, value) writes in one round trip; False (and
    a warning) when Redis is unavailable."""
    try:
        with redis.pipeline(transaction=False) as pipe:
            for kind, name, labels, value in writes:
                (add if kind == "add" else observe)(pipe, name, labels, value)
            pipe.execute()
    except RedisError as error:
        log.warning("metrics not recorded: %s", type(error).__name__)
        return False
    return True


def read_counter(redis: Redis, name: str) -> dict[tuple, float]:
    return {tuple(json.loads(field)): float(value) for field, value in redis.hgetall(KEY.format(name=name)).items()}


def read_histogram(redis: Redis, name: str) -> dict[tuple, tuple[list[tuple[str, float]], float]]:
    """Per label set: the cumulative buckets [(bound, count), ..., ("+Inf", count)] and the sum."""
    raw: dict[tuple, dict[str, float]] = {}
    for field, value in redis.hgetall(KEY.format(name=name)).items():
        *labels, part = json.loads(field)
        raw.setdefault(tuple(labels), {})[part] = float(value)
    histograms = {}
    for labels, parts in raw.items():
        total, buckets = 0.0, []
        for bound in [*map(str, BUCKETS[name]), "+Inf"]:
            total += parts.get(bound, 0.0)
            buckets.append((bound, total))
        histograms[labels] = (buckets, parts.get("sum", 0.0))
    return histograms


def count_decisions(session: Session, comments: list, from_status: str, to_status: str, actor: str,
                    reason: str | None) -> None:
    """Note the comments a transition just moved, to be counted when the session commits:
    decisions by outcome, reason and who decided; automated ones also by each check's model
    version and, for a first decision, the time from submission (or edit) to it."""
    if to_status not in DECIDED or not comments:
        return
    writes = session.info.setdefault(UNCOUNTED, [])
    writes.append(("add", "decisions", (to_status, reason or "", actor), len(comments)))
    if actor != "checks":
        return
    for comment in comments:
        for check, version in sorted(((comment.reasons or {}).get("model_versions") or {}).items()):
            writes.append(("add", "model_decisions", (check, version, to_status), 1))
        submitted = comment.edited_at or comment.created_at
        if from_status == "pending" and submitted and comment.decided_at:
            seconds = (aware(comment.decided_at) - aware(submitted)).total_seconds()
            writes.append(("observe", "decision_seconds", (to_status,), max(0.0, seconds)))


def aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def count_after_commit(sessions: sessionmaker, redis: Redis) -> None:
    """Make every session of `sessions` add its decisions to Redis once it commits (and
    forget them when it rolls back). Safe to call again: the listeners are added once."""
    sessions.configure(info={**sessions.kw.get("info", {}), COUNTER: redis})
    if not event.contains(sessions, "after_commit", _count_committed):
        event.listen(sessions, "after_commit", _count_committed)
        event.listen(sessions, "after_soft_rollback", _forget_rolled_back)


def _count_committed(session: Session) -> None:
    writes, redis = session.info.pop(UNCOUNTED, None), session.info.get(COUNTER)
    if writes and redis is not None:
        record(redis, *writes)


def _forget_rolled_back(session: Session, transaction) -> None:
    if transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(UNCOUNTED, None)
