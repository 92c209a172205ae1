"""The moderators' queue: which comments a moderator sees (always within their sites, never
another's), filtered and sorted, and everything a moderator is shown about each one."""
import re
from dataclasses import asdict, dataclass, fields

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from .errors import CommentNotFound, InvalidFields
from .moderators import site_scope
from .privacy import Vault, mask_email
from .schemas import check_text
from .tables import CHECKS, STATUSES, Article, Ban, CheckResult, Comment, Moderator, Site, utcnow
from .text import fold

SORTS = ("oldest", "newest", "priority")
SELECTION_LIMIT = 500
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class QueueFilter:
    """What a queue page, a queue API call or a bulk rule selects."""

    status: str = "flagged"
    site: str | None = None  # a site slug
    article: str | None = None  # the site's own article id
    reason: str | None = None
    language: str | None = None
    spam_below: float | None = None
    spam_at_least: float | None = None
    toxicity_below: float | None = None
    toxicity_at_least: float | None = None
    sort: str = "oldest"

    @classmethod
    def from_args(cls, args) -> "QueueFilter":
        """Read a filter from query arguments or a JSON object; every bad value is a field error."""
        values, errors = {}, {}
        for f in fields(cls):
            raw = args.get(f.name)
            if raw in (None, ""):
                continue
            if f.name.endswith(("_below", "_at_least")):
                try:
                    values[f.name] = float(raw)
                    if not 0 <= values[f.name] <= 1:
                        raise ValueError
                except (TypeError, ValueError):
                    errors[f.name] = "A score between 0 and 1."
            elif not isinstance(raw, str) or len(raw) > 200:
                errors[f.name] = "Text of at most 200 characters."
            else:
                try:
                    values[f.name] = check_text(raw)  # PostgreSQL cannot even compare a NUL
                except ValueError as error:
                    errors[f.name] = str(error)
        if values.get("status", "flagged") not in STATUSES:
            errors["status"] = f"One of {', '.join(STATUSES)}."
        if values.get("sort", "oldest") not in SORTS:
            errors["sort"] = f"One of {', '.join(SORTS)}."
        if errors:
            raise InvalidFields("The queue filter has field errors.", errors)
        return cls(**values)

    def as_args(self) -> dict:
        """The filter as query arguments, leaving out defaults."""
        defaults = QueueFilter()
        return {name: value for name, value in asdict(self).items() if value != getattr(defaults, name)}


def select_comments(moderator: Moderator, queue: QueueFilter) -> Select:
    """The comments a filter selects, among the sites the moderator may see."""
    query = select(Comment).where(Comment.status == queue.status)
    scope = site_scope(moderator)
    if scope is not None:
        query = query.where(Comment.site_id.in_(scope))
    if queue.site:
        query = query.where(Comment.site_id == select(Site.id).where(Site.slug == queue.site).scalar_subquery())
    if queue.article:
        articles = select(Article.id).where(Article.external_id == queue.article)
        query = query.where(Comment.article_id.in_(articles))
    if queue.reason:
        query = query.where(Comment.reason == queue.reason)
    if queue.language:
        query = query.where(Comment.language == queue.language)
    for check in CHECKS:
        below, at_least = getattr(queue, f"{check}_below"), getattr(queue, f"{check}_at_least")
        if below is not None or at_least is not None:
            scored = select(CheckResult.comment_id).where(CheckResult.check == check)
            if below is not None:
                scored = scored.where(CheckResult.score < below)
            if at_least is not None:
                scored = scored.where(CheckResult.score >= at_least)
            query = query.where(Comment.id.in_(scored))
    return query


def order(query: Select, sort: str) -> Select:
    if sort == "priority":
        return query.order_by(Comment.priority.desc().nulls_last(), Comment.created_at, Comment.id)
    if sort == "newest":
        return query.order_by(Comment.created_at.desc(), Comment.id.desc())
    return query.order_by(Comment.created_at, Comment.id)


def list_queue(session: Session, moderator: Moderator, queue: QueueFilter, page: int = 1, per_page: int = 50):
    """One page of the queue and the number of comments it holds."""
    query = select_comments(moderator, queue)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    comments = session.scalars(order(query, queue.sort).offset((page - 1) * per_page).limit(per_page)).all()
    return comments, total


def count_statuses(session: Session, moderator: Moderator, queue: QueueFilter) -> dict[str, int]:
    """How many comments each status tab holds under the same filter."""
    counts = {}
    for status in STATUSES:
        query = select_comments(moderator, QueueFilter(**{**asdict(queue), "status": status}))
        counts[status] = session.scalar(select(func.count()).select_from(query.subquery()))
    return counts


def find_comment(session: Session, moderator: Moderator, public_id: str) -> Comment:
    """A comment the moderator may see; any other is reported as not existing."""
    storable = len(public_id) <= 32 and "\x00" not in public_id  # PostgreSQL cannot compare a NUL
    comment = session.scalar(select(Comment).where(Comment.public_id == public_id)) if storable else None
    scope = site_scope(moderator)
    if comment is None or (scope is not None and comment.site_id not in scope):
        raise CommentNotFound(f"No comment with id {public_id!r}.")
    return comment


