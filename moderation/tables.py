"""The SQL tables. (Not called models.py: the top-level models/ holds the ML models.)"""
from datetime import datetime, timezone

from sqlalchemy import (
    JSON, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Table, Text, TypeDecorator,
    UniqueConstraint, and_, or_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base

STATUSES = ("pending", "approved", "flagged", "rejected", "withdrawn")
CHECKS = ("spam", "toxicity")
ROLES = ("admin", "moderator")
MODERATOR_REASONS = ("spam", "toxic", "off_topic", "personal_attack", "illegal", "other")


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
    policy: Mapped[dict | None] = mapped_column(JSON)  # the current policy (moderation.policy); None: defaults
    policy_version: Mapped[int] = mapped_column(Integer, default=0)
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    publishable_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # the widget's, Origin-limited
    allowed_origins: Mapped[list | None] = mapped_column(JSON)  # where the widget may post from
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
    premoderated: Mapped[bool] = mapped_column(Boolean, default=False)  # every comment waits for a moderator
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (  # few indexes: every one is written on each submission
        Index("ix_comments_status_created", "status", "created_at"),  # the sweeper, the queues
        Index("ix_comments_thread", "article_id", "status", "created_at"),  # the public thread
        # the same author posting the same text to the same thread once (None once withdrawn or erased)
        Index("ux_comments_duplicate", "article_id", "author_fingerprint", "content_digest", unique=True),
        # a retried request with the same Idempotency-Key (NULLs never collide)
        Index("ux_comments_idempotency", "site_id", "idempotency_key", unique=True),
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
    priority: Mapped[float | None] = mapped_column(Float)  # the queue's "worst first" order
    content_digest: Mapped[str | None] = mapped_column(String(64))  # sha256 of the folded content
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    article: Mapped[Article] = relationship()
    site: Mapped[Site] = relationship()
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
    """Every status change (action "transition": who, from, to, why), and every other act a
    moderator must answer for: bans, bulk batches, revealed emails, moderator changes."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(32), default="transition")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict | None] = mapped_column(JSON)
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    comment: Mapped["Comment | None"] = relationship()


moderator_sites = Table(
    "moderator_sites",
    Base.metadata,
    Column("moderator_id", ForeignKey("moderators.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class Moderator(Base):
    """A person who decides what the models could not. Admins see every site; moderators
    only the sites assigned to them."""

    __tablename__ = "moderators"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="moderator")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_version: Mapped[int] = mapped_column(Integer, default=1)  # bump to end every session
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sites: Mapped[list[Site]] = relationship(secondary=moderator_sites, order_by=Site.slug)
    tokens: Mapped[list["ModeratorToken"]] = relationship(back_populates="moderator")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ModeratorToken(Base):
    """A moderator's API token for /api/v1/moderation, stored as a SHA-256 digest."""

    __tablename__ = "moderator_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    moderator: Mapped[Moderator] = relationship(back_populates="tokens")


class Ban(Base):
    """An author banned from a site, by email fingerprint, until `expires_at` (None: for good)."""

    __tablename__ = "bans"
    __table_args__ = (Index("ix_bans_author", "site_id", "author_fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    author_fingerprint: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @classmethod
    def in_force(cls, moment):
        """The SQL condition of a ban in force at `moment` (a time or a bind parameter)."""
        return and_(cls.lifted_at.is_(None), or_(cls.expires_at.is_(None), cls.expires_at > moment))


class Label(Base):
    """A moderator's verdict on one check for one comment (spam/ham, toxic/clean), kept for
    training, with what the model had said: `overturned` when the two disagree."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("comment_id", "check"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    check: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(Integer)  # 1: spam / toxic, 0: ham / clean
    model_version: Mapped[str | None] = mapped_column(String(100))
    model_score: Mapped[float | None] = mapped_column(Float)
    overturned: Mapped[bool | None] = mapped_column(Boolean)  # None: the check had no score
    source: Mapped[str] = mapped_column(String(32), default="moderator")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SuggestedScore(Base):
    """A score a Perspective client suggested for a text (Coral Talk sends one when a moderator
    approves, 0, or rejects, 1, a comment): a training label of the site for the toxicity
    model (TOXICITY and SEVERE_TOXICITY; moderation.labels.training_rows). `external_id` is
    the client's own comment id: a later suggestion for it replaces this one."""

    __tablename__ = "suggested_scores"
    __table_args__ = (Index("ix_suggested_scores_item", "site_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    attribute: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    label: Mapped[int] = mapped_column(Integer)  # 1: the value is 0.5 or more
    content: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    community_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SitePolicy(Base):
    """Every version of a site's policy, kept: each decision names the version it used."""

    __tablename__ = "site_policies"
    __table_args__ = (UniqueConstraint("site_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    version: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallbackSecret(Base):
    """A site's callback signing secret (encrypted like emails). During a rotation the old
    one signs too, until `expires_at`."""

    __tablename__ = "callback_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallbackEvent(Base):
    """A decision to announce to the site: written in the same transaction as the decision
    (an outbox), delivered at least once by an RQ job, and kept with its delivery state."""

    __tablename__ = "callback_events"
    __table_args__ = (Index("ix_callback_events_undelivered", "delivered_at", "failed_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)  # stable: the site drops repeats by it
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))  # comment.approved, comment.rejected, comment.withdrawn, ...
    payload: Mapped[dict] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # retries exhausted; replayable
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
