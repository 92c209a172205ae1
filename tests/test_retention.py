"""Retention: user agents and rejected spam go once old enough, and nothing younger; what a
moderator labelled stays; a second run, or two at once, purge nothing twice."""
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from moderation.db import transaction
from moderation.decisions import record_check
from moderation.retention import DUE_KEY, count_expired, purge_command, purge_expired, purge_when_due
from moderation.review import moderate
from moderation.tables import AuditEvent, CallbackEvent, CheckResult, Comment, Label, Moderator, utcnow
from moderation.transitions import transition
from test_privacy import database_blobs

OLD, RECENT = timedelta(days=40), timedelta(days=5)  # the settings keep both for 30 days


@pytest.fixture
def submit(client, site, comment_payload):
    """Post a comment with a user agent and give it a status and an age; returns its row id."""

    def make(age=OLD, status="pending", reason=None, decided_age=None, user_agent=None):
        token = uuid.uuid4().hex[:8]
        payload = comment_payload(content=f"Komentar nomor {token}", user_agent=user_agent or f"Browser/{token}",
                                  author_email=f"pembaca.{token}@example.co.id")  # the flood limit is per address
        response = client.post("/api/v1/comments", json=payload, headers=site["auth"])
        assert response.status_code == 202, response.get_json()
        public_id = response.get_json()["id"]
        sessions = client.application.extensions["sessions"]
        with transaction(sessions) as session:
            comment = session.scalar(select(Comment).where(Comment.public_id == public_id))
            if status != "pending":
                record_check(session, comment, "spam", score=0.99, terms=[["gacor", 1.0]], model_version="spam-test")
                transition(session, comment, status, actor="checks", reason=reason)
            moved = {"created_at": utcnow() - age}
            if decided_age is not None:
                moved["decided_at"] = utcnow() - decided_age
            session.execute(update(Comment).where(Comment.id == comment.id).values(**moved))
            return comment.id

    return make


def existing(sessions, ids) -> set[int]:
    with sessions() as session:
        return set(session.scalars(select(Comment.id).where(Comment.id.in_(ids))))


def test_only_what_is_old_enough_is_purged_and_a_second_run_does_nothing(app, sessions, settings, submit,
                                                                         make_moderator):
    old_spam = submit(status="rejected", reason="spam", decided_age=OLD)
    young_spam = submit(age=RECENT, status="rejected", reason="spam", decided_age=RECENT)
    spam_decided_lately = submit(age=OLD, status="rejected", reason="spam", decided_age=RECENT)
    old_toxic = submit(status="rejected", reason="toxic", decided_age=OLD)
    old_approved = submit(status="approved", decided_age=OLD)
    young = submit(age=RECENT, user_agent="YoungBrowser/1.0")
    labelled = submit()
    with transaction(sessions) as session:
        moderator = session.get(Moderator, make_moderator())
        moderate(session, moderator, [session.get(Comment, labelled)], "spam")
        session.execute(update(Comment).where(Comment.id == labelled).values(decided_at=utcnow() - OLD))
        session.add(CallbackEvent(event_id=uuid.uuid4().hex, site_id=session.get(Comment, old_spam).site_id,
                                  comment_id=old_spam, kind="comment.rejected", payload={"content": "spam"}))

    assert count_expired(sessions, settings) == {"user_agents": 5, "rejected_spam": 1}
    assert purge_expired(sessions, settings) == {"user_agents": 5, "rejected_spam": 1}
    everyone = [old_spam, young_spam, spam_decided_lately, old_toxic, old_approved, young, labelled]
    assert existing(sessions, everyone) == set(everyone) - {old_spam}
    with sessions() as session:
        agents = dict(session.execute(select(Comment.id, Comment.user_agent)).all())
        assert {row for row, agent in agents.items() if agent} == {young, young_spam}
        assert session.scalar(select(func.count()).where(CheckResult.comment_id == old_spam)) == 0
        assert session.scalar(select(func.count()).select_from(CallbackEvent)) == 0
        unlinked = session.scalars(select(AuditEvent).where(AuditEvent.comment_id.is_(None))).all()
        assert [(e.to_status, e.reason) for e in unlinked] == [("rejected", "spam")], "the audit trail stays"
        assert session.scalar(select(func.count()).select_from(Label)) == 1
    found = [blob for blob in database_blobs(settings.database_url) if b"YoungBrowser/1.0" in blob]
    assert found, "the young comment's user agent is stored"

    assert purge_expired(sessions, settings) == {"user_agents": 0, "rejected_spam": 0}
    later = utcnow() + timedelta(days=30)  # a month on, the young ones have aged too
    assert purge_expired(sessions, settings, now=later) == {"user_agents": 2, "rejected_spam": 2}
    assert existing(sessions, everyone) == {old_toxic, old_approved, young, labelled}


def test_the_purged_user_agents_leave_the_database_files(sessions, settings, submit):
    token = uuid.uuid4().hex
    submit(user_agent=f"PurgedBrowser/{token}")
    assert purge_expired(sessions, settings)["user_agents"] == 1
    assert not [blob for blob in database_blobs(settings.database_url) if token.encode() in blob]


def test_two_processes_purging_at_once_purge_each_row_once(app, sessions, settings, submit):
    ids = [submit(status="rejected", reason="spam", decided_age=OLD) for _ in range(24)]
    counts, errors = [], []

    def purge():
        try:
            counts.append(purge_expired(sessions, settings, batch=5))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=purge) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(count["rejected_spam"] for count in counts) == 24
    assert sum(count["user_agents"] for count in counts) == 24
    assert existing(sessions, ids) == set()


def test_the_periodic_purge_runs_once_per_period(sessions, settings, submit, redis):
    submit(status="rejected", reason="spam", decided_age=OLD)
    assert purge_when_due(sessions, settings, redis, every=3600) == {"user_agents": 1, "rejected_spam": 1}
    assert purge_when_due(sessions, settings, redis, every=3600) is None, "another sweeper ran it this hour"
    assert 3500 < redis.ttl(DUE_KEY) <= 3600


def test_purge_command_counts_on_a_dry_run(app, sessions, submit):
    spam = submit(status="rejected", reason="spam", decided_age=OLD)
    runner = app.test_cli_runner()
    dry = runner.invoke(purge_command, ["--dry-run"])
    assert dry.exit_code == 0 and "would purge: user agents 1" in dry.output and "rejected spam 1" in dry.output
    assert existing(sessions, [spam]) == {spam}
    done = runner.invoke(purge_command, [])
    assert done.exit_code == 0 and "purged: user agents 1" in done.output and "rejected spam 1" in done.output
    assert existing(sessions, [spam]) == set()
