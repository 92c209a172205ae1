"""Retention: user agents are purged, and comments rejected as spam deleted, once older than
the configured periods (`user_agent_days`, `rejected_spam_days`); and deleted personal data
is overwritten on disk, not just unlinked.

Rejected spam that a moderator labelled is kept: the label is a verdict the models are
retrained on (labels.training_rows), so it stays until the site erases its author. So is
rejected spam that still has a reply (only possible when an approved comment was later
rejected): its replies belong to other people.

Every batch locks its rows (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the first write takes
the database's one write lock, and every statement re-checks the conditions), so several
processes may purge at once: each row is purged by one of them, and a second run finds
nothing to do."""
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from redis import Redis
from sqlalchemy import delete, exists, func, select, text, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from .db import transaction
from .settings import Settings
from .tables import AuditEvent, CallbackEvent, CheckResult, Comment, Label, utcnow

BATCH = 1000
DUE_KEY = "saring:purge:due"  # holds nothing but "1": while it lives, the periodic purge is not due


def purge_expired(sessions: sessionmaker, settings: Settings, now: datetime | None = None,
                  batch: int = BATCH) -> dict:
    """Purge what has outlived its retention period; returns how many rows of each kind."""
    user_agents, spam = cutoffs(settings, now)
    counts = {
        "user_agents": purge_user_agents(sessions, user_agents, batch),
        "rejected_spam": delete_rejected_spam(sessions, spam, batch),
    }
    if any(counts.values()):
        checkpoint(sessions.kw["bind"])
    return counts


def count_expired(sessions: sessionmaker, settings: Settings, now: datetime | None = None) -> dict:
    """What purge_expired would purge now (the dry run)."""
    user_agents, spam = cutoffs(settings, now)
    with sessions() as session:
        return {
            "user_agents": session.scalar(select(func.count()).where(*aged_user_agents(user_agents))),
            "rejected_spam": session.scalar(select(func.count()).where(*expired_spam(spam))),
        }


def purge_when_due(sessions: sessionmaker, settings: Settings, redis: Redis, every: int = 3600) -> dict | None:
    """Purge at most once per `every` seconds across every process that calls this (a Redis
    key that expires); None when not due. For the sweeper's loop."""
    if not redis.set(DUE_KEY, "1", nx=True, ex=every):
        return None
    return purge_expired(sessions, settings)


def cutoffs(settings: Settings, now: datetime | None) -> tuple[datetime, datetime]:
    now = now or utcnow()
    return now - timedelta(days=settings.user_agent_days), now - timedelta(days=settings.rejected_spam_days)


def aged_user_agents(cutoff: datetime) -> tuple:
    return Comment.user_agent.is_not(None), Comment.created_at < cutoff


def expired_spam(cutoff: datetime) -> tuple:
    reply = aliased(Comment)
    return (
        Comment.status == "rejected",
        Comment.reason == "spam",
        Comment.decided_at < cutoff,
        ~exists().where(Label.comment_id == Comment.id),
        ~exists().where(reply.parent_id == Comment.id),
    )


def purge_user_agents(sessions: sessionmaker, cutoff: datetime, batch: int = BATCH) -> int:
    """Set the user agent of comments created before `cutoff` to NULL, a batch per transaction."""
    conditions = aged_user_agents(cutoff)

    def purge(session: Session, ids: list[int]) -> int:
        return session.execute(
            update(Comment).where(Comment.id.in_(ids), *conditions).values(user_agent=None)
            .execution_options(synchronize_session=False)
        ).rowcount

    return in_batches(sessions, conditions, batch, purge)


def delete_rejected_spam(sessions: sessionmaker, cutoff: datetime, batch: int = BATCH) -> int:
    """Delete comments rejected as spam before `cutoff` (see the module's doc for those kept),
    with their check results and callback events; their audit events stay, unlinked."""
    conditions = expired_spam(cutoff)

    def remove(session: Session, ids: list[int]) -> int:
        doomed = select(Comment.id).where(Comment.id.in_(ids), *conditions)
        return delete_comments(session, doomed, delete(Comment).where(Comment.id.in_(ids), *conditions))

    return in_batches(sessions, conditions, batch, remove)


def in_batches(sessions: sessionmaker, conditions: tuple, batch: int, act) -> int:
    """Run `act(session, ids)` on the comments matching `conditions`, one locked batch per
    transaction, until none is left; returns the sum of what it counted."""
    done, last = 0, 0
    while True:
        with transaction(sessions) as session:
            ids = lock_batch(session, last, conditions, batch)
            if not ids:
                return done
            last = ids[-1]
            done += act(session, ids)


def lock_batch(session: Session, after: int, conditions: tuple, batch: int) -> list[int]:
    """The ids of the next batch of matching comments (by id, after `after`), locked."""
    overwrite_deleted(session)
    return session.scalars(
        select(Comment.id).where(Comment.id > after, *conditions).order_by(Comment.id).limit(batch)
        .with_for_update(skip_locked=True)
    ).all()


def delete_comments(session: Session, doomed, statement) -> int:
    """Delete comments with what hangs off them: check results, labels and callback events
    (whose payloads copy the comment) go; audit events stay, unlinked. `doomed` selects the
    ids, `statement` deletes the comments; returns how many it deleted."""
    session.execute(delete(CheckResult).where(CheckResult.comment_id.in_(doomed)))
    session.execute(delete(Label).where(Label.comment_id.in_(doomed)))
    session.execute(delete(CallbackEvent).where(CallbackEvent.comment_id.in_(doomed)))
    session.execute(update(AuditEvent).where(AuditEvent.comment_id.in_(doomed)).values(comment_id=None)
                    .execution_options(synchronize_session=False))
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount


def overwrite_deleted(session: Session) -> None:
    """Make SQLite zero what this transaction deletes or overwrites, instead of leaving it in
    free space (PostgreSQL's dead rows go at the next VACUUM)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))


def checkpoint(engine) -> None:
    """Copy SQLite's write-ahead log into the database and empty it, so the old versions of
    erased rows leave the log too (best effort: a reader in progress keeps it)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be purged.")
@with_appcontext
def purge_command(dry_run: bool):
    """Purge user agents and delete rejected spam past their retention periods."""
    sessions, settings = current_app.extensions["sessions"], current_app.config["SETTINGS"]
    counts = count_expired(sessions, settings) if dry_run else purge_expired(sessions, settings)
    verb = "would purge" if dry_run else "purged"
    click.echo(f"{verb}: user agents {counts['user_agents']} (older than {settings.user_agent_days} days), "
               f"rejected spam {counts['rejected_spam']} (older than {settings.rejected_spam_days} days)")
