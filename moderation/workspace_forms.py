"""The moderator workspace's forms (Flask-WTF). Posting forms carry a CSRF token; the
filter forms are GET forms without one (they change nothing), read from the query string."""
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, FloatField, HiddenField, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from .moderators import MIN_PASSWORD
from .policy import ATTRIBUTES, FloodLimits, PerspectiveOptions, Policy
from .queue import SORTS
from .review import ACTIONS
from .tables import CHECKS, MODERATOR_REASONS, ROLES, STATUSES

REASON_LABELS = {
    "spam": "Spam",
    "toxic": "Toxic",
    "off_topic": "Off-topic",
    "personal_attack": "Personal attack",
    "illegal": "Illegal",
    "other": "Other",
}
# Reason codes a comment may carry: the checks' and the moderators'.
KNOWN_REASONS = ("spam", "toxic", "premoderation", "check_failed", "banned_author", *MODERATOR_REASONS[2:])
LANGUAGES = {"id": "Indonesian", "en": "English", "und": "Undetermined"}
BAN_DAYS = {"": "for good", "1": "1 day", "7": "7 days", "30": "30 days", "365": "1 year"}
ACTION_LABELS = {"approve": "Approve", "reject": "Reject", "spam": "Mark spam", "ban": "Ban author"}
AUDIT_ACTIONS = (
    "transition", "ban", "bulk_approve", "bulk_reject", "bulk_spam", "bulk_ban", "reveal_email",
    "moderator_created", "moderator_changed", "moderator_deactivated", "moderator_reactivated",
    "password_reset", "password_changed", "token_issued", "token_revoked", "policy_changed",
    "article_changed", "author_erased", "author_exported", "callback_replay", "callback_secret_rotated",
    "callback_url_set", "callback_url_removed", "site_key_rotated", "email_key_rotated", "fingerprint_key_rotated",
    "jobs_requeued", "job_deleted",
)


def options(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def blank(pairs, label: str = "any") -> list[SelectChoice]:
    """Choices led by an empty one (no filter, or nothing picked yet)."""
    return options([("", label), *pairs])


def score_field(label: str) -> StringField:
    return StringField(label, validators=[Optional()], render_kw={"type": "number", "min": 0, "max": 1,
                                                                 "step": "0.01", "inputmode": "decimal"})


class GetForm(FlaskForm):
    """A filter form: no CSRF (reading changes nothing), built from the query string."""

    class Meta:
        csrf = False


class QueueFilterForm(GetForm):
    status = HiddenField()
    site = SelectField("Site", choices=[])
    article = StringField("Article id", validators=[Length(max=200)])
    reason = StringField("Reason", validators=[Length(max=200)], render_kw={"list": "known-reasons"})
    language = SelectField("Language", choices=blank(LANGUAGES.items()))
    spam_at_least = score_field("Spam ≥")
    spam_below = score_field("Spam <")
    toxicity_at_least = score_field("Toxicity ≥")
    toxicity_below = score_field("Toxicity <")
    sort = SelectField("Sort", choices=options((sort, sort) for sort in SORTS))


class AuditFilterForm(GetForm):
    site = SelectField("Site", choices=[])
    actor = StringField("Who", validators=[Length(max=200)], render_kw={"placeholder": "username or checks"})
    action = StringField("Action", validators=[Length(max=200)], render_kw={"list": "known-actions"})
    from_status = SelectField("From", choices=blank((status, status) for status in STATUSES))
    to_status = SelectField("To", choices=blank((status, status) for status in STATUSES))
    reason = StringField("Reason", validators=[Length(max=200)], render_kw={"list": "known-reasons"})
    batch = StringField("Batch", validators=[Length(max=200)])
    comment = StringField("Comment id", validators=[Length(max=200)])
    since = StringField("Since", render_kw={"placeholder": "2026-01-31"})
    until = StringField("Until", render_kw={"placeholder": "2026-01-31T18:00"})


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class ActionForm(FlaskForm):
    """One action on one comment or on a selection (several `ids`): one batch."""

    ids = SelectMultipleField(validate_choice=False, validators=[DataRequired("Select at least one comment.")])
    action = SelectField(choices=list(ACTIONS))
    reason = SelectField(choices=blank(REASON_LABELS.items(), "reason…"), default="")
    ban_days = SelectField(choices=options(BAN_DAYS.items()), default="")
    next = HiddenField()


class BulkForm(FlaskForm):
    """The confirmation of a bulk rule: the action, and how many comments the dry run counted
    (the filter itself travels as hidden fields named as in QueueFilter)."""

    action = SelectField("Action", choices=options((action, ACTION_LABELS[action]) for action in ACTIONS))
    reject_reason = SelectField("Reason", choices=blank(REASON_LABELS.items(), "reason…"), default="")  # `reason` filters
    ban_days = SelectField("Ban for", choices=options(BAN_DAYS.items()), default="")
    expect = IntegerField(validators=[DataRequired(), NumberRange(min=1)])


class NewModeratorForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(min=2, max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1024)],
                             render_kw={"autocomplete": "new-password"})
    role = SelectField("Role", choices=options((role, role) for role in ROLES), default="moderator")
    sites = SelectMultipleField("Sites", choices=[], widget=ListWidget(prefix_label=False),
                                option_widget=CheckboxInput())


