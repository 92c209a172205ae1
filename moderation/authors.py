"""An author's data, for the site that holds it: everything stored for one email address
(found by its keyed fingerprint, one site at a time), exported or erased.

Erasing follows the site policy's `erase`:
- `anonymise`: the comments stay, with their text and thread, but no longer say who wrote
  them: the name becomes a placeholder, the email an encrypted empty string, the
  fingerprint a random value per comment (so bans, author history and duplicate checks no
  longer link them, to the author or to each other); URL, IP fingerprint, user agent and
  referrer go.
- `remove`: the comments go, with their check results, labels and callback events; their
  audit events stay, unlinked and without the words the models quoted. A comment that
  still has replies from someone else is not deleted, which would delete other people's
  words, but anonymised and blanked: its text becomes the placeholder, so the thread keeps
  its shape ("[dihapus]" with the replies under it).
Either way the site's bans of the address are removed and callback events about the
comments are deleted (their payloads copy the comment), in one transaction, audited
without the address."""
import secrets
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, aliased

from .audit import record_event
from .policy import site_policy
from .privacy import Vault
from .retention import delete_comments, overwrite_deleted
from .tables import AuditEvent, Ban, CallbackEvent, CheckResult, Comment, Label, Moderator, Site, utcnow

PLACEHOLDERS = {"id": "[dihapus]", "en": "[removed]"}
ACTOR = "site"


def export_author(session: Session, site_id: int, email: str, vault: Vault) -> dict:
    """Everything the site holds for the address; moderators appear as "moderator"."""
    fingerprint = vault.fingerprint(email)
    mine = select(Comment.id).where(Comment.site_id == site_id, Comment.author_fingerprint == fingerprint)
    parent = aliased(Comment)
    rows = session.execute(
        select(Comment, parent.public_id).outerjoin(parent, parent.id == Comment.parent_id)
        .where(Comment.id.in_(mine)).order_by(Comment.created_at, Comment.id)
    ).all()
    checks, labels, events, callbacks = (
        group(session.scalars(select(table).where(table.comment_id.in_(mine)).order_by(table.id)))
        for table in (CheckResult, Label, AuditEvent, CallbackEvent)
    )
    moderators = set(session.scalars(select(Moderator.username)))
    bans = session.scalars(select(Ban).where(Ban.site_id == site_id, Ban.author_fingerprint == fingerprint)
                           .order_by(Ban.created_at)).all()
    who = lambda actor: "moderator" if actor in moderators else actor  # noqa: E731
    return {
        "email": email,
        "comments": [
            {
                **describe_comment(comment, parent_id, vault, who),
                "checks": [describe_check(result) for result in checks.get(comment.id, [])],
                "labels": [{"check": label.check, "value": label.value, "source": label.source,
                            "by": who(label.created_by), "at": moment(label.created_at)}
                           for label in labels.get(comment.id, [])],
                "events": [{"action": event.action, "by": who(event.actor), "from_status": event.from_status,
                            "to_status": event.to_status, "reason": event.reason, "at": moment(event.created_at)}
                           for event in events.get(comment.id, [])],
                "callbacks": [{"kind": event.kind, "created_at": moment(event.created_at),
                               "delivered_at": moment(event.delivered_at)} for event in callbacks.get(comment.id, [])],
            }
            for comment, parent_id in rows
        ],
        "bans": [{"reason": ban.reason, "by": who(ban.created_by), "created_at": moment(ban.created_at),
                  "expires_at": moment(ban.expires_at), "lifted_at": moment(ban.lifted_at)} for ban in bans],
        "exported_at": moment(utcnow()),
    }


def describe_comment(comment: Comment, parent_id: str | None, vault: Vault, who) -> dict:
    article = comment.article
    return {
        "id": comment.public_id,
        "article": {"id": article.external_id, "url": article.url, "title": article.title},
        "parent_id": parent_id,
        "author_name": comment.author_name,
        "author_email": vault.decrypt(comment.author_email),
        "author_url": comment.author_url,
        "content": comment.content,
        "language": comment.language,
        "status": comment.status,
        "reason": comment.reason,
        "reasons": comment.reasons,
        "decided_by": who(comment.decided_by) if comment.decided_by else None,
        "created_at": moment(comment.created_at),
        "decided_at": moment(comment.decided_at),
        "edited_at": moment(comment.edited_at),
        "notified_at": moment(comment.notified_at),
        "ip_address": None,
        "ip_address_note": "The IP address itself was never stored, only a keyed fingerprint of it."
        if comment.ip_fingerprint else "No IP address was received.",
        "user_agent": comment.user_agent,
        "referrer": comment.referrer,
    }


