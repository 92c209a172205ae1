"""The one way a comment's status changes: legal edges only, compare-and-set, audited."""
from itertools import groupby

from sqlalchemy import insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .callbacks import announce
from .counters import count_decisions
from .errors import IllegalTransition
from .tables import AuditEvent, Comment, utcnow

ALLOWED = {
    "pending": {"approved", "flagged", "rejected", "withdrawn"},  # by the checks (or the site withdraws it)
    "flagged": {"approved", "rejected", "pending", "withdrawn"},  # by a moderator (or an edit re-checks it)
    "approved": {"rejected", "pending", "withdrawn", "flagged"},  # a moderator's reversal (flagged: a late score
    # on a comment the fail policy published while its check was down, decisions.redecide_comment)
    "rejected": {"approved", "pending", "withdrawn"},
    "withdrawn": set(),  # deleted by the site or its author: final
}


def transition(session: Session, comment: Comment, to_status: str, **options) -> bool:
    """Move one comment (see transition_many); True if this call moved it."""
    return bool(transition_many(session, [comment], to_status, **options))


def transition_many(
    session: Session,
    comments: list[Comment],
    to_status: str,
    *,
    actor: str,
    reason: str | None = None,
    reasons: dict | None = None,
    details: dict | None = None,
    batch_id: str | None = None,
    priority: float | None = None,
) -> list[Comment]:
    """Move each comment to `to_status` if it is still in the status it was read with, and
    return those moved.

    A comment another process changed first is left alone, so a retried or duplicate job
    decides at most once. Raises IllegalTransition for an edge the state machine does not
    have. One UPDATE per starting status and one INSERT of audit events, however many
    comments: a bulk action on thousands costs a few statements. Each audit event keeps
    `details` (by default the decision's `reasons`) and the batch it belongs to. The
    caller commits.
    """
    for comment in comments:
        if to_status not in ALLOWED.get(comment.status, ()):
            raise IllegalTransition(f"A {comment.status} comment cannot become {to_status}.")
    values = {"status": to_status, "reason": reason, "decided_by": actor, "decided_at": utcnow()}
    if reasons is not None:
        values["reasons"] = reasons
    if priority is not None:
        values["priority"] = priority
    moved, events = [], []
    by_status = sorted(comments, key=lambda comment: comment.status)
    for from_status, group in groupby(by_status, key=lambda comment: comment.status):
        group = {comment.id: comment for comment in group}
        changed = session.scalars(
            update(Comment)
            .where(Comment.id.in_(group), Comment.status == from_status)
            .values(**values)
            .returning(Comment.id)
            .execution_options(synchronize_session=False)
        ).all()
        for comment_id in changed:
            comment = group[comment_id]
            for name, value in values.items():
                set_committed_value(comment, name, value)
            moved.append(comment)
            events.append({
                "action": "transition", "site_id": comment.site_id, "comment_id": comment_id, "actor": actor,
                "from_status": from_status, "to_status": to_status, "reason": reason,
                "details": details if details is not None else reasons, "batch_id": batch_id,
                "created_at": values["decided_at"],
            })
        count_decisions(session, [group[i] for i in changed], from_status, to_status, actor, reason)  # for /metrics
    if events:
        session.execute(insert(AuditEvent), events)
        announce(session, moved)
    position = {comment.id: index for index, comment in enumerate(comments)}
    return sorted(moved, key=lambda comment: position[comment.id])
