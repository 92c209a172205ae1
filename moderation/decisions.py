"""Deciding a comment once both checks are in: the scores, the site's policy and what the
database knows of the author and the thread, judged by rules.py, applied exactly once; and
deciding it again when a check that failed for good is requeued and scores it after all."""
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .db import transaction
from .errors import CommentNotFound
from .policy import Policy, load_policy
from .privacy import Vault
from .rules import Context, decide
from .callbacks import announce
from .tables import CHECKS, Article, AuditEvent, Ban, CheckResult, Comment, Site, utcnow
from .transitions import ALLOWED, transition
from .words import link_hosts

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


def record_failures(sessions: sessionmaker, comment_id: str, checks: list[str], error: str,
                    vault: Vault | None = None) -> bool:
    """Record checks that failed for good, and decide the comment by the fail policy."""
    with transaction(sessions) as session:
        comment = lock_comment(session, comment_id)
        for check in checks:
            record_check(session, comment, check, error=error[:200])
        return decide_comment(session, comment, vault)


def decide_comment(session: Session, comment: Comment, vault: Vault | None = None) -> bool:
    """Decide a pending comment when every check has an outcome; True if this call decided.
    With `vault`, the word lists also read the author's email address."""
    results = {r.check: r for r in session.scalars(select(CheckResult).where(CheckResult.comment_id == comment.id))}
    if comment.status != "pending" or set(results) != set(CHECKS):
        return False
    status, reason, reasons = decide(results, read_context(session, comment, vault))
    return transition(session, comment, status, actor=ACTOR, reason=reason, reasons=reasons,
                      priority=rank(results, reasons))


def fail_policy_stands(session: Session, comment: Comment, check: str) -> bool:
    """Whether the comment's status is still the fail policy's verdict on `check`: decided by
    the checks with this check's failure in its reasons, the failure still recorded, and no
    audited act on the comment since (a moderator's, the site's, an edit, a ban, a reveal)."""
    if comment.status == "pending" or comment.decided_by != ACTOR:
        return False
    if "error" not in (comment.reasons or {}).get("checks", {}).get(check, {}):
        return False
    last = session.execute(select(AuditEvent.action, AuditEvent.actor, AuditEvent.to_status)
                           .where(AuditEvent.comment_id == comment.id).order_by(AuditEvent.id.desc()).limit(1)).first()
    if last is None or tuple(last) != ("transition", ACTOR, comment.status):
        return False
    return session.scalar(select(CheckResult.error).where(
        CheckResult.comment_id == comment.id, CheckResult.check == check)) is not None


def replace_failure(session: Session, comment: Comment, check: str, **outcome) -> bool:
    """Store a requeued check's score in place of the failure its retries ended in; False if
    the check has no failure recorded."""
    result = session.scalar(select(CheckResult).where(
        CheckResult.comment_id == comment.id, CheckResult.check == check, CheckResult.error.is_not(None)))
    if result is None:
        return False
    for name in ("score", "attributes", "terms", "thresholds", "model_version", "error"):
        setattr(result, name, outcome.get(name))
    result.created_at = utcnow()
    session.flush()
    return True


def redecide_comment(session: Session, comment: Comment, check: str, vault: Vault | None = None, **outcome) -> bool:
    """A requeued check's score for a comment the fail policy decided because that check
    failed: the score replaces the failure and the comment is decided again by the normal
    rules, audited and announced like the first decision (in place when the status stays).
    Does nothing (False) once anyone acted on the comment since, or when the state machine
    has no edge to the new status. The comment must be locked (lock_comment)."""
    if not fail_policy_stands(session, comment, check):
        return False
    results = {r.check: r for r in session.scalars(select(CheckResult).where(CheckResult.comment_id == comment.id))}
    results[check] = CheckResult(comment_id=comment.id, check=check, **outcome)  # not added: judged first
    status, reason, reasons = decide(results, read_context(session, comment, vault))
    if status != comment.status and status not in ALLOWED[comment.status]:
        return False
    replace_failure(session, comment, check, **outcome)
    if status != comment.status:
        return transition(session, comment, status, actor=ACTOR, reason=reason, reasons=reasons,
                          priority=rank(results, reasons))
    comment.reason, comment.reasons, comment.priority = reason, reasons, rank(results, reasons)
    comment.decided_at = utcnow()
    session.add(AuditEvent(action="transition", actor=ACTOR, comment_id=comment.id, site_id=comment.site_id,
                           from_status=status, to_status=status, reason=reason, details=reasons,
                           created_at=comment.decided_at))
    session.flush()
    announce(session, [comment])
    return True


def read_context(session: Session, comment: Comment, vault: Vault | None = None) -> Context:
    """The site's policy, a ban, the article's premoderation (one round trip), and what the
    policy asks about the author and the comment's words and links."""
    ban = exists().where(
        Ban.site_id == comment.site_id,
        Ban.author_fingerprint == comment.author_fingerprint,
        Ban.in_force(utcnow()),
    )
    banned, premoderated, stored_policy, version = session.execute(
        select(ban, Article.premoderated, Site.policy, Site.policy_version)
        .join(Site, Site.id == Article.site_id)
        .where(Article.id == comment.article_id)
    ).one()
    policy = read_policy(comment.site_id, version, stored_policy)
    approved_before = 0
    if policy.hold_new_authors or policy.trusted_after:
        approved_before = session.scalar(select(func.count()).where(
            Comment.site_id == comment.site_id, Comment.author_fingerprint == comment.author_fingerprint,
            Comment.status == "approved", Comment.id != comment.id))
    email = vault.decrypt(comment.author_email) if vault and (policy.block_words or policy.hold_words) else None
    return Context(
        policy=policy, policy_version=version, banned=bool(banned), premoderated=bool(premoderated),
        approved_before=approved_before, texts=(comment.author_name, email, comment.author_url, comment.content),
        hosts=tuple(link_hosts(comment.content, comment.author_url)),
    )


def read_policy(site_id: int, version: int, stored: dict | None) -> Policy:
    """A site's policy version, validated once per process (a version's text never changes;
    the text is compared all the same, so a recreated site cannot inherit a stale entry)."""
    cached = _POLICIES.get((site_id, version))
    if cached is None or cached[0] != stored:
        if len(_POLICIES) > 1000:
            _POLICIES.clear()
        cached = _POLICIES[(site_id, version)] = (stored, load_policy(stored))
    return cached[1]


_POLICIES: dict[tuple[int, int], tuple[dict | None, Policy]] = {}


def rank(results: dict[str, CheckResult], reasons: dict) -> float:
    """The queue's priority: the highest score of any check or attribute, then the number of
    rules the comment tripped (each adds a hundredth)."""
    scores = [result.score for result in results.values() if result.score is not None]
    scores += [score for result in results.values() for score in (result.attributes or {}).values()]
    return round(max(scores, default=1.0), 4) + len(reasons["rules"]) / 100
