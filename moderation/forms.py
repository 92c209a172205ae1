"""The article page's reply form (Flask-WTF, CSRF): the JSON schema's limits and validators,
with messages in the reader's language. Field names are the schema's, so an error the
schema or the store reports lands beside the same field."""
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, TextAreaField, URLField
from wtforms.validators import StopValidation, ValidationError

from .errors import ApiError, RateLimited
from .i18n import DEFAULT_LANGUAGE, STRINGS, format_number
from .schemas import LIMITS, check_text, email_address, not_blank, web_url


def strip_spaces(value):
    return value.strip() if isinstance(value, str) else value


def unix_newlines(value):
    """Browsers send CRLF but count a line break as one character against `maxlength`."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


class Required:
    """The schema's `not_blank`; a missing value stops the field's other checks."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        try:
            not_blank(field.data or "")
        except ValueError:
            raise StopValidation(form.words[f"required_{field.name}"]) from None


class Limit:
    """At most as many characters as the JSON API accepts (WordPress's limits)."""

    def __init__(self, name: str):
        self.limit = LIMITS[name]
        self.field_flags = {"maxlength": self.limit}

    def __call__(self, form, field):
        if len(field.data or "") > self.limit:
            limit = format_number(self.limit, form.lang)
            raise StopValidation(form.words["too_long"].format(limit=limit))


class Schema:
    """One of the JSON schema's validators, its complaint told in the form's language."""

    def __init__(self, check, message: str):
        self.check, self.message = check, message

    def __call__(self, form, field):
        try:
            self.check(field.data)
        except ValueError:
            raise ValidationError(form.words[self.message]) from None


PLAIN_TEXT = Schema(check_text, "invalid_text")


class ReplyForm(FlaskForm):
    content = TextAreaField(filters=[unix_newlines], validators=[Required(), PLAIN_TEXT, Limit("content")])
    author_name = StringField(filters=[strip_spaces], validators=[Required(), PLAIN_TEXT, Limit("author_name")])
    author_email = EmailField(
        filters=[strip_spaces],
        validators=[Required(), PLAIN_TEXT, Limit("author_email"), Schema(email_address, "invalid_email")],
    )
    author_url = URLField(
        filters=[strip_spaces], validators=[PLAIN_TEXT, Limit("author_url"), Schema(web_url, "invalid_url")]
    )
    parent_id = HiddenField(filters=[strip_spaces], validators=[PLAIN_TEXT, Limit("parent_id")])
    # The honeypot: out of sight (saring.css), left empty by people; a robot that fills it in
    # is answered as usual and its comment rejected as spam.
    website_url_confirm = StringField()

    def __init__(self, *args, lang: str = DEFAULT_LANGUAGE, **kwargs):
        self.lang, self.words = lang, STRINGS[lang]
        super().__init__(*args, **kwargs)

    def explain(self, name: str, message: str) -> str:
        """An error the schema or the store found, in the reader's words: the API's English on
        the English form, an Indonesian summary on the Indonesian one."""
        if name == "parent_id":
            return self.words["unknown_parent"]
        return message if self.lang == "en" else self.words["invalid_value"]

    def explain_refusal(self, error: ApiError) -> tuple[str, dict[str, str]]:
        """Why the submission path refused a comment (flood limit, duplicate, closed thread,
        unpublished parent, ban), in the reader's words: a message, and the fields it is
        about. A banned author learns no more than the API tells them."""
        words = self.words
        if isinstance(error, RateLimited):
            return words["too_many"].format(seconds=error.retry_after), {}
        if error.status == 409:
            return words["duplicate"], {"content": words["duplicate"]}
        if "parent_id" in error.fields:
            return words["unknown_parent"], {"parent_id": words["unknown_parent"]}
        if error.code == "thread_closed":
            return words["thread_closed"], {}
        return words["not_accepted" if error.status == 403 else "not_sent"], {}

    def add_error(self, name: str, message: str) -> None:
        """Show an error found after validation beside its field, or above the form."""
        if name in self:
            self[name].errors = [*self[name].errors, message]
        else:
            self.form_errors.append(message)
