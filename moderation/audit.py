"""The audit log: every transition (by the checks or a moderator) and every other act a
moderator answers for, readable by site within a moderator's scope."""
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from .errors import InvalidFields
from .moderators import site_scope
from .schemas import check_text
from .tables import AuditEvent, Comment, Moderator, Site


def record_event(session: Session, action: str, actor: str, *, comment: Comment | None = None,
                 site_id: int | None = None, reason: str | None = None, details: dict | None = None,
                 batch_id: str | None = None) -> AuditEvent:
    """Audit something other than a status change (transitions audit themselves)."""
    event = AuditEvent(
        action=action,
        actor=actor,
        comment_id=comment.id if comment else None,
        site_id=comment.site_id if comment else site_id,
        from_status=comment.status if comment else None,
        to_status=comment.status if comment else None,
        reason=reason,
        details=details,
        batch_id=batch_id,
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    site: str | None = None
    actor: str | None = None  # a username, or "checks" for the models' decisions
    action: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    batch: str | None = None
    comment: str | None = None  # a comment's public id
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_args(cls, args) -> "AuditFilter":
        values, errors = {}, {}
        for f in fields(cls):
            raw = args.get(f.name)
            if raw in (None, ""):
                continue
            if not isinstance(raw, str) or len(raw) > 200:
                errors[f.name] = "Text of at most 200 characters."
            elif f.name in ("since", "until"):
                try:
                    moment = datetime.fromisoformat(raw)
                    values[f.name] = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
                except ValueError:
                    errors[f.name] = "An ISO 8601 date or time, such as 2026-11-27 or 2026-11-27T10:00:00+07:00."
            else:
                try:
                    values[f.name] = check_text(raw)  # PostgreSQL cannot even compare a NUL
                except ValueError as error:
                    errors[f.name] = str(error)
        if errors:
            raise InvalidFields("The audit filter has field errors.", errors)
        return cls(**values)

    def as_args(self) -> dict:
        return {name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in asdict(self).items() if value is not None}


def select_events(moderator: Moderator, audit: AuditFilter) -> Select:
    """Events the moderator may read: a moderator sees the events of their sites and their
    own acts (a bulk rule, a new token), an admin every event."""
    query = select(AuditEvent)
    scope = site_scope(moderator)
    if scope is not None:
        query = query.where(or_(AuditEvent.site_id.in_(scope), AuditEvent.actor == moderator.username))
    if audit.site:
        query = query.where(AuditEvent.site_id == select(Site.id).where(Site.slug == audit.site).scalar_subquery())
    if audit.comment:
        query = query.where(
            AuditEvent.comment_id == select(Comment.id).where(Comment.public_id == audit.comment).scalar_subquery()
        )
    for name in ("actor", "action", "from_status", "to_status", "reason"):
        if getattr(audit, name):
            query = query.where(getattr(AuditEvent, name) == getattr(audit, name))
    if audit.batch:
        query = query.where(AuditEvent.batch_id == audit.batch)
    if audit.since:
        query = query.where(AuditEvent.created_at >= audit.since)
    if audit.until:
        query = query.where(AuditEvent.created_at <= audit.until)
    return query


def list_events(session: Session, moderator: Moderator, audit: AuditFilter, page: int = 1, per_page: int = 50):
    """One page of events, newest first, and how many match."""
    query = select_events(moderator, audit)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    events = session.scalars(
        query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return events, total


def describe_event(event: AuditEvent, site_slugs: dict[int, str]) -> dict:
    """An event as the audit page and API show it; automated decisions carry the model
    versions and thresholds they used."""
    details = event.details or {}
    automated = event.action == "transition" and event.actor == "checks"
    return {
        "id": event.id,
        "at": event.created_at.isoformat(),
        "action": event.action,
        "actor": event.actor,
        "automated": automated,
        "site": site_slugs.get(event.site_id),
        "comment_id": event.comment.public_id if event.comment else None,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "reason": event.reason,
        "rule": details.get("rule") if automated else None,
        "model_versions": details.get("model_versions") if automated else None,
        "thresholds": {check: explained.get("thresholds") for check, explained in details.get("checks", {}).items()}
        if automated else None,
        "batch_id": event.batch_id,
        "details": None if automated else details or None,
    }


def site_slugs(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Site.id, Site.slug)).all())
