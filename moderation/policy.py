"""A site's policy: its thresholds, modes, word lists, link rules, trust, fail policy, thread
rules, flood limits and retention. Validated by pydantic, stored on the site, versioned
(every version kept in site_policies, every change audited); each decision records the
version it used. A site without a policy of its own runs on the defaults below."""
import functools
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit import record_event
from .errors import InvalidFields
from .schemas import check_text, field_errors
from .tables import CHECKS, AuditEvent, Site, SitePolicy

Score = Field(ge=0, le=1)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Thresholds(Strict):
    """A check's (or an attribute's) thresholds; None keeps the model's own."""

    flag: float | None = Field(default=None, ge=0, le=1)
    reject: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def flag_below_reject(self):
        if self.flag is not None and self.reject is not None and self.flag > self.reject:
            raise ValueError("flag must not be above reject")
        return self


class FloodLimits(Strict):
    """Comments accepted per minute, counted in Redis across every web process; 0: no limit."""

    per_site: int = Field(default=600, ge=0, le=1_000_000)
    per_ip: int = Field(default=10, ge=0, le=10_000)
    per_email: int = Field(default=5, ge=0, le=10_000)


class PerspectiveOptions(Strict):
    """The Perspective-compatible API (/perspective/v1alpha1): how many analyze requests a
    minute the site may send (0: no limit), and how long a request may wait for a score."""

    quota_per_minute: int = Field(default=6000, ge=0, le=1_000_000,
                                  description="Analyze requests a minute the site may send; over it: 429 (0: no limit).")
    time_budget_ms: int = Field(default=250, ge=50, le=4000,
                                description="Milliseconds an analyze request may wait for its score; then 503 "
                                            "(Coral Talk gives up after 300 ms by default).")


WordList = list[str]


class Policy(Strict):
    thresholds: dict[str, Thresholds] = Field(
        default_factory=dict,
        description="Per check (spam, toxicity) and per toxicity attribute (abusive, insult, hate, "
                    "identity_attack): flag and reject thresholds overriding the model's.")
    premoderation: bool = Field(default=False, description="Hold every comment for a moderator.")
    hold_new_authors: int = Field(default=0, ge=0, le=100,
                                  description="Hold an author's comments until this many were approved.")
    hold_words: WordList = Field(default_factory=list, max_length=5000,
                                 description="Whole words or phrases that hold a comment for a moderator.")
    block_words: WordList = Field(default_factory=list, max_length=5000,
                                  description="Whole words or phrases that reject a comment.")
    link_cap: int | None = Field(default=None, ge=0, le=100, description="More links than this: held.")
    link_domains_allow: list[str] = Field(default_factory=list, max_length=1000,
                                          description="When set, a link to any other domain holds the comment.")
    link_domains_deny: list[str] = Field(default_factory=list, max_length=1000,
                                         description="A link to one of these domains rejects the comment.")
    trusted_after: int | None = Field(default=None, ge=1, le=1000,
                                      description="Approved comments after which an author is trusted.")
    trusted_relief: float = Field(default=0.1, ge=0, le=0.5,
                                  description="How much a trusted author's thresholds are raised (capped at 0.99).")
    fail: dict[str, Literal["open", "closed"]] = Field(
        default_factory=lambda: dict.fromkeys(CHECKS, "closed"),
        description="Per check, when it errors or times out: open (ignore it, mark degraded) or closed (hold).")
    auto_close_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="Close a thread this many days after its first comment.")
    observe: Literal["publish", "hold"] | None = Field(
        default=None, description="Record what the policy would decide but publish (or hold) everything.")
    flood: FloodLimits = Field(default_factory=FloodLimits)
    perspective: PerspectiveOptions = Field(default_factory=PerspectiveOptions)
    language: Literal["id", "en"] | None = Field(
        default=None, description="The site's language: a text with no word that tells Indonesian from English is "
                                  "taken to be in it (the Perspective API's answers; none: the client's hint).")
    erase: Literal["anonymise", "remove"] = Field(
        default="anonymise", description="What erasing an author does to their comments.")
    allow_private_callbacks: bool = Field(
        default=False, description="Allow a callback URL on a loopback or private address.")

    @field_validator("thresholds")
    @classmethod
    def known_thresholds(cls, value: dict) -> dict:
        unknown = set(value) - set(CHECKS) - set(ATTRIBUTES)
        if unknown:
            raise ValueError(f"unknown check or attribute: {shown(unknown)}")
        return value

    @field_validator("hold_words", "block_words", "link_domains_allow", "link_domains_deny")
    @classmethod
    def readable(cls, value: list[str]) -> list[str]:
        for entry in value:
            check_text(entry)  # no NUL, no broken UTF-8: they would break the pages that show them
        return value

    @field_validator("hold_words", "block_words")
    @classmethod
    def plain_words(cls, value: list[str]) -> list[str]:
        for word in value:
            if not 1 <= len(word.strip()) <= 100:
                raise ValueError("each word or phrase is 1 to 100 characters")
        return value

    @field_validator("link_domains_allow", "link_domains_deny")
    @classmethod
    def domains(cls, value: list[str]) -> list[str]:
        cleaned = [domain.strip().lower().lstrip(".") for domain in value]
        if any(not domain or len(domain) > 253 or "/" in domain or " " in domain for domain in cleaned):
            raise ValueError("each entry is a domain name such as example.com")
        return cleaned

    @field_validator("fail")
    @classmethod
    def every_check(cls, value: dict) -> dict:
        unknown = set(value) - set(CHECKS)
        if unknown:
            raise ValueError(f"unknown check: {shown(unknown)}")
        return {**dict.fromkeys(CHECKS, "closed"), **value}


