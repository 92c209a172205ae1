"""The check jobs. Each takes a comment id, re-reads the row, scores it, and decides once
both checks are in. A job for a comment that is no longer pending (or was erased) does
nothing, so a retry or a duplicate job is harmless. Errors are not caught: RQ retries the job, and
`on_check_failure` applies the fail policy when the retries run out.

A check whose last try failed because the database was down is not failed: the comment waits
for the database (`moderation.jobs.note_storage_outage`), however long the outage.

One exception: an operator requeues a failed job once its fault is gone. While the comment's
status is still the fail policy's verdict on that check (nobody acted on it since), the score
replaces the failure and the comment is decided again by the normal rules; otherwise the
requeued job does nothing either."""
from sqlalchemy import select

from moderation.db import transaction
from moderation.decisions import (
    decide_comment, fail_policy_stands, lock_comment, record_check, record_failures, redecide_comment, replace_failure,
)
from moderation.errors import CommentNotFound
from moderation.jobs import note_storage_outage
from moderation.tables import Comment

from .runtime import current, model


def check_spam(comment_id: str) -> dict:
    return run_check("spam", comment_id)


def check_toxicity(comment_id: str) -> dict:
    return run_check("toxicity", comment_id)


def run_check(check: str, comment_id: str) -> dict:
    sessions = current("sessions")
    with sessions() as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == comment_id))
        if comment is None:  # erased at its author's request while it waited
            return {"skipped": "gone"}
        if comment.status != "pending" and not fail_policy_stands(session, comment, check):
            return {"skipped": comment.status}
        fields = {"author_name": comment.author_name, "author_url": comment.author_url}
        content, edited_at = comment.content, comment.edited_at
    scorer = model(check)
    score = scorer.score(content, **fields)
    outcome = {
        "score": score.probability,
        "attributes": score.attributes,
        "terms": [[term, round(weight, 4)] for term, weight in score.terms],
        "thresholds": {**scorer.thresholds, "attributes": scorer.attribute_thresholds},
        "model_version": scorer.version,
    }
    with transaction(sessions) as session:
        comment = lock_comment(session, comment_id)
        if comment.edited_at != edited_at:  # edited while scored: the edit's own job scores the new text
            return {"skipped": "edited"}
        if comment.status == "pending":  # (a failure recorded while the other check waited is replaced)
            recorded = record_check(session, comment, check, **outcome) or \
                replace_failure(session, comment, check, **outcome)
            decided = recorded and decide_comment(session, comment, current("vault"))
        else:  # a requeued job, after the fail policy decided
            recorded = decided = redecide_comment(session, comment, check, current("vault"), **outcome)
            if not decided:
                return {"skipped": comment.status}
    return {"score": score.probability, "recorded": recorded, "decided": decided}


def on_check_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ calls this after every failed try; once no retry is left, the check is recorded
    as failed and the comment follows the fail policy (flagged for a human). A check that
    failed only because the database was down is not a failed check: the comment stays
    pending and the sweeper runs the check again once the database is back."""
    if job.retries_left or note_storage_outage(job, exc_value):
        return
    check = job.id.split("-", 1)[0]
    try:
        record_failures(current("sessions"), job.args[0], [check], f"{exc_type.__name__} after retries",
                        current("vault"))
    except CommentNotFound:  # erased meanwhile: nothing is left to decide
        return
