"""Threads as their sites set them: open or closed (now, or from a time), title and URL."""
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import PathConverter

from .sites import SiteRef
from .tables import Article


class ArticleIdConverter(PathConverter):
    """A site's own article id in a URL (`<article:article_id>`): any text, slashes included,
    also a leading one or a doubled one ("/2026/11/judul", "https://site/berita/1") and line
    breaks, which Werkzeug's `path` converter refuses or redirects to another id."""

    regex = r"(?s:.+?)"
    part_isolating = False


def set_article(session: Session, site: SiteRef, article_id: str, changes: dict) -> Article:
    """Apply a site's changes to one of its threads, creating it if it has no comment yet.
    The caller commits."""
    article = session.scalar(select(Article).where(Article.site_id == site.id, Article.external_id == article_id))
    if article is None:
        article = Article(site_id=site.id, external_id=article_id, is_open=True, premoderated=False)
        session.add(article)
    for name, value in changes.items():
        if name == "closes_at" and value is not None:
            moment = datetime.fromisoformat(value)
            value = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        setattr(article, name, value)
    session.flush()
    return article


def describe_article(article: Article) -> dict:
    return {
        "article_id": article.external_id,
        "title": article.title,
        "url": article.url,
        "is_open": article.is_open,
        "closes_at": article.closes_at.isoformat() if article.closes_at else None,
        "premoderated": article.premoderated,
    }
