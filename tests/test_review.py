"""What moderators do: actions, selections, bans and bulk rules, against real comments
decided by the real checks."""

import pytest
from sqlalchemy import select

from conftest import as_moderator, statuses
from moderation import review
from moderation.db import transaction
from moderation.errors import Forbidden, InvalidFields, SelectionChanged
from moderation.queue import QueueFilter, find_comment, find_comments
from moderation.review import apply_rule, moderate, preview_rule
from moderation.tables import AuditEvent, Ban, Comment, Label

CLEAN = "Semoga banjir cepat surut dan warga mendapat bantuan yang layak."
ENGLISH = "Thank you for the clear reporting on the flood relief plan."
PROMO = "SLOT GACOR hari ini m4xw1n terus! daftar sekarang di PULAUWIN88, deposit 10rb langsung jp"
INSULT = "dasar goblok lu, otak udang, mending diam saja"


def test_approving_records_the_moderator_the_audit_event_and_labels(sessions, flag_comments, make_moderator):
    comment_id = flag_comments([CLEAN])[0]
    moderator_id = make_moderator()
    with transaction(sessions) as session:
        moderator = as_moderator(session, moderator_id)
        comment = find_comment(session, moderator, comment_id)
        outcome = moderate(session, moderator, [comment], "approve", note="reads fine")
        assert outcome.changed == [comment_id] and outcome.batch_id is None
    with sessions() as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == comment_id))
        assert (comment.status, comment.decided_by) == ("approved", "mira")
        event = session.scalars(select(AuditEvent).where(AuditEvent.comment_id == comment.id)
                                .order_by(AuditEvent.id)).all()[-1]
        assert (event.actor, event.from_status, event.to_status, event.details["note"]) == (
            "mira", "flagged", "approved", "reads fine")
        labels = {label.check: label for label in session.scalars(select(Label))}
        assert {check: label.value for check, label in labels.items()} == {"spam": 0, "toxicity": 0}
        assert labels["spam"].model_version.startswith("spam-")
        assert labels["spam"].overturned is False  # the spam model did not call it spam


def test_reject_needs_a_reason_and_a_known_action(sessions, flag_comments, make_moderator):
    comment_id = flag_comments([INSULT])[0]
    moderator_id = make_moderator()
    with transaction(sessions) as session:
        moderator = as_moderator(session, moderator_id)
        comment = find_comment(session, moderator, comment_id)
        with pytest.raises(InvalidFields) as error:
            moderate(session, moderator, [comment], "reject")
        assert "reason" in error.value.fields
        with pytest.raises(InvalidFields):
            moderate(session, moderator, [comment], "delete")
        moderate(session, moderator, [comment], "reject", reason="personal_attack")
    with sessions() as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == comment_id))
        assert (comment.status, comment.reason) == ("rejected", "personal_attack")
        assert [(label.check, label.value) for label in session.scalars(select(Label))] == [("toxicity", 1)]


def test_a_selection_is_one_batch_and_a_repeat_is_skipped(sessions, flag_comments, make_moderator):
    ids = flag_comments([PROMO, PROMO + " sekarang", CLEAN])
    moderator_id = make_moderator()
    with transaction(sessions) as session:
        moderator = as_moderator(session, moderator_id)
        outcome = moderate(session, moderator, find_comments(session, moderator, ids[:2]), "spam")
        assert outcome.changed == ids[:2] and outcome.batch_id
    with transaction(sessions) as session:
        moderator = as_moderator(session, moderator_id)
        again = moderate(session, moderator, find_comments(session, moderator, ids[:2]), "spam")
        assert again.changed == [] and set(again.skipped.values()) == {"already rejected"}
        events = session.scalars(select(AuditEvent).where(AuditEvent.batch_id == outcome.batch_id)).all()
        assert len(events) == 2
    assert statuses(sessions, ids) == {ids[0]: "rejected", ids[1]: "rejected", ids[2]: "flagged"}


def test_a_moderator_may_reverse_a_decision(sessions, flag_comments, make_moderator):
    comment_id = flag_comments([CLEAN])[0]
    moderator_id = make_moderator()
    for action, reason, expected in [("approve", None, "approved"), ("reject", "off_topic", "rejected"),
                                     ("approve", None, "approved")]:
        with transaction(sessions) as session:
            moderator = as_moderator(session, moderator_id)
            moderate(session, moderator, [find_comment(session, moderator, comment_id)], action, reason)
        assert statuses(sessions, [comment_id]) == {comment_id: expected}