def find_comments(session: Session, moderator: Moderator, public_ids: list[str]) -> list[Comment]:
    if not public_ids or len(public_ids) > SELECTION_LIMIT:
        raise InvalidFields("Bad selection.", {"ids": f"Select between 1 and {SELECTION_LIMIT} comments."})
    return [find_comment(session, moderator, public_id) for public_id in dict.fromkeys(public_ids)]


def author_histories(session: Session, moderator: Moderator, comments: list[Comment]) -> dict[str, dict[str, int]]:
    """Each author's comments by status (same email fingerprint, within the moderator's
    sites), keyed by fingerprint: one query for a page of comments."""
    fingerprints = {comment.author_fingerprint for comment in comments}
    query = select(Comment.author_fingerprint, Comment.status, func.count()).where(
        Comment.author_fingerprint.in_(fingerprints))
    scope = site_scope(moderator)
    if scope is not None:
        query = query.where(Comment.site_id.in_(scope))
    histories = {fingerprint: dict.fromkeys(STATUSES, 0) for fingerprint in fingerprints}
    for fingerprint, status, count in session.execute(query.group_by(Comment.author_fingerprint, Comment.status)):
        histories[fingerprint][status] = count
    return histories


def active_bans(session: Session, comments: list[Comment]) -> dict[tuple[int, str], Ban]:
    """The ban in force, if any, for each (site, author fingerprint) of the comments."""
    bans = session.scalars(
        select(Ban).where(Ban.author_fingerprint.in_({comment.author_fingerprint for comment in comments}),
                          Ban.in_force(utcnow()))
        .order_by(Ban.created_at)
    )
    return {(ban.site_id, ban.author_fingerprint): ban for ban in bans}


def highlight(content: str, terms: dict[str, float]) -> list[tuple[str, float | None]]:
    """The content cut into runs of text, each word that pushed a score paired with its
    weight. Words are compared folded (case, accents, look-alikes), as the model saw them."""
    if not terms:
        return [(content, None)]
    runs, last = [], 0
    for match in WORD.finditer(content):
        weight = terms.get(fold(match.group(0)).strip())
        if weight is None:
            continue
        if match.start() > last:
            runs.append((content[last:match.start()], None))
        runs.append((match.group(0), weight))
        last = match.end()
    if last < len(content):
        runs.append((content[last:], None))
    return runs


def driving_terms(comment: Comment) -> dict[str, float]:
    """The words that pushed each check's score up, with the largest share of any check."""
    terms: dict[str, float] = {}
    for result in comment.checks:
        for term, weight in result.terms or []:
            terms[term] = max(weight, terms.get(term, 0.0))
    return terms


def describe(session: Session, moderator: Moderator, comment: Comment, vault: Vault) -> dict:
    """Everything a moderator sees of one comment (see describe_page)."""
    return describe_page(session, moderator, [comment], vault)[0]


def describe_page(session: Session, moderator: Moderator, comments: list[Comment], vault: Vault) -> list[dict]:
    """Everything a moderator sees of each comment: the content with its driving words
    marked, scores per check and attribute, the reasons, the thread, the author's masked
    email and history, and how long it has waited. A handful of queries per page."""
    if not comments:
        return []
    session.scalars(select(Comment).where(Comment.id.in_([comment.id for comment in comments])).options(
        selectinload(Comment.checks), selectinload(Comment.parent), selectinload(Comment.article),
        selectinload(Comment.site))).all()
    histories, bans = author_histories(session, moderator, comments), active_bans(session, comments)
    return [describe_one(comment, vault, histories[comment.author_fingerprint],
                         bans.get((comment.site_id, comment.author_fingerprint))) for comment in comments]


def describe_one(comment: Comment, vault: Vault, history: dict[str, int], ban: Ban | None) -> dict:
    checks = {
        result.check: {
            "score": result.score,
            "attributes": result.attributes or {},
            "thresholds": result.thresholds,
            "model_version": result.model_version,
            "terms": result.terms or [],
            "error": result.error,
        }
        for result in comment.checks
    }
    parent = comment.parent
    waited_until = comment.decided_at if comment.status != "flagged" and comment.decided_at else utcnow()
    return {
        "id": comment.public_id,
        "status": comment.status,
        "reason": comment.reason,
        "site": comment.site.slug,
        "article": {"id": comment.article.external_id, "title": comment.article.title, "url": comment.article.url},
        "parent": {
            "id": parent.public_id, "author_name": parent.author_name, "content": parent.content,
            "status": parent.status,
        } if parent else None,
        "author_name": comment.author_name,
        "author_email": mask_email(vault.decrypt(comment.author_email)),
        "author_url": comment.author_url,
        "author_history": history,
        "author_banned_until": (ban.expires_at.isoformat() if ban.expires_at else "forever") if ban else None,
        "content": comment.content,
        "highlights": [[text, weight] for text, weight in highlight(comment.content, driving_terms(comment))],
        "language": comment.language,
        "created_at": comment.created_at.isoformat(),
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
        "decided_by": comment.decided_by,
        "seconds_in_queue": round((waited_until - comment.created_at).total_seconds()),
        "priority": comment.priority,
        "scores": {check: checks.get(check, {}).get("score") for check in CHECKS},
        "checks": checks,
        "reasons": comment.reasons,
        "model_versions": {check: c["model_version"] for check, c in checks.items() if c["model_version"]},
    }
