"""Comments: accept one (durably), read one, list a thread's approved ones."""
import secrets

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import CommentNotFound, InvalidFields
from .privacy import Vault
from .schemas import CommentIn, can_store
from .sites import SiteRef
from .tables import Article, Comment, utcnow
from .text import detect_language

ARTICLE_CACHE_SIZE = 10_000
INSERT_COMMENT = insert(Comment)


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


def submit_comment(engine: Engine, site: SiteRef, data: CommentIn, vault: Vault, cache: dict) -> str:
    """Store a new pending comment and commit it; it is durable when this returns its public
    id. Core statements on one connection, not the ORM's unit of work: this is the hot path
    of every submission."""
    public_id = new_public_id()
    with engine.begin() as connection:
        article_id = find_or_create_article(connection, site, data, cache)
        connection.execute(
            INSERT_COMMENT,
            {
                "public_id": public_id,
                "site_id": site.id,
                "article_id": article_id,
                "parent_id": find_parent(connection, site, article_id, data.parent_id),
                "author_name": data.author_name.strip(),
                "author_email": vault.encrypt(data.author_email.strip()),
                "author_fingerprint": vault.fingerprint(data.author_email),
                "author_url": data.author_url,
                "content": data.content,
                "language": data.lang or detect_language(data.content),
                "ip_fingerprint": vault.fingerprint(data.user_ip, "ip") if data.user_ip else None,
                "user_agent": data.user_agent,
                "referrer": data.referrer,
                "status": "pending",
                "created_at": utcnow(),
            },
        )
    return public_id


def find_or_create_article(connection: Connection, site: SiteRef, data: CommentIn, cache: dict) -> int:
    """The article's row id; a thread is created by its first comment. `cache` maps
    (site id, article id) to the ids of committed articles: articles are never deleted."""
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
    if parent_public_id is None:
        return None
    parent = connection.execute(
        select(Comment.id, Comment.article_id).where(Comment.public_id == parent_public_id, Comment.site_id == site.id)
    ).first()
    if parent is None:
        raise InvalidFields("The comment has field errors.", {"parent_id": "No comment with this id."})
    if parent.article_id != article_id:
        raise InvalidFields("The comment has field errors.", {"parent_id": "The parent belongs to another article."})
    return parent.id


def get_comment(session: Session, site: SiteRef, public_id: str) -> Comment:
    comment = None
    if can_store(public_id, "parent_id"):
        comment = session.scalar(select(Comment).where(Comment.public_id == public_id, Comment.site_id == site.id))
    if comment is None:
        raise CommentNotFound(f"No comment with id {public_id!r} for this site.")
    return comment


def list_thread(session: Session, site_id: int, article_external_id: str, page: int, per_page: int):
    """Approved top-level comments of a thread (oldest first, paginated), each with its
    approved replies nested; returns (comments, total top-level count)."""
    article_id = session.scalar(
        select(Article.id).where(Article.site_id == site_id, Article.external_id == article_external_id)
    )
    if article_id is None:
        return [], 0
    approved = (Comment.article_id == article_id, Comment.status == "approved")
    total = session.scalar(select(func.count()).where(*approved, Comment.parent_id.is_(None)))
    roots = session.scalars(
        select(Comment)
        .where(*approved, Comment.parent_id.is_(None))
        .order_by(Comment.created_at, Comment.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    if not roots:
        return [], total
    replies = session.scalars(
        select(Comment).where(*approved, Comment.parent_id.is_not(None)).order_by(Comment.created_at, Comment.id)
    ).all()
    return nest(roots, replies), total


def nest(roots: list[Comment], replies: list[Comment]) -> list[tuple[Comment, list]]:
    """Build the reply tree; a reply whose parent is not shown is not shown either."""
    children: dict[int, list[Comment]] = {}
    for reply in replies:
        children.setdefault(reply.parent_id, []).append(reply)

    def grow(comment: Comment, depth: int = 0):
        return comment, [grow(child, depth + 1) for child in children.get(comment.id, [])] if depth < 50 else []

    return [grow(root) for root in roots]
