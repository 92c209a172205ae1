"""The one way a comment's status changes: legal edges only, compare-and-set, audited."""
from sqlalchemy import update
from sqlalchemy.orm import Session

from .errors import IllegalTransition
from .tables import AuditEvent, Comment, utcnow

ALLOWED = {
    "pending": {"approved", "flagged", "rejected"},  # by the checks
    "flagged": {"approved", "rejected"},  # by a moderator
    "approved": {"rejected"},  # a moderator's reversal
    "rejected": {"approved"},
}


def transition(
    session: Session,
    comment: Comment,
    to_status: str,
    *,
    actor: str,
    reason: str | None = None,
    reasons: dict | None = None,
    details: dict | None = None,
    batch_id: str | None = None,
    priority: float | None = None,
) -> bool:
    """Move `comment` to `to_status` if it is still in the status it was read with.

    Returns False (and changes nothing) when another process changed it first, so a
    retried or duplicate job decides at most once. Raises IllegalTransition for an edge
    the state machine does not have. The audit event keeps `details` (by default the
    decision's `reasons`) and the bulk batch it belongs to. The caller commits.
    """
    from_status = comment.status
    if to_status not in ALLOWED.get(from_status, ()):
        raise IllegalTransition(f"A {from_status} comment cannot become {to_status}.")
    values = {"status": to_status, "reason": reason, "decided_by": actor, "decided_at": utcnow()}
    if reasons is not None:
        values["reasons"] = reasons
    if priority is not None:
        values["priority"] = priority
    changed = session.execute(
        update(Comment).where(Comment.id == comment.id, Comment.status == from_status).values(**values)
    ).rowcount
    if not changed:
        return False
    session.add(
        AuditEvent(
            site_id=comment.site_id,
            comment_id=comment.id,
            actor=actor,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            details=details if details is not None else reasons,
            batch_id=batch_id,
        )
    )
    for name, value in values.items():
        setattr(comment, name, value)
    return True
