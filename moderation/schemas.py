"""JSON bodies: validated with pydantic, which also gives the OpenAPI schemas.

The limits are WordPress's; the HTML form (forms.py) uses the same table.
"""
import ipaddress
import re
from datetime import datetime
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

LIMITS = {
    "article_id": 200,
    "author_name": 245,
    "author_email": 100,
    "author_url": 200,
    "content": 65525,
    "parent_id": 32,
    "article_url": 2000,
    "article_title": 500,
    "lang": 16,
    "user_ip": 45,
    "user_agent": 500,
    "referrer": 2000,
    "honeypot": 2000,
    "idempotency_key": 200,
}
LARGEST_NUMBER = 2**31 - 1  # a page or version number: beyond it the database cannot count
_UNPRINTABLE = re.compile(r"[\x00\ud800-\udfff]")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_EMAIL = re.compile(
    rf"^{_ATOM}(?:\.{_ATOM})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+([A-Za-z]{{2,63}})$"
)
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def check_text(value):
    """Refuse NUL bytes and text that is not valid Unicode (lone surrogates, bad UTF-8)."""
    if isinstance(value, str) and _UNPRINTABLE.search(value):
        if "\x00" in value:
            raise ValueError("Must not contain NUL characters.")
        raise ValueError("Must be valid UTF-8 text.")
    return value


def can_store(value: str, name: str) -> bool:
    """Whether an id from a URL could have been stored under `name`; others are never looked
    up (PostgreSQL cannot even compare a string holding NUL)."""
    try:
        check_text(value)
    except ValueError:
        return False
    return len(value) <= LIMITS[name]


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("Must not be blank.")
    return value


def email_address(value: str) -> str:
    """A deliverable-looking address. Plain ASCII addresses are checked by a strict pattern
    (a tenth of the cost); anything else, a special-use domain or a punycode (xn--) label,
    by email-validator."""
    match = _PLAIN_EMAIL.match(value)
    if match and match.group(1).lower() not in SPECIAL_USE_DOMAIN_NAMES and "xn--" not in value.lower():
        return value
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("Enter a valid email address, like name@example.com.") from None
    return value


def web_url(value: str | None) -> str | None:
    if not value:
        return None
    if not re.match(r"^https?://[^\s/?#]+\.[^\s/?#]+([/?#]\S*)?$", value, re.IGNORECASE):
        raise ValueError("Enter a full web address starting with http:// or https://.")
    return value


def ip_address(value: str | None) -> str | None:
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("Enter an IPv4 or IPv6 address.") from None
    return value


def language_tag(value: str | None) -> str | None:
    if value and not _LANGUAGE_TAG.match(value):
        raise ValueError("Use a language tag such as 'id' or 'en-US'.")
    return value.lower() if value else None


def text(name: str, *validators, required: bool = True):
    limit = Field(min_length=1 if required else 0, max_length=LIMITS[name])
    return Annotated[str, limit, *(AfterValidator(v) for v in validators)]


def optional(name: str, *validators):
    return Annotated[str | None, Field(default=None, max_length=LIMITS[name]), *(AfterValidator(v) for v in validators)]


class CommentIn(BaseModel):
    """A reader's comment or reply, as a site posts it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    article_id: text("article_id", not_blank) = Field(description="The site's own id of the article (thread).")
    author_name: text("author_name", not_blank)
    author_email: text("author_email", email_address) = Field(description="Never shown or returned; stored encrypted.")
    content: text("content", not_blank) = Field(description="Plain text; never rendered as HTML.")
    parent_id: optional("parent_id") = Field(default=None, description="Id of the comment this one replies to.")
    author_url: optional("author_url", web_url) = None
    article_url: optional("article_url", web_url) = None
    article_title: optional("article_title") = None
    lang: optional("lang", language_tag) = Field(default=None, description="Language hint; detected when absent.")
    user_ip: optional("user_ip", ip_address) = Field(default=None, description="Stored only as a keyed fingerprint.")
    user_agent: optional("user_agent") = None
    referrer: optional("referrer") = None
    honeypot: optional("honeypot") = Field(
        default=None, description="Leave empty. A hidden form field only bots fill in: a comment with it filled "
                                  "is answered like any other and rejected as spam.")

    _check_text = field_validator("*", mode="before")(check_text)


class CommentEdit(BaseModel):
    """New content for a comment; its checks run again on it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    content: text("content", not_blank) = Field(description="Plain text; never rendered as HTML.")

    _check_text = field_validator("*", mode="before")(check_text)


