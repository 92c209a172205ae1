"""Accepting a comment: durably, after the cheap checks (every submission path: the API,
the article page, the widget).

The cheap checks cost the hot path no extra round trip: the comment's INSERT … SELECT
carries "the thread is open and the author is not banned" in its WHERE clause, so both are
read fresh by the statement that stores the comment, and only a refused comment pays a
second query to learn which rule refused it. A duplicate (same thread, author fingerprint
and folded content) and a repeated Idempotency-Key are refused by unique indexes, so two
racing requests cannot both get in. A thread's `auto_close_days` comes from the site's
policy, which a process trusts for `site_cache_seconds` (the only stale input)."""
import hashlib
import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from sqlalchemy import Connection, Engine, bindparam, exists, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from .errors import ApiError, InvalidFields
from .policy import Policy, site_policy
from .privacy import Vault
from .schemas import CommentIn
from .sites import SiteRef
from .tables import Article, Ban, Comment, Site, utcnow
from .text import detect_language, fold
from .transitions import transition

ARTICLE_CACHE_SIZE = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
REFUSED = "This comment cannot be accepted."
HONEYPOT_REASONS = {"rule": "honeypot", "rules": ["honeypot"], "checks": {}, "model_versions": {}}
EDITED_REASONS = {"rule": "edited", "rules": ["edited"], "checks": {}, "model_versions": {}}


class ClosedThread(ApiError):
    status, code = 403, "thread_closed"


class ParentNotApproved(ApiError):
    status, code = 403, "parent_not_approved"


class AuthorBanned(ApiError):
    status, code = 403, "author_banned"


class DuplicateComment(ApiError):
    status, code = 409, "duplicate"


class CommentWithdrawn(ApiError):
    status, code = 409, "comment_withdrawn"


class IdempotencyKeyReused(ApiError):
    status, code = 422, "idempotency_key_reused"


class Author(NamedTuple):
    """A commenter's keyed fingerprints, computed once per request."""

    fingerprint: str
    ip_fingerprint: str | None


class Accepted(NamedTuple):
    id: str
    article_id: str  # the site's own id of the thread, for the links
    replayed: bool = False  # an Idempotency-Key replay: nothing was stored this time


def _column(name: str):
    return bindparam(name, type_=Comment.__table__.c[name].type)


STORED = ("public_id", "site_id", "article_id", "parent_id", "author_name", "author_email", "author_fingerprint",
          "author_url", "content", "language", "ip_fingerprint", "user_agent", "referrer", "status",
          "content_digest", "idempotency_key", "created_at")
OPEN_THREAD = exists().where(
    Article.id == bindparam("article_id"), Article.is_open.is_(True),
    or_(Article.closes_at.is_(None), Article.closes_at > bindparam("created_at")),
    Article.created_at > bindparam("opened_after"),
)
BANNED = exists().where(
    Ban.site_id == bindparam("site_id"), Ban.author_fingerprint == bindparam("author_fingerprint"),
    Ban.in_force(bindparam("created_at")),
)
INSERT_COMMENT = insert(Comment).from_select(STORED, select(*map(_column, STORED)).where(OPEN_THREAD, ~BANNED))
INSERT_COMMENT_RETURNING = INSERT_COMMENT.returning(Comment.id)  # psycopg reports no rowcount for it


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


def digest_content(content: str) -> str:
    """What makes two comments the same: their folded text (case, look-alikes, spacing)."""
    return hashlib.sha256(fold(content).encode()).hexdigest()


def identify_author(vault: Vault, data: CommentIn) -> Author:
    ip = vault.fingerprint(data.user_ip, "ip") if data.user_ip else None
    return Author(vault.fingerprint(data.author_email), ip)


def read_policy(engine: Engine, site_id: int, cache: dict, seconds: float) -> Policy:
    """The site's policy, trusted for `seconds` once read (like API keys in sites.py)."""
    cached = cache.get(site_id)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    with engine.connect() as connection:
        policy = site_policy(connection.execute(select(Site.policy).where(Site.id == site_id)).one())
    cache[site_id] = (time.monotonic() + seconds, policy)
    return policy


def submit_comment(engine: Engine, site: SiteRef, data: CommentIn, vault: Vault, cache: dict) -> str:
    """Store a comment after the cheap checks (see accept_comment); returns its public id."""
    return accept_comment(engine, site, data, vault, cache).id


def accept_comment(engine: Engine, site: SiteRef, data: CommentIn, vault: Vault, cache: dict, *,
                   policy: Policy | None = None, author: Author | None = None,
                   idempotency_key: str | None = None) -> Accepted:
    """Store a new pending comment and commit it: it is durable when this returns. Core
    statements on one connection, not the ORM's unit of work: this is the hot path of every
    submission. Raises the 403s and 409 above; a request whose Idempotency-Key is already
    stored (a racing retry) gets the first comment back, `replayed`. Without a `policy`
    (a cached one), the site's is read in the same transaction."""
    author = author or identify_author(vault, data)
    now = utcnow()
    values = {
        "public_id": new_public_id(),
        "site_id": site.id,
        "author_name": data.author_name.strip(),
        "author_email": vault.encrypt(data.author_email.strip()),
        "author_fingerprint": author.fingerprint,
        "author_url": data.author_url,
        "content": data.content,
        "language": data.lang or detect_language(data.content),
        "ip_fingerprint": author.ip_fingerprint,
        "user_agent": data.user_agent,
        "referrer": data.referrer,
        "status": "pending",
        "content_digest": digest_content(data.content),
        "idempotency_key": idempotency_key,
        "created_at": now,
    }
    try:
        with engine.begin() as connection:
            if policy is None:
                policy = site_policy(connection.execute(select(Site.policy).where(Site.id == site.id)).one())
            days = policy.auto_close_days
            values["opened_after"] = now - timedelta(days=days) if days else EPOCH
            values["article_id"] = article_id = find_or_create_article(connection, site, data, cache)
            values["parent_id"] = find_parent(connection, site, article_id, data.parent_id)
            if not insert_comment(connection, values):
                raise refusal(connection, values)
    except IntegrityError:
        with engine.connect() as connection:
            if idempotency_key is not None:
                replay = find_replay(connection, site, idempotency_key, data, author)
                if replay is not None:
                    return replay
            existing = find_duplicate(connection, values)
        if existing is None:  # another constraint: not ours to explain
            raise
        raise DuplicateComment(
            f"The same author already posted this to this thread: /api/v1/comments/{existing}.",
            {"content": "Already posted to this thread by the same author.", "duplicate_of": existing}) from None
    return Accepted(values["public_id"], data.article_id)