def shown(names: set[str]) -> str:
    """Names for an error message, a lone surrogate escaped: pydantic cannot carry one and
    raised UnicodeEncodeError instead of the ValidationError (a 500)."""
    return ", ".join(sorted(name.encode("utf-8", "backslashreplace").decode() for name in names))


ATTRIBUTES = ("abusive", "insult", "hate", "identity_attack", "threat")
DEFAULT = Policy()


def parse_policy(data) -> Policy:
    """A policy from a JSON object, or InvalidFields naming each bad field."""
    if not isinstance(data, dict):
        raise InvalidFields("A policy is a JSON object.", {"policy": "Must be an object."})
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise InvalidFields("The policy has field errors.", field_errors(error)) from None


def site_policy(site: Site) -> Policy:
    """The site's current policy (the defaults where it has none)."""
    return load_policy(site.policy)


def load_policy(stored: dict | None) -> Policy:
    """A policy as stored on a site (None: the defaults)."""
    return Policy.model_validate(stored) if stored else DEFAULT


def set_policy(session: Session, site: Site, policy: Policy, actor: str) -> int:
    """Store a new version of the site's policy, audited; returns its version. The caller commits."""
    stored = policy.model_dump(mode="json")
    version = (session.scalar(select(SitePolicy.version).where(SitePolicy.site_id == site.id)
                              .order_by(SitePolicy.version.desc()).limit(1)) or 0) + 1
    session.add(SitePolicy(site_id=site.id, version=version, policy=stored, created_by=actor))
    record_event(session, "policy_changed", actor, site_id=site.id,
                 details={"version": version, "changed": changed_fields(site_policy(site), policy)})
    site.policy, site.policy_version = stored, version
    return version


def changed_fields(before: Policy, after: Policy) -> list[str]:
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    return sorted(name for name in new if old.get(name) != new[name])


def policy_versions(session: Session, site: Site) -> list[dict]:
    """Every stored version of the site's policy, newest first: who saved it, when, and
    which fields it changed (from its policy_changed audit event)."""
    events = session.scalars(select(AuditEvent.details).where(
        AuditEvent.action == "policy_changed", AuditEvent.site_id == site.id))
    changed = {details.get("version"): details.get("changed", []) for details in events if details}
    rows = session.execute(select(SitePolicy.version, SitePolicy.created_by, SitePolicy.created_at)
                           .where(SitePolicy.site_id == site.id).order_by(SitePolicy.version.desc()))
    return [{"version": row.version, "created_by": row.created_by, "created_at": row.created_at,
             "changed": changed.get(row.version, [])} for row in rows]


@functools.lru_cache(maxsize=4)
def model_thresholds(directory: str = "") -> dict[str, dict]:
    """The models' own thresholds per check and attribute, read from their cards (the JSON
    beside each artifact; the web process never loads a model): what a blank threshold means."""
    cards = Path(directory) if directory else Path(__file__).resolve().parent.parent / "models" / "artifacts"
    found = {}
    for check in CHECKS:
        try:
            card = json.loads((cards / f"{check}.json").read_text())
        except (OSError, ValueError):
            continue
        found[check] = card.get("thresholds") or {}
        found.update((attribute, card["attribute_thresholds"][attribute]) for attribute in ATTRIBUTES
                     if attribute in (card.get("attribute_thresholds") or {}))
    return found
