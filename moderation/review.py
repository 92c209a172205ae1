"""What moderators do to comments: approve, reject with a reason, mark spam, ban the author;
one at a time, on a selection, or by rule after a dry run. Every change goes through
`transition_many`, and every verdict becomes a training label."""
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .audit import record_event
from .errors import Forbidden, InvalidFields, SelectionChanged
from .labels import record_labels
from .privacy import Vault
from .queue import QueueFilter, list_queue, order, select_comments
from .tables import MODERATOR_REASONS, Ban, Comment, Moderator, utcnow
from .transitions import transition_many

ACTIONS = ("approve", "reject", "spam", "ban")
BULK_LIMIT = 5_000  # comments changed per bulk request (about a second); a bigger rule is applied in rounds
SAMPLE_SIZE = 10


@dataclass
class Outcome:
    """What one action did: the comments changed, and those left alone, with why."""

    action: str
    batch_id: str | None
    changed: list[str]
    skipped: dict[str, str]
    remaining: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def target(action: str, reason: str | None) -> tuple[str, str | None]:
    """The status and reason code an action gives a comment."""
    if action not in ACTIONS:
        raise InvalidFields("Unknown action.", {"action": f"One of {', '.join(ACTIONS)}."})
    if action == "approve":
        return "approved", None
    if action == "spam":
        return "rejected", "spam"
    if reason not in MODERATOR_REASONS:
        raise InvalidFields("A rejection needs a reason.", {"reason": f"One of {', '.join(MODERATOR_REASONS)}."})
    return "rejected", reason


def moderate(
    session: Session,
    moderator: Moderator,
    comments: list[Comment],
    action: str,
    reason: str | None = None,
    ban_days: int | None = None,
    note: str | None = None,
    batch_id: str | None = None,
) -> Outcome:
    """Apply one action to comments the moderator may see. A comment already in the target
    status, or changed by someone else meanwhile, is skipped. The caller commits."""
    to_status, reason = target(action, reason)
    if action == "ban" and ban_days is not None and not 1 <= ban_days <= 3650:
        raise InvalidFields("Bad ban length.", {"ban_days": "Between 1 and 3650 days, or none for good."})
    if len(comments) > 1 and batch_id is None:
        batch_id = uuid.uuid4().hex
    outcome = Outcome(action, batch_id, [], {})
    details = {"moderator_id": moderator.id, **({"note": note[:500]} if note else {})}
    if action == "ban":
        for comment in {comment.author_fingerprint: comment for comment in comments}.values():
            ban_author(session, moderator, comment, reason, ban_days, batch_id)
    todo = []
    for comment in comments:
        if comment.status == to_status:
            outcome.skipped[comment.public_id] = f"already {to_status}"
        else:
            todo.append(comment)
    changed = transition_many(session, todo, to_status, actor=moderator.username, reason=reason, details=details,
                              batch_id=batch_id)
    record_labels(session, changed, action, reason, moderator.username)
    outcome.changed = [comment.public_id for comment in changed]
    for public_id in {comment.public_id for comment in todo} - set(outcome.changed):
        outcome.skipped[public_id] = "changed by someone else"
    return outcome


def ban_author(session: Session, moderator: Moderator, comment: Comment, reason: str | None, days: int | None,
               batch_id: str | None) -> Ban:
    """Ban a comment's author from its site, by email fingerprint; audited."""
    now = utcnow()
    expires_at = now + timedelta(days=days) if days else None
    ban = Ban(site_id=comment.site_id, author_fingerprint=comment.author_fingerprint, reason=reason,
              created_by=moderator.username, created_at=now, expires_at=expires_at)
    session.add(ban)
    record_event(session, "ban", moderator.username, comment=comment, reason=reason, batch_id=batch_id,
                 details={"days": days, "expires_at": expires_at.isoformat() if expires_at else None})
    return ban


def preview_rule(session: Session, moderator: Moderator, queue: QueueFilter) -> dict:
    """A dry run of a bulk rule: how many comments it selects now, and the oldest few."""
    comments, total = list_queue(session, moderator, QueueFilter(**{**asdict(queue), "sort": "oldest"}),
                                 per_page=SAMPLE_SIZE)
    return {"count": total, "sample": comments, "limit": BULK_LIMIT}


def apply_rule(
    session: Session,
    moderator: Moderator,
    queue: QueueFilter,
    action: str,
    expect: int,
    reason: str | None = None,
    ban_days: int | None = None,
    note: str | None = None,
) -> Outcome:
    """Apply an action to every comment a rule selects, as one audited batch, provided the
    rule still selects the `expect` comments its dry run counted. At most BULK_LIMIT
    comments (the oldest) change per call; `remaining` says how many are left."""
    target(action, reason)
    query = select_comments(moderator, queue)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    if total != expect:
        raise SelectionChanged(f"The rule now selects {total} comments, not {expect}. Preview it again.",
                               {"count": str(total)})
    comments = session.scalars(order(query, "oldest").limit(BULK_LIMIT)).all()
    batch_id = uuid.uuid4().hex
    sites = {comment.site_id for comment in comments}
    record_event(session, f"bulk_{action}", moderator.username, reason=reason, batch_id=batch_id,
                 site_id=sites.pop() if len(sites) == 1 else None,
                 details={"rule": queue.as_args() | {"status": queue.status}, "count": len(comments),
                          "moderator_id": moderator.id})
    outcome = moderate(session, moderator, comments, action, reason, ban_days, note, batch_id)
    outcome.remaining = total - len(comments)
    return outcome


def reveal_email(session: Session, moderator: Moderator, comment: Comment, vault: Vault) -> str:
    """An author's full email address: for admins only, and audited."""
    if not moderator.is_admin:
        raise Forbidden("Only an admin may reveal an email address.")
    record_event(session, "reveal_email", moderator.username, comment=comment)
    return vault.decrypt(comment.author_email)