class ModeratorAccessForm(FlaskForm):
    role = SelectField("Role", choices=options((role, role) for role in ROLES))
    sites = SelectMultipleField("Sites", choices=[], widget=ListWidget(prefix_label=False),
                                option_widget=CheckboxInput())


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1024)],
                             render_kw={"autocomplete": "new-password"})


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)],
                            render_kw={"autocomplete": "current-password"})
    password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1024)],
                             render_kw={"autocomplete": "new-password"})


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=100)], render_kw={"placeholder": "e.g. laptop script"})


# -- a site's policy (admins) ------------------------------------------------------------------

THRESHOLD_NAMES = (*CHECKS, *ATTRIBUTES)
SECTIONS = {"flood": FloodLimits, "perspective": PerspectiveOptions}  # the policy's objects of numbers
SECTION_LABELS = {  # each section's fields, as form fields named <section>_<field>
    "flood_per_site": "Per site", "flood_per_ip": "Per IP address", "flood_per_email": "Per email address",
    "perspective_quota_per_minute": "Analyze requests per minute", "perspective_time_budget_ms": "Time budget (ms)",
}
OBSERVE = {"": "off: apply the policy", "publish": "observe, publish everything", "hold": "observe, hold everything"}


def about(name: str, model=Policy) -> str:
    """A policy field's description, from the policy model itself."""
    return model.model_fields[name].description or ""


def bounds(name: str, model=Policy) -> dict:
    """A number field's min and max, from the policy model's own constraints."""
    return {key: getattr(constraint, edge) for constraint in model.model_fields[name].metadata
            for key, edge in (("min", "ge"), ("max", "le")) if getattr(constraint, edge, None) is not None}


def count_field(label: str, name: str, model=Policy) -> IntegerField:
    """A whole number field, described and bounded as the policy model has it."""
    return IntegerField(label, validators=[Optional()], description=about(name, model),
                        render_kw={"type": "number", "step": 1, "inputmode": "numeric", **bounds(name, model)})


def section_fields(section: str) -> list[str]:
    """The form's fields of one of the policy's SECTIONS."""
    return [f"{section}_{name}" for name in SECTIONS[section].model_fields]


def list_field(label: str, name: str) -> TextAreaField:
    return TextAreaField(label, description=about(name) + " One per line.",
                         render_kw={"rows": 5, "spellcheck": "false"})


class PolicyForm(FlaskForm):
    """A site's policy as a form: a blank threshold keeps the model's own, a blank number the
    default; lists are one entry per line. policy_pages.py turns it into the policy's JSON,
    which moderation.policy validates."""

    version = HiddenField()  # the version this form was loaded from: a save over a newer one is refused
    premoderation = BooleanField("Premoderation", description=about("premoderation"))
    hold_new_authors = count_field("Hold new authors", "hold_new_authors")
    observe = SelectField("Observe mode", choices=options(OBSERVE.items()), description=about("observe"))
    hold_words = list_field("Hold words", "hold_words")
    block_words = list_field("Block words", "block_words")
    link_cap = count_field("Link cap", "link_cap")
    link_domains_allow = list_field("Allowed link domains", "link_domains_allow")
    link_domains_deny = list_field("Denied link domains", "link_domains_deny")
    trusted_after = count_field("Trusted after", "trusted_after")
    trusted_relief = FloatField("Trusted relief", validators=[Optional()], description=about("trusted_relief"),
                                render_kw={"type": "number", "step": "any", "min": 0, "max": 0.5})
    auto_close_days = count_field("Close threads after (days)", "auto_close_days")
    erase = SelectField("Erasing an author", choices=options((("anonymise", "anonymise their comments"),
                                                              ("remove", "remove their comments"))),
                        description=about("erase"))
    language = SelectField("Site language", choices=options((("", "none: the client's hint"), ("id", "Indonesian"),
                                                              ("en", "English"))), description=about("language"))
    allow_private_callbacks = BooleanField("Allow private callback addresses",
                                           description=about("allow_private_callbacks"))


for _name in THRESHOLD_NAMES:
    for _edge in ("flag", "reject"):
        setattr(PolicyForm, f"{_name}_{_edge}", FloatField(
            f"{_name.replace('_', ' ')} {_edge}", validators=[Optional()],
            render_kw={"type": "number", "step": "any", "min": 0, "max": 1, "inputmode": "decimal"}))
for _name in CHECKS:
    setattr(PolicyForm, f"fail_{_name}", SelectField(
        f"When {_name} fails", choices=options((("closed", "closed: hold for a moderator"),
                                                ("open", "open: ignore it, mark degraded")))))
for _section, _model in SECTIONS.items():
    for _name in _model.model_fields:  # a field without a label fails here, not by a save resetting it
        _field = f"{_section}_{_name}"
        setattr(PolicyForm, _field, count_field(SECTION_LABELS[_field], _name, _model))

del _name, _edge, _section, _model, _field
