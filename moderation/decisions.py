"""Deciding a comment once both checks are in: thresholds, fail policy, reasons."""
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .db import transaction
from .errors import CommentNotFound
from .tables import CHECKS, CheckResult, Comment
from .transitions import transition

REJECT_REASONS = {"spam": "spam", "toxicity": "toxic"}
ACTOR = "checks"


def lock_comment(session: Session, public_id: str) -> Comment:
    """Read a comment for update: the first statement writes, which takes PostgreSQL's row
    lock and SQLite's write lock, so two checks finishing together are serialised."""
    session.execute(update(Comment).where(Comment.public_id == public_id).values(public_id=Comment.public_id))
    comment = session.scalar(select(Comment).where(Comment.public_id == public_id))
    if comment is None:
        raise CommentNotFound(f"No comment with id {public_id!r}.")
    return comment


def record_check(session: Session, comment: Comment, check: str, **outcome) -> bool:
    """Store one check's outcome (score fields or `error`); False if it was already stored."""
    try:
        with session.begin_nested():
            session.add(CheckResult(comment_id=comment.id, check=check, **outcome))
    except IntegrityError:
        return False
    return True


def record_failures(sessions: sessionmaker, comment_id: str, checks: list[str], error: str) -> bool:
    """Record checks that failed for good, and decide the comment by the fail policy."""
    with transaction(sessions) as session:
        comment = lock_comment(session, comment_id)
        for check in checks:
            record_check(session, comment, check, error=error[:200])
        return decide_comment(session, comment)


def decide_comment(session: Session, comment: Comment) -> bool:
    """Decide a pending comment when every check has an outcome; True if this call decided."""
    results = {r.check: r for r in session.scalars(select(CheckResult).where(CheckResult.comment_id == comment.id))}
    if comment.status != "pending" or set(results) != set(CHECKS):
        return False
    status, reason, reasons = decide(results)
    return transition(session, comment, status, actor=ACTOR, reason=reason, reasons=reasons)


def decide(results: dict[str, CheckResult]) -> tuple[str, str | None, dict]:
    """The status, reason code and explanation for a set of check outcomes.

    A check at or above its reject threshold rejects; at or above its flag threshold it
    flags; a check that failed after its retries flags (the default fail-closed policy).
    """
    reasons = {"checks": {}, "rule": "below_thresholds", "model_versions": {}}
    rejected, flagged = [], []
    for check, result in sorted(results.items()):
        reasons["checks"][check] = explain(result)
        if result.model_version:
            reasons["model_versions"][check] = result.model_version
        if result.error is not None:
            flagged.append(("check_failed", f"{check}_failed"))
        elif result.score >= result.thresholds["reject"]:
            rejected.append((REJECT_REASONS[check], f"{check}_at_or_above_reject_threshold"))
        elif result.score >= result.thresholds["flag"]:
            flagged.append((REJECT_REASONS[check], f"{check}_at_or_above_flag_threshold"))
    if rejected:
        reasons["rule"] = rejected[0][1]
        return "rejected", rejected[0][0], reasons
    if flagged:
        reasons["rule"] = flagged[0][1]
        return "flagged", flagged[0][0], reasons
    return "approved", None, reasons


def explain(result: CheckResult) -> dict:
    if result.error is not None:
        return {"error": result.error, "policy": "fail_closed"}
    return {
        "score": round(result.score, 4),
        "thresholds": result.thresholds,
        "attributes": result.attributes or {},
        "terms": result.terms or [],
    }