def test_a_ban_rejects_the_comment_the_waiting_ones_and_refuses_the_next(app, client, site, sessions, flag_comments,
                                                                         make_moderator, comment_payload, work):
    comment_id = flag_comments([INSULT])[0]
    waiting = client.post("/api/v1/comments", json=comment_payload(content=CLEAN), headers=site["auth"]).get_json()
    moderator_id = make_moderator()
    with transaction(sessions) as session:
        moderator = as_moderator(session, moderator_id)
        moderate(session, moderator, [find_comment(session, moderator, comment_id)], "ban", reason="toxic",
                 ban_days=7)
    work()  # the comment posted before the ban is decided after it
    later = client.post("/api/v1/comments", json=comment_payload(content=ENGLISH), headers=site["auth"])
    assert later.status_code == 403 and later.get_json()["error"] == "author_banned"
    with sessions() as session:
        ban = session.scalar(select(Ban))
        assert ban.created_by == "mira" and (ban.expires_at - ban.created_at).days == 7
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "ban")).reason == "toxic"
        comment = session.scalar(select(Comment).where(Comment.public_id == waiting["id"]))
        assert (comment.status, comment.reason, comment.reasons["rule"]) == (
            "rejected", "banned_author", "author_banned")
    with pytest.raises(InvalidFields):
        with transaction(sessions) as session:
            moderator = as_moderator(session, moderator_id)
            moderate(session, moderator, [find_comment(session, moderator, comment_id)], "ban", "toxic",
                     ban_days=0)


def test_a_bulk_rule_is_previewed_then_applied_as_one_batch(sessions, flag_comments, make_moderator, monkeypatch):
    ids = flag_comments([CLEAN, ENGLISH, "Warga berharap tanggul segera diperbaiki."], article_id="banjir")
    other = flag_comments([CLEAN], article_id="lain")
    moderator_id = make_moderator()
    rule = QueueFilter(article="banjir", toxicity_below=0.99)
    with sessions() as session:
        preview = preview_rule(session, as_moderator(session, moderator_id), rule)
        assert preview["count"] == 3 and [c.public_id for c in preview["sample"]] == ids
    assert set(statuses(sessions, ids).values()) == {"flagged"}  # a dry run changes nothing
    with pytest.raises(SelectionChanged):
        with transaction(sessions) as session:
            apply_rule(session, as_moderator(session, moderator_id), rule, "approve", expect=2)
    monkeypatch.setattr(review, "BULK_LIMIT", 2)
    with transaction(sessions) as session:
        outcome = apply_rule(session, as_moderator(session, moderator_id), rule, "approve", expect=3)
    assert outcome.changed == ids[:2] and outcome.remaining == 1
    with transaction(sessions) as session:
        last = apply_rule(session, as_moderator(session, moderator_id), rule, "approve", expect=1)
    assert last.changed == ids[2:] and last.remaining == 0
    assert statuses(sessions, ids + other) == {**dict.fromkeys(ids, "approved"), other[0]: "flagged"}
    with sessions() as session:
        batch = session.scalars(select(AuditEvent).where(AuditEvent.batch_id == outcome.batch_id)).all()
        assert sorted(event.action for event in batch) == ["bulk_approve", "transition", "transition"]
        bulk = next(event for event in batch if event.action == "bulk_approve")
        assert bulk.details["rule"] == {"article": "banjir", "toxicity_below": 0.99, "status": "flagged"}


def test_only_an_admin_reveals_an_email_and_it_is_audited(app, sessions, flag_comments, make_moderator):
    comment_id = flag_comments([CLEAN])[0]
    moderator_id, admin_id = make_moderator(), make_moderator("ayu", role="admin", sites=())
    vault = app.extensions["vault"]
    with transaction(sessions) as session:
        moderator = as_moderator(session, moderator_id)
        with pytest.raises(Forbidden):
            review.reveal_email(session, moderator, find_comment(session, moderator, comment_id), vault)
        admin = as_moderator(session, admin_id)
        email = review.reveal_email(session, admin, find_comment(session, admin, comment_id), vault)
    assert email == "budi.santoso@example.co.id"
    with sessions() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "reveal_email"))
        assert event.actor == "ayu" and event.comment.public_id == comment_id

