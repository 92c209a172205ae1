"""The SQL tables. (Not called models.py: the top-level models/ holds the ML models.)"""
from datetime import datetime, timezone

from sqlalchemy import (
    JSON, Boolean, DateTime, Float, ForeignKey, Index, LargeBinary, String, Text, TypeDecorator, UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base

STATUSES = ("pending", "approved", "flagged", "rejected")
CHECKS = ("spam", "toxicity")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp that always comes back timezone-aware in UTC (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    keys: Mapped[list["SiteKey"]] = relationship(back_populates="site")


class SiteKey(Base):
    """An API key, stored as the SHA-256 digest of the whole key; several may be active."""

    __tablename__ = "site_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship(back_populates="keys")


class Article(Base):
    """A comment thread, created on its first comment; the site's own id is unique per site."""

    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("site_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(500))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (  # few indexes: every one is written on each submission
        Index("ix_comments_status_created", "status", "created_at"),  # the sweeper, the queues
        Index("ix_comments_thread", "article_id", "status", "created_at"),  # the public thread
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))
    author_name: Mapped[str] = mapped_column(String(245))
    author_email: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token, never plaintext
    author_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    author_url: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    ip_fingerprint: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    referrer: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(32))  # why it was rejected or flagged
    reasons: Mapped[dict | None] = mapped_column(JSON)  # the decision explained
    decided_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    article: Mapped[Article] = relationship()
    parent: Mapped["Comment | None"] = relationship(remote_side=[id])
    checks: Mapped[list["CheckResult"]] = relationship(order_by="CheckResult.check")


class CheckResult(Base):
    """One check's outcome for one comment: a score, or the error that ended its retries."""

    __tablename__ = "check_results"
    __table_args__ = (UniqueConstraint("comment_id", "check"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id"))
    check: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    attributes: Mapped[dict | None] = mapped_column(JSON)
    terms: Mapped[list | None] = mapped_column(JSON)
    thresholds: Mapped[dict | None] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Every status change: who, from, to, why."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