def describe_check(result: CheckResult) -> dict:
    return {"check": result.check, "score": result.score, "attributes": result.attributes, "terms": result.terms,
            "thresholds": result.thresholds, "model_version": result.model_version, "error": result.error,
            "at": moment(result.created_at)}


def erase_author(session: Session, site: Site, email: str, vault: Vault) -> dict:
    """Erase the address's data from the site per its policy (see the module's doc). The
    caller commits, then may `retention.checkpoint` a SQLite database."""
    mode = site_policy(site).erase
    fingerprint = vault.fingerprint(email)
    overwrite_deleted(session)
    # the first write: from here SQLite serialises every other writer behind this transaction
    bans = session.execute(delete(Ban).where(Ban.site_id == site.id, Ban.author_fingerprint == fingerprint)).rowcount
    mine = (Comment.site_id == site.id, Comment.author_fingerprint == fingerprint)
    rows = session.execute(select(Comment.id, Comment.parent_id, Comment.language).where(*mine)
                           .with_for_update()).all()
    ids = {row.id for row in rows}
    kept = ids if mode == "anonymise" else with_others_below(session, ids, select(Comment.id).where(*mine))
    detach(session, select(Comment.id).where(*mine) if mode == "anonymise" else sorted(kept), blank=mode == "remove")
    anonymise(session, [row for row in rows if row.id in kept], vault, blank=mode == "remove")
    doomed = select(Comment.id).where(*mine)  # what is left with the fingerprint: the rest, to delete
    strip_terms(session, doomed)
    removed = delete_comments(session, doomed, delete(Comment).where(*mine))
    counts = {"erased": len(ids), "mode": mode, "anonymised": len(kept), "removed": removed, "bans": bans}
    record_event(session, "author_erased", ACTOR, site_id=site.id, details=counts)
    return counts


def with_others_below(session: Session, ids: set[int], mine) -> set[int]:
    """The comments among `ids` (which `mine` selects) with a reply, at any depth, by
    someone else."""
    children: dict[int, list[int]] = {}
    for child, parent in session.execute(select(Comment.id, Comment.parent_id).where(Comment.parent_id.in_(mine))):
        children.setdefault(parent, []).append(child)

    def has_other(comment_id: int) -> bool:
        return any(child not in ids or has_other(child) for child in children.get(comment_id, []))

    return {comment_id for comment_id in ids if has_other(comment_id)}


def detach(session: Session, comment_ids, blank: bool) -> None:
    """Delete the callback events of comments about to be anonymised (their payloads copy
    the author); when they are also blanked, the check results, labels and quoted words."""
    session.execute(delete(CallbackEvent).where(CallbackEvent.comment_id.in_(comment_ids)))
    if blank:
        session.execute(delete(CheckResult).where(CheckResult.comment_id.in_(comment_ids)))
        session.execute(delete(Label).where(Label.comment_id.in_(comment_ids)))
        strip_terms(session, comment_ids)


def anonymise(session: Session, rows: list, vault: Vault, blank: bool) -> None:
    """Detach comments from their author; `blank` also replaces their text by the placeholder."""
    if not rows:
        return
    changes = []
    for row in rows:
        placeholder = PLACEHOLDERS["id" if (row.language or "").startswith("id") else "en"]
        changes.append({
            "id": row.id, "author_name": placeholder, "author_email": vault.encrypt(""),
            "author_fingerprint": "erased:" + secrets.token_hex(28), "author_url": None, "ip_fingerprint": None,
            "user_agent": None, "referrer": None, "content_digest": None,
            **({"content": placeholder, "reasons": None} if blank else {}),
        })
    session.execute(update(Comment), changes)


def strip_terms(session: Session, comment_ids) -> None:
    """Drop the words the models quoted from the comments' audit events (the rest stays)."""
    for event in session.scalars(select(AuditEvent).where(AuditEvent.comment_id.in_(comment_ids),
                                                          AuditEvent.details.is_not(None))):
        checks = event.details.get("checks") if isinstance(event.details, dict) else None
        if isinstance(checks, dict) and any(isinstance(c, dict) and "terms" in c for c in checks.values()):
            stripped = {name: {k: v for k, v in c.items() if k != "terms"} if isinstance(c, dict) else c
                        for name, c in checks.items()}
            event.details = {**event.details, "checks": stripped}
    session.flush()


def group(items) -> dict[int, list]:
    grouped: dict[int, list] = {}
    for item in items:
        grouped.setdefault(item.comment_id, []).append(item)
    return grouped


def moment(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
