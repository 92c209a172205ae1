"""The moderator API's requests and answers: pydantic models that parse what a moderator
sends (strict, unknown fields refused, one message per bad field) and describe what the
API answers, for the OpenAPI document."""
from datetime import datetime, timezone
from typing import Annotated, Literal

from flask import request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from .api import read_json_object
from .audit import AuditFilter
from .errors import InvalidFields
from .moderators import MIN_PASSWORD, USERNAME_PATTERN
from .policy import Policy, Thresholds
from .queue import SELECTION_LIMIT, SORTS, QueueFilter
from .review import ACTIONS
from .schemas import LARGEST_NUMBER, check_text, field_errors
from .tables import MODERATOR_REASONS, ROLES, STATUSES

Score = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PerPage = Annotated[int, Field(ge=1, le=100, description="At most 100.")]
Page = Annotated[int, Field(ge=1, le=LARGEST_NUMBER)]


def text(limit: int):
    return Annotated[str, Field(min_length=1, max_length=limit)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    _check_text = field_validator("*", mode="before")(check_text)


class QueueFilterIn(Request):
    """Which comments a queue page or a bulk rule selects (within the caller's sites)."""

    status: Literal[STATUSES] = "flagged"
    site: text(64) | None = Field(default=None, description="A site slug.")
    article: text(200) | None = Field(default=None, description="The site's own article id.")
    reason: text(32) | None = Field(default=None, description="The reason code a comment was flagged or rejected with.")
    language: text(16) | None = None
    spam_below: Score | None = None
    spam_at_least: Score | None = None
    toxicity_below: Score | None = None
    toxicity_at_least: Score | None = None
    sort: Literal[SORTS] = "oldest"

    def as_filter(self) -> QueueFilter:
        return QueueFilter(**self.model_dump(exclude={"page", "per_page"}))


class QueueQuery(QueueFilterIn):
    page: Page = 1
    per_page: PerPage = 50


class AuditQuery(Request):
    site: text(64) | None = None
    actor: text(100) | None = Field(default=None, description="A username, or 'checks' for the models' decisions.")
    action: text(32) | None = Field(default=None, description="'transition', 'ban', 'bulk_reject', ...")
    from_status: Literal[STATUSES] | None = None
    to_status: Literal[STATUSES] | None = None
    reason: text(32) | None = None
    batch: text(32) | None = Field(default=None, description="A bulk action's batch id.")
    comment: text(32) | None = Field(default=None, description="A comment's id.")
    since: datetime | None = Field(default=None, description="ISO 8601; a time without a zone is UTC.")
    until: datetime | None = None
    page: Page = 1
    per_page: PerPage = 50

    @field_validator("since", "until", mode="before")
    @classmethod
    def iso_time(cls, value):
        """ISO 8601 only: pydantic alone would read `0.5` or `1700000000` as a Unix time."""
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("An ISO 8601 time, such as 2026-12-31T23:59:00+07:00.") from None
        return value

    def as_filter(self) -> AuditFilter:
        values = self.model_dump(exclude={"page", "per_page"})
        for name in ("since", "until"):
            if values[name] is not None and values[name].tzinfo is None:
                values[name] = values[name].replace(tzinfo=timezone.utc)
        return AuditFilter(**values)


class ActionIn(Request):
    """A moderator's verdict: rejecting or banning needs a reason code."""

    action: Literal[ACTIONS]
    reason: Literal[MODERATOR_REASONS] | None = None
    ban_days: Annotated[int, Field(ge=1, le=3650)] | None = Field(default=None, description="None bans for good.")
    note: text(500) | None = Field(default=None, description="Kept in the audit log.")


class SelectionIn(ActionIn):
    ids: list[text(32)] = Field(min_length=1, max_length=SELECTION_LIMIT)


class RulePreviewIn(Request):
    filter: QueueFilterIn


class RuleApplyIn(ActionIn):
    filter: QueueFilterIn
    expect: int = Field(ge=0, description="The count the dry run showed; 409 if the rule now selects another.")


class TokenIn(Request):
    name: text(100) | None = Field(default=None, description="What the token is for.")


def username(value: str) -> str:
    if not USERNAME_PATTERN.match(value):
        raise ValueError("2-64 lowercase letters, digits, dots, dashes or underscores.")
    return value


Username = Annotated[str, Field(json_schema_extra={"pattern": USERNAME_PATTERN.pattern}), AfterValidator(username)]
Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=1024)]


class ModeratorIn(Request):
    username: Username
    password: Password
    role: Literal[ROLES] = "moderator"
    sites: list[text(64)] = Field(default=[], description="Site slugs; an admin sees every site anyway.")


class PolicyQuery(Request):
    version: Page | None = Field(default=None, description="An earlier version; absent: the current policy.")


class ModeratorChange(Request):
    role: Literal[ROLES] | None = None
    sites: list[text(64)] | None = None
    is_active: bool | None = None
    password: Password | None = Field(default=None, description="Ends the moderator's sessions.")


def parse(model: type[BaseModel], data: dict, strict: bool = True):
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as error:
        raise InvalidFields("The request has field errors.", field_errors(error)) from None


def read_body(model: type[BaseModel], optional: bool = False):
    """The JSON body, parsed strictly; with `optional`, an empty body is an empty object."""
    return parse(model, {} if optional and not request.get_data() else read_json_object())


