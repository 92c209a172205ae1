"""Comments once accepted: read, withdraw or edit one, list a thread's approved ones."""
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .audit import record_event
from .errors import CommentNotFound
from .schemas import can_store
from .sites import SiteRef
from .tables import Article, CheckResult, Comment, utcnow
from .transitions import transition
from .submissions import EDITED_REASONS, CommentWithdrawn, DuplicateComment, digest_content


def get_comment(session: Session, site: SiteRef, public_id: str) -> Comment:
    comment = None
    if can_store(public_id, "parent_id"):
        comment = session.scalar(select(Comment).where(Comment.public_id == public_id, Comment.site_id == site.id))
    if comment is None:
        raise CommentNotFound(f"No comment with id {public_id!r} for this site.")
    return comment


def withdraw_comment(session: Session, site: SiteRef, public_id: str) -> Comment:
    """The site (or its author) deleted the comment: withdrawn for good, off the thread, and
    no longer a duplicate of a new one. Withdrawing twice is no error. The caller commits."""
    comment = get_comment(session, site, public_id)
    if comment.status != "withdrawn":
        transition(session, comment, "withdrawn", actor="site", reason="withdrawn")
        session.execute(update(Comment).where(Comment.id == comment.id).values(content_digest=None))
    return comment


def edit_comment(session: Session, site: SiteRef, public_id: str, content: str) -> Comment:
    """New content: stored, its old check results dropped, back to `pending` (audited) so
    both checks run again. The caller commits, then enqueues the checks (requeue_checks)."""
    comment = get_comment(session, site, public_id)
    values = {"content": content, "content_digest": digest_content(content), "edited_at": utcnow()}
    try:
        with session.begin_nested():  # the UPDATE also locks the row: the status read next is current
            session.execute(update(Comment).where(Comment.id == comment.id, Comment.status != "withdrawn")
                            .values(**values).execution_options(synchronize_session=False))
    except IntegrityError:
        raise DuplicateComment("The same author already posted this to this thread.",
                               {"content": "Already posted to this thread by the same author."}) from None
    session.refresh(comment)
    if comment.status == "withdrawn":
        raise CommentWithdrawn("A withdrawn comment cannot be edited.")
    session.execute(delete(CheckResult).where(CheckResult.comment_id == comment.id))
    if comment.status == "pending":
        record_event(session, "edited", "site", comment=comment, reason="edited")
    else:
        transition(session, comment, "pending", actor="site", reason="edited", reasons=dict(EDITED_REASONS))
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