ARTICLE_TITLE, ARTICLE_URL = "article_title", "article_url"  # their limits are the submission's


class ArticleChange(BaseModel):
    """A thread's settings, as its site sets them (the thread is created if it has no comment yet)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    is_open: bool = Field(default=None, json_schema_extra=lambda schema: schema.pop("default"),  # absent: unchanged
                          description="False closes the thread: new comments get 403 (null is refused).")
    closes_at: str | None = Field(default=None, description="ISO 8601 time after which the thread is closed.")
    title: optional(ARTICLE_TITLE) = None
    url: optional(ARTICLE_URL, web_url) = None

    _check_text = field_validator("*", mode="before")(check_text)

    @field_validator("closes_at")
    @classmethod
    def moment(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("An ISO 8601 time, such as 2026-12-31T23:59:00+07:00.") from None
        return value


class ArticleView(BaseModel):
    article_id: str
    title: str | None
    url: str | None
    is_open: bool
    closes_at: str | None
    premoderated: bool


_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,200}$")


def idempotency_key(value: str | None) -> str | None:
    """An `Idempotency-Key` header: 1 to 200 printable ASCII characters, or absent."""
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.match(value):
        raise ValueError("Use 1 to 200 printable ASCII characters, such as a UUID.")
    return value


class Links(BaseModel):
    self: str
    thread: str


class CommentAccepted(BaseModel):
    id: str
    status: str
    links: Links


class CheckView(BaseModel):
    score: float | None
    attributes: dict[str, float] = {}
    model_version: str | None
    error: str | None = None


class CommentView(BaseModel):
    """A comment as its own site sees it: no email, no IP."""

    id: str
    status: str
    reason: str | None
    article_id: str
    parent_id: str | None
    author_name: str
    author_email: str = Field(description="Masked, e.g. b***i@e***.com.")
    language: str | None
    created_at: str
    decided_at: str | None
    edited_at: str | None = Field(description="When the content was last changed (PATCH); its checks ran again.")
    scores: dict[str, float | None]
    checks: dict[str, CheckView]
    reasons: dict | None
    model_versions: dict[str, str]


class PublicComment(BaseModel):
    """What a reader may see: no email, no IP, no scores."""

    id: str
    parent_id: str | None
    author_name: str
    author_url: str | None
    content: str
    created_at: str
    replies: list["PublicComment"]


class ThreadPage(BaseModel):
    site: str
    article_id: str
    comments: list[PublicComment]
    page: int
    per_page: int
    total: int = Field(description="Approved top-level comments in the thread.")
    next: str | None


class Error(BaseModel):
    error: str
    message: str
    fields: dict[str, str]


MESSAGES = {
    "missing": "This field is required.",
    "string_type": "Must be a string.",
    "bool_type": "Must be true or false.",
    "string_too_short": "Must not be empty.",
    "extra_forbidden": "Unknown field.",
}


def field_errors(error: ValidationError) -> dict[str, str]:
    """One human-readable message per field."""
    found = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "body"
        if name in found:
            continue
        if item["type"] == "string_too_long":
            found[name] = f"Must be at most {item['ctx']['max_length']} characters."
        elif item["type"] == "string_too_short" and item["ctx"]["min_length"] > 1:
            found[name] = f"Must be at least {item['ctx']['min_length']} characters."
        elif item["type"] == "value_error":
            found[name] = str(item["ctx"]["error"])
        else:
            found[name] = MESSAGES.get(item["type"], item["msg"])
    return found