def read_query(model: type[BaseModel]):
    """The query arguments, converted from text (an empty argument counts as absent; an unknown
    one is refused, even empty)."""
    known = model.model_fields
    return parse(model, {name: value for name, value in request.args.items() if value != "" or name not in known},
                 strict=False)


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteOut(Answer):
    slug: str
    name: str


class Sites(Answer):
    sites: list[SiteOut]


class Me(Answer):
    username: str
    role: Literal[ROLES]
    sites: list[SiteOut] = Field(description="The sites the caller may see.")


class CheckDetail(Answer):
    score: float | None
    attributes: dict[str, float]
    thresholds: dict | None
    model_version: str | None
    terms: list[tuple[str, float]] = Field(description="The words that pushed the score most, with their weight.")
    error: str | None


class ArticleRef(Answer):
    id: str
    title: str | None
    url: str | None


class ParentComment(Answer):
    id: str
    author_name: str
    content: str
    status: str


class ModeratorComment(Answer):
    """Everything a moderator sees of a comment; the email is masked."""

    id: str
    status: Literal[STATUSES]
    reason: str | None
    site: str
    article: ArticleRef
    parent: ParentComment | None
    author_name: str
    author_email: str = Field(description="Masked, e.g. b***o@e***.co.id.")
    author_url: str | None
    author_history: dict[str, int] = Field(description="The author's comments by status, within the caller's sites.")
    author_banned_until: str | None = Field(description="An ISO time, 'forever', or null when not banned.")
    content: str
    highlights: list[tuple[str, float | None]] = Field(description="The content in runs; scored words carry a weight.")
    language: str | None
    created_at: str
    decided_at: str | None
    decided_by: str | None
    seconds_in_queue: int
    priority: float | None
    scores: dict[str, float | None]
    checks: dict[str, CheckDetail]
    reasons: dict | None
    model_versions: dict[str, str]


class QueuePage(Answer):
    comments: list[ModeratorComment]
    total: int
    counts: dict[str, int] = Field(description="Comments per status under the same filter.")
    page: int
    per_page: int
    next: str | None


class OutcomeOut(Answer):
    action: Literal[ACTIONS]
    batch_id: str | None = Field(description="Shared by every audit event of one bulk action.")
    changed: list[str]
    skipped: dict[str, str] = Field(description="Comment id -> why it was left alone.")
    remaining: int = Field(description="Comments the rule still selects beyond this round's limit.")


class BriefComment(Answer):
    id: str
    site: str
    article_id: str
    author_name: str
    content: str = Field(description="The first 200 characters.")
    scores: dict[str, float | None]
    reason: str | None
    created_at: str


class RulePreview(Answer):
    count: int = Field(description="Send it back as `expect` to apply the rule.")
    limit: int = Field(description="Comments changed per apply call.")
    sample: list[BriefComment]


class AuditEventOut(Answer):
    id: int
    at: str
    action: str
    actor: str
    automated: bool
    site: str | None
    comment_id: str | None
    from_status: str | None
    to_status: str | None
    reason: str | None
    rule: str | None
    model_versions: dict | None
    thresholds: dict | None
    batch_id: str | None
    details: dict | None


class AuditPage(Answer):
    events: list[AuditEventOut]
    total: int
    page: int
    per_page: int
    next: str | None


class OverturnRate(Answer):
    site: str
    check: str
    model_version: str | None
    labels: int
    overturned: int
    rate: float


class OverturnRates(Answer):
    rates: list[OverturnRate]


class RevealedEmail(Answer):
    email: str


class TokenOut(Answer):
    prefix: str
    name: str | None
    created_at: str
    revoked_at: str | None


class TokenIssued(TokenOut):
    token: str = Field(description="Shown once; only its digest is stored.")


class Tokens(Answer):
    tokens: list[TokenOut]


class ModeratorOut(Answer):
    username: str
    role: Literal[ROLES]
    sites: list[str]
    is_active: bool
    created_at: str
    locked_until: str | None


class Moderators(Answer):
    moderators: list[ModeratorOut]


class PolicyDefaults(Answer):
    policy: Policy = Field(description="What a site without a policy runs on; a field left out of a PUT gets this.")
    model_thresholds: dict[str, Thresholds] = Field(
        description="The models' own thresholds per check and attribute, used where the policy sets none.")


class SitePolicyOut(Answer):
    """A site's policy: the current version, or the one asked for."""

    site: str
    version: int = Field(description="0: no version saved yet; the site runs on the defaults.")
    current_version: int
    policy: Policy
    defaults: PolicyDefaults


class PolicyVersion(Answer):
    version: int
    created_by: str = Field(description="A moderator's username, or 'cli'.")
    created_at: str
    changed: list[str] = Field(description="The fields this version changed.")


class PolicyVersions(Answer):
    """Every saved version of a site's policy, newest first."""

    site: str
    current_version: int
    versions: list[PolicyVersion]


REQUESTS = (QueueFilterIn, ActionIn, SelectionIn, RulePreviewIn, RuleApplyIn, TokenIn, ModeratorIn, ModeratorChange,
            Policy)
ANSWERS = (Me, Sites, QueuePage, ModeratorComment, OutcomeOut, RulePreview, AuditPage, OverturnRates, RevealedEmail,
           TokenIssued, Tokens, Moderators, ModeratorOut, SitePolicyOut, PolicyVersions)