def insert_comment(connection: Connection, values: dict) -> bool:
    """Store the comment if its thread is open and its author not banned; whether it was.
    SQLite counts the row for free; RETURNING, which PostgreSQL needs, costs it a fifth more."""
    if connection.dialect.name == "sqlite":
        return connection.execute(INSERT_COMMENT, values).rowcount == 1
    return connection.execute(INSERT_COMMENT_RETURNING, values).first() is not None


def find_or_create_article(connection: Connection, site: SiteRef, data: CommentIn, cache: dict) -> int:
    """The article's row id; a thread is created by its first comment. `cache` maps
    (site id, article id) to the ids of committed articles, which never change (articles
    are never deleted); whether a thread is open is never cached, INSERT_COMMENT reads it."""
    key = (site.id, data.article_id)
    if key in cache:
        return cache[key]
    find = select(Article.id).where(Article.site_id == site.id, Article.external_id == data.article_id)
    article_id = connection.scalar(find)
    if article_id is not None:
        if len(cache) >= ARTICLE_CACHE_SIZE:
            cache.clear()
        cache[key] = article_id
        return article_id
    try:
        with connection.begin_nested():
            return connection.scalar(
                insert(Article)
                .values(site_id=site.id, external_id=data.article_id, url=data.article_url, title=data.article_title,
                        is_open=True, premoderated=False, created_at=utcnow())
                .returning(Article.id)
            )
    except IntegrityError:  # another request created it first
        return connection.scalar(find)


def find_parent(connection: Connection, site: SiteRef, article_id: int, parent_public_id: str | None) -> int | None:
    """The parent's row id. An unknown parent, or one in another thread, is a field error;
    a parent not (or no longer) approved cannot be replied to."""
    if parent_public_id is None:
        return None
    parent = connection.execute(
        select(Comment.id, Comment.article_id, Comment.status)
        .where(Comment.public_id == parent_public_id, Comment.site_id == site.id)
    ).first()
    if parent is None:
        raise InvalidFields("The comment has field errors.", {"parent_id": "No comment with this id."})
    if parent.article_id != article_id:
        raise InvalidFields("The comment has field errors.", {"parent_id": "The parent belongs to another article."})
    if parent.status != "approved":
        raise ParentNotApproved("Only a published comment can be replied to.", {"parent_id": "Not published."})
    return parent.id


def refusal(connection: Connection, values: dict) -> ApiError:
    """Why INSERT_COMMENT stored nothing: the thread is closed, or else the author is banned
    (who learns only the code)."""
    open_thread = connection.scalar(select(OPEN_THREAD), values)
    if not open_thread:
        return ClosedThread("This thread is closed to new comments.")
    return AuthorBanned(REFUSED)


def find_duplicate(connection: Connection, values: dict) -> str | None:
    """The comment the same author already posted to the same thread with the same text."""
    return connection.scalar(select(Comment.public_id).where(
        Comment.article_id == values["article_id"], Comment.author_fingerprint == values["author_fingerprint"],
        Comment.content_digest == values["content_digest"]))


def find_replay(connection: Connection, site: SiteRef, key: str, data: CommentIn, author: Author) -> Accepted | None:
    """The comment first stored with this Idempotency-Key, if any; the key sent again with a
    different comment is refused, as the IETF Idempotency-Key draft answers it (422)."""
    parent = aliased(Comment)
    stored = connection.execute(
        select(Comment.public_id, Article.external_id, parent.public_id.label("parent_id"), Comment.author_name,
               Comment.author_fingerprint, Comment.author_url, Comment.content)
        .join(Article, Article.id == Comment.article_id)
        .outerjoin(parent, parent.id == Comment.parent_id)
        .where(Comment.site_id == site.id, Comment.idempotency_key == key)
    ).first()
    if stored is None:
        return None
    sent = (data.article_id, data.parent_id, data.author_name.strip(), author.fingerprint, data.author_url,
            data.content)
    if tuple(stored[1:]) != sent:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different comment; send a new key for a new comment.",
            {"Idempotency-Key": "Already used for a different comment."})
    return Accepted(stored.public_id, stored.external_id, replayed=True)


def reject_honeypot(session: Session, public_id: str) -> None:
    """A comment whose honeypot field was filled: rejected as spam at once, unchecked. The
    caller commits."""
    comment = session.scalar(select(Comment).where(Comment.public_id == public_id))
    transition(session, comment, "rejected", actor="checks", reason="spam", reasons=dict(HONEYPOT_REASONS))
