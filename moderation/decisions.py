"""Deciding a comment once both checks are in: thresholds, fail policy, reasons."""
from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .db import transaction
from .errors import CommentNotFound
from .tables import CHECKS, Article, Ban, CheckResult, Comment, utcnow
from .transitions import transition

REJECT_REASONS = {"spam": "spam", "toxicity": "toxic"}
REJECTING_ATTRIBUTES = ("abusive", "insult", "identity_attack", "threat")  # may reject on their own
SEVERITY = ("rejected", "flagged")
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
    banned, premoderated = read_context(session, comment)
    if banned:
        status, reason, reasons["rule"] = "rejected", "banned_author", "author_banned"
        reasons["rules"].insert(0, "author_banned")
    elif premoderated:
        status, reason, reasons["rule"] = "flagged", reason or "premoderation", "article_premoderated"
        reasons["rules"].insert(0, "article_premoderated")
    return transition(session, comment, status, actor=ACTOR, reason=reason, reasons=reasons,
                      priority=rank(results, reasons))


def read_context(session: Session, comment: Comment) -> tuple[bool, bool]:
    """Whether the author is banned from the site, and whether the article holds every
    comment for a moderator: one round trip."""
    now = utcnow()
    ban = exists().where(
        Ban.site_id == comment.site_id,
        Ban.author_fingerprint == comment.author_fingerprint,
        Ban.lifted_at.is_(None),
        or_(Ban.expires_at.is_(None), Ban.expires_at > now),
    )
    banned, premoderated = session.execute(
        select(ban, Article.premoderated).where(Article.id == comment.article_id)
    ).one()
    return bool(banned), bool(premoderated)


def rank(results: dict[str, CheckResult], reasons: dict) -> float:
    """The queue's priority: the highest score of any check or attribute, then the number of
    rules the comment tripped (each adds a hundredth)."""
    scores = [result.score for result in results.values() if result.score is not None]
    scores += [score for result in results.values() for score in (result.attributes or {}).values()]
    return round(max(scores, default=1.0), 4) + len(reasons["rules"]) / 100


def decide(results: dict[str, CheckResult]) -> tuple[str, str | None, dict]:
    """The status, reason code and explanation for a set of check outcomes: the strictest
    verdict of any check wins (rejected over flagged over approved)."""
    reasons = {"checks": {}, "rule": "below_thresholds", "rules": [], "model_versions": {}}
    verdicts = []
    for check, result in sorted(results.items()):
        reasons["checks"][check] = explain(result)
        if result.model_version:
            reasons["model_versions"][check] = result.model_version
        verdict = judge(check, result)
        if verdict:
            verdicts.append(verdict)
    if not verdicts:
        return "approved", None, reasons
    verdicts.sort(key=lambda verdict: SEVERITY.index(verdict[0]))
    status, reason, rule = verdicts[0]
    reasons["rule"], reasons["rules"] = rule, [verdict[2] for verdict in verdicts]
    return status, reason, reasons


def judge(check: str, result: CheckResult) -> tuple[str, str, str] | None:
    """What one check's outcome asks for, as (status, reason code, rule), or None to approve.

    - A check that failed after its retries flags (the default fail-closed policy).
    - An attribute that may reject on its own (abuse, insults, identity attacks, threats)
      at or above its reject threshold rejects.
    - The main score at or above its reject threshold rejects only when the comment also
      looks abusive (a rejecting attribute at or above its flag threshold): hate-speech
      labels in the training data include strong political opinion, which a news comment
      section must allow, so that alone is held for a human, never rejected.
    - The main score at or above its flag threshold flags.
    """
    if result.error is not None:
        return "flagged", "check_failed", f"{check}_failed"
    reason = REJECT_REASONS[check]
    limits = result.thresholds.get("attributes", {})
    scores = {name: score for name, score in (result.attributes or {}).items() if name in limits}
    abusive = {
        level: [name for name in REJECTING_ATTRIBUTES if name in scores and scores[name] >= limits[name][level]]
        for level in ("flag", "reject")
    }
    if abusive["reject"]:
        return "rejected", reason, f"{abusive['reject'][0]}_at_or_above_reject_threshold"
    if result.score >= result.thresholds["reject"]:
        if not limits or abusive["flag"]:
            return "rejected", reason, f"{check}_at_or_above_reject_threshold"
        return "flagged", reason, f"{check}_at_or_above_reject_threshold_without_abuse"
    if result.score >= result.thresholds["flag"]:
        return "flagged", reason, f"{check}_at_or_above_flag_threshold"
    return None


def explain(result: CheckResult) -> dict:
    if result.error is not None:
        return {"error": result.error, "policy": "fail_closed"}
    return {
        "score": round(result.score, 4),
        "thresholds": result.thresholds,
        "attributes": result.attributes or {},
        "terms": result.terms or [],
    }
