"""The OpenAPI document, built from the pydantic schemas and served at /api/v1/openapi.json:
the site API (site key), the moderator API (moderator token), the widget (publishable key),
and the Perspective-compatible API (a site key, as ?key=), whose messages and errors are
Perspective's own, written out here as JSON Schema."""
from typing import Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field

from . import review_schemas as moderation
from .errors import GOOGLE_STATUS, PERSPECTIVE_DETAIL
from .authors_api import AuthorErased, AuthorExport, AuthorRequest
from .callbacks_api import CallbackIn, EventsQuery, ReplayIn, RotationIn
from .languages import SUPPORTED
from .perspective_requests import ATTRIBUTES, MAX_TEXT_BYTES, MAX_TOKEN
from .policy import Policy
from .schemas import (
    LARGEST_NUMBER, ArticleChange, ArticleView, CommentAccepted, CommentEdit, CommentIn, CommentView, Error, ThreadPage,
)

bp = Blueprint("openapi", __name__)
REF = "#/components/schemas/{model}"


class SitePolicyView(BaseModel):
    """The calling site's policy and its version (0: none saved; the defaults apply)."""

    site: str
    version: int
    policy: Policy


class SecretView(BaseModel):
    prefix: str = Field(description="The secret's first characters, to tell secrets apart; never the whole.")
    created_at: str
    expires_at: str | None = Field(description="Set on a rotated-out secret: it signs too until then.")


class Deliveries(BaseModel):
    pending: int
    delivered: int
    failed: int


class CallbackView(BaseModel):
    """The site's callback URL, its active signing secrets and its events' delivery counts."""

    url: str | None
    secrets: list[SecretView]
    deliveries: Deliveries


class CallbackChanged(BaseModel):
    """The new callback settings; `secret` only when the first secret was just created (shown once)."""

    url: str | None
    secrets: list[SecretView]
    secret: str | None = Field(default=None, description="Present once: store it to verify signatures.")


class SecretRotated(BaseModel):
    """The new signing secret, shown once; the previous one signs too until it expires."""

    secret: str
    secrets: list[SecretView]


class Delivery(BaseModel):
    id: str
    type: str
    comment_id: str | None
    created_at: str | None
    attempts: int
    last_attempt_at: str | None
    last_error: str | None
    delivered_at: str | None
    failed_at: str | None


class EventsPage(BaseModel):
    """One page of the site's callback events in one delivery state, without their payloads."""

    events: list[Delivery]
    state: str
    page: int
    per_page: int
    total: int
    next: str | None


class ReplayOutcome(BaseModel):
    """The events queued again, and why the others were not (unknown, already delivered)."""

    replayed: list[str]
    skipped: dict[str, str]


class WidgetAccepted(BaseModel):
    """Stored; `receipt` lets the writer (only) follow the comment's status."""

    id: str
    status: Literal["pending"]
    receipt: str


class WidgetCommentIn(BaseModel):
    """A reader's comment as the widget sends it: strings only, checked like the article page's
    form; the address, user agent and referrer are taken from the request."""

    model_config = ConfigDict(extra="forbid")

    article_id: str
    content: str
    author_name: str
    author_email: str
    author_url: str | None = None
    parent_id: str | None = None
    article_url: str | None = Field(default=None, description="Dropped if the API would refuse it.")
    article_title: str | None = Field(default=None, description="Dropped if the API would refuse it.")
    honeypot: str | None = Field(default=None, description="Left empty by people; a filled one is rejected.")


class WidgetStatus(BaseModel):
    """A comment held for a moderator still reads `pending`."""

    status: Literal["pending", "approved", "rejected", "withdrawn"]


class WidgetWords(BaseModel):
    """The widget's words in the reader's language, and the fields' length limits."""

    lang: str
    words: dict[str, str | list[str]] = Field(description="Each a string, but `months`: the twelve month names.")
    limits: dict[str, int]


SITE_ANSWERS = (SitePolicyView, CallbackView, CallbackChanged, SecretRotated, EventsPage, ReplayOutcome,
                WidgetAccepted, WidgetStatus, WidgetWords)
SITE_REQUESTS = (CommentIn, WidgetCommentIn, CommentEdit, ArticleChange, AuthorRequest, CallbackIn, RotationIn,
                 ReplayIn)
SCHEMAS = (*SITE_REQUESTS, CommentAccepted, CommentView, ArticleView, ThreadPage, AuthorExport, AuthorErased,
           *SITE_ANSWERS, Error, *moderation.REQUESTS, *moderation.ANSWERS)
ERRORS = {
    400: "Malformed JSON body.",
    401: "Missing or invalid site API key.",
    403: "Refused.",
    404: "Unknown comment or site.",
    409: "Conflict.",
    413: "Body too large.",
    415: "Not JSON.",
    422: "Field errors, one message per field.",
    429: "Too many comments (flood limits of the site's policy, per site, IP address and email).",
    503: "Storage unavailable; nothing was saved.",
}
MODERATION_ERRORS = ERRORS | {
    401: "Missing, invalid or revoked moderator token (a site API key is not one).",
    403: "Only an admin may do this.",
    404: "Not found, or of a site the caller may not see (the two are indistinguishable).",
    409: "The rule no longer selects the `expect` comments of its dry run; preview it again.",
}
SUBMISSION_ERRORS = ERRORS | {
    403: "`thread_closed`, `parent_not_approved` (a reply to an unpublished comment) or `author_banned`.",
    409: "`duplicate`: the same author already posted this text to this thread; on an edit, also "
         "`comment_withdrawn`.",
    422: "`invalid_fields`, or `idempotency_key_reused` (the key came with a different comment).",
}
SITE = {"tag": "site", "security": [{"siteKey": []}], "text": SUBMISSION_ERRORS}
WIDGET_ERRORS = SUBMISSION_ERRORS | {
    401: "Missing or invalid publishable key.",
    403: SUBMISSION_ERRORS[403] + " Also: the page's Origin is not allowed, or the key is another site's.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds until the limit lets a comment through.",
                               "schema": {"type": "integer", "minimum": 1}}}
LOCATION = {"Location": {"description": "The comment's URL.", "schema": {"type": "string"}}}


def ref(model) -> dict:
    """A reference to a model's schema (or to a schema by name)."""
    return {"$ref": REF.format(model=getattr(model, "__name__", model))}


def responds(model, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def errors(*statuses: int, text: dict = ERRORS) -> dict:
    answers = {str(status): responds(Error, text[status]) for status in statuses}
    if "429" in answers:
        answers["429"]["headers"] = RETRY_AFTER
    return answers


def build_document() -> dict:
    schemas = {}
    for model in SCHEMAS:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas.update(perspective_schemas())
    bearer = {"type": "http", "scheme": "bearer"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Saring comment moderation API",
            "version": "1",
            "description": "Sites post reader comments; Saring checks them for spam and toxicity and decides.",
        },
        "paths": {**site_paths(), **moderation_paths(), **widget_paths(), **perspective_paths()},
        "tags": [
            {"name": "site", "description": "The site API, for a site's API key."},
            {"name": "moderation", "description": "The moderators' workspace, for moderator API tokens."},
            {"name": "widget", "description": "The embeddable widget's endpoints, for any page (CORS)."},
            {"name": "perspective", "description": "The Perspective-compatible API, for a Perspective API client "
                                                   "(Coral Talk among them) given the endpoint "
                                                   "https://HOST/perspective/v1alpha1 and a site's API key. Its "
                                                   "errors are Google's: {\"error\": {\"code\", \"message\", "
                                                   "\"status\", \"details\"}}."},
        ],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "siteKey": bearer | {"description": "The site's API key."},
                "moderatorToken": bearer | {
                    "description": "A moderator's API token, mt_…, issued by POST /api/v1/moderation/tokens."},
                "publishableKey": {"type": "apiKey", "in": "header", "name": "X-Saring-Key",
                                   "description": "The site's publishable key, pk_…: public (it is in the page); "
                                                  "it posts comments from the site's allowed origins only."},
                "perspectiveKey": {"type": "apiKey", "in": "query", "name": "key",
                                   "description": "The site's API key, in the query string as Perspective's clients "
                                                  "send it (never logged); or as a Bearer header (siteKey)."},
            },
        },
    }


def site_paths() -> dict:
    """The site API, /api/v1, with the site's API key (but the public thread)."""
    comment = path_parameter("comment_id", "A comment's id.")
    article = path_parameter("article_id", "The site's own article id (1-200 characters; percent-encode a slash).")
    key = {"name": "Idempotency-Key", "in": "header", "required": False,
           "description": "1-200 printable ASCII characters, such as a UUID: a retry with the same key and "
                          "comment gets the first answer, and stores nothing new.",
           "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x20-\\x7e]+$"}}
    submit = operation("submitComment", "Submit a comment or reply; it is stored before the 202 is sent.",
                       CommentAccepted, status=202, body=CommentIn, parameters=[key], fails=(400, 403, 409, 413,
                       415, 422, 429), **SITE)
    submit["responses"]["202"]["headers"] = LOCATION
    edit = operation("editComment", "New content: the comment goes back to `pending` and both checks run again "
                     "(409 `comment_withdrawn`, or `duplicate`).", CommentAccepted, status=202, body=CommentEdit,
                     parameters=[comment], fails=(400, 404, 409, 413, 415, 422), **SITE)
    edit["responses"]["202"]["headers"] = LOCATION
    withdraw = operation("withdrawComment", "Withdraw a comment: 204, again for one already withdrawn.", None,
                         status=204, parameters=[comment], fails=(404,), **SITE)
    thread = operation("listThread", "The approved comments of a thread, threaded and paginated (public; any "
                       "origin may read it).", ThreadPage, parameters=[
                           path_parameter("site_slug", "A site's slug."), article,
                           {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                      "maximum": LARGEST_NUMBER, "default": 1}},
                           {"name": "per_page", "in": "query", "description": "At most 100: a larger number reads "
                            "as 100.", "schema": {"type": "integer", "minimum": 1, "default": 50}}],
                       fails=(404, 422), tag="site", security=[], text=ERRORS)
    return {
        "/api/v1/comments": {"post": submit},
        "/api/v1/comments/{comment_id}": {
            "get": operation("getComment", "A comment's status, scores, reasons and model versions (its own site "
                             "only).", CommentView, parameters=[comment], fails=(404,), **SITE),
            "delete": withdraw,
            "patch": edit,
        },
        "/api/v1/articles/{article_id}": {"patch": operation(
            "changeArticle", "Open or close a thread (now, or from `closes_at`), or correct its title and URL.",
            ArticleView, body=ArticleChange, parameters=[article], fails=(400, 415, 422), **SITE)},
        "/api/v1/site/policy": {"get": operation(
            "getOwnPolicy", "The calling site's own policy and its version (admins change it).", SitePolicyView,
            **SITE)},
        "/api/v1/sites/{site_slug}/articles/{article_id}/comments": {"get": thread},
        "/api/v1/authors/export": {"post": operation(
            "exportAuthor", "Everything the site holds for an email address (sent in the body, never the URL; "
            "answered with Cache-Control: no-store).", AuthorExport, body=AuthorRequest, fails=(400, 415, 422),
            **SITE)},
        "/api/v1/authors/erase": {"post": operation(
            "eraseAuthor", "Anonymise or remove an author's comments on this site, per the site policy's `erase`, "
            "and lift the site's bans of the address.", AuthorErased, body=AuthorRequest, fails=(400, 415, 422),
            **SITE)},
        "/api/v1/site/callbacks": {
            "get": operation("getCallback", "The site's callback URL, secrets and delivery counts.", CallbackView,
                             **SITE),
            "put": operation("setCallback", "Set (or, with null, remove) the callback URL; the first URL creates "
                             "the signing secret. Audited.", CallbackChanged, body=CallbackIn, fails=(400, 415, 422),
                             **SITE),
        },
        "/api/v1/site/callbacks/rotate-secret": {"post": operation(
            "rotateCallbackSecret", "A new signing secret; the previous one keeps signing for `overlap_hours`. "
            "Audited.", SecretRotated, body=RotationIn, body_required=False, fails=(400, 415, 422), **SITE)},
        "/api/v1/site/callbacks/events": {"get": operation(
            "listCallbackEvents", "The site's callback events in one delivery state, oldest first.", EventsPage,
            query=EventsQuery, fails=(422,), **SITE)},
        "/api/v1/site/callbacks/events/replay": {"post": operation(
            "replayCallbackEvents", "Send events again: the named ones, or every failed one. Audited.",
            ReplayOutcome, body=ReplayIn, fails=(400, 415, 422), **SITE)},
    }



def widget_paths() -> dict:
    """The widget, /widget/v1: any page may read; a page of an allowed origin may post. The
    POST has a CORS preflight (OPTIONS), answered 204 for the site's allowed origins only."""
    lang = {"name": "lang", "in": "query", "required": False,
            "description": "The reader's language: `id` (the default) or `en`; any other value reads as `id`.",
            "schema": {"type": "string", "default": "id", "examples": ["id", "en"]}}
    widget = {"tag": "widget", "security": [], "text": WIDGET_ERRORS}
    post = operation(
        "postWidgetComment", "A reader's comment from the widget, sent with the site's publishable key from one of "
        "its allowed origins (`Origin`); errors in the reader's language. A CORS preflight (OPTIONS) is answered "
        "for the allowed origins only, with 403 for any other.", WidgetAccepted, status=202, body=WidgetCommentIn,
        parameters=[path_parameter("site_slug", "The site's slug (the publishable key's site)."), lang],
        fails=(400, 401, 403, 409, 413, 415, 422, 429), **widget | {"security": [{"publishableKey": []}]})
    status = operation(
        "getWidgetStatus", "Whether the writer's comment is published yet, for the receipt they were given.",
        WidgetStatus, parameters=[path_parameter("comment_id", "A comment's id."), {
            "name": "receipt", "in": "query", "required": True, "schema": {"type": "string"},
            "description": "The `receipt` of the 202 that accepted the comment."}],
        fails=(404,), **widget | {"text": ERRORS | {404: "No comment with this id and receipt."}})
    return {
        "/widget/v1/sites/{site_slug}/comments": {"post": post},
        "/widget/v1/comments/{comment_id}/status": {"get": status},
        "/widget/v1/words": {"get": operation("getWidgetWords", "The widget's words in the reader's language and "
                                              "the fields' length limits (cached for an hour).", WidgetWords,
                                              parameters=[lang], **widget)},
    }


def moderation_paths() -> dict:
    """The moderator API, /api/v1/moderation: one line per operation."""
    comment = path_parameter("comment_id", "A comment's id.")
    site = path_parameter("slug", "A site's slug.")
    m = moderation
    routes = {
        "/me": {"get": operation("getMe", "The caller: username, role, the sites they may see.", m.Me)},
        "/sites": {"get": operation("listModeratorSites", "The sites the caller may see.", m.Sites)},
        "/queue": {"get": operation("listQueue", "One page of the queue (flagged, oldest first by default), with "
                                    "the count per status.", m.QueuePage, query=m.QueueQuery, fails=(422,))},
        "/comments/{comment_id}": {"get": operation(
            "getModeratedComment", "A comment with its highlighted words, scores, reasons, thread and author.",
            m.ModeratorComment, parameters=[comment], fails=(404,))},
        "/comments/{comment_id}/actions": {"post": operation(
            "actOnComment", "Approve, reject with a reason, mark spam, or ban the author.", m.OutcomeOut,
            body=m.ActionIn, parameters=[comment], fails=(400, 404, 415, 422))},
        "/actions": {"post": operation(
            "actOnSelection", "One action on a selection of comments, as one audited batch.", m.OutcomeOut,
            body=m.SelectionIn, fails=(400, 404, 415, 422))},
        "/rules/preview": {"post": operation(
            "previewRule", "Dry run of a bulk rule: how many comments it selects, and a sample. Changes nothing.",
            m.RulePreview, body=m.RulePreviewIn, fails=(400, 415, 422))},
        "/rules/apply": {"post": operation(
            "applyRule", "Apply an action to what a rule selects, as one audited batch, if the count is unchanged.",
            m.OutcomeOut, body=m.RuleApplyIn, fails=(400, 409, 415, 422))},
        "/audit": {"get": operation("listAuditEvents", "The audit log, newest first, filtered.", m.AuditPage,
                                    query=m.AuditQuery, fails=(422,))},
        "/overturns": {"get": operation("listOverturnRates", "How often moderators overturn the models, per site, "
                                        "check and model version.", m.OverturnRates)},
        "/comments/{comment_id}/reveal-email": {"post": operation(
            "revealEmail", "An author's full email address (admins only; audited).", m.RevealedEmail,
            parameters=[comment], fails=(403, 404))},
        "/tokens": {
            "get": operation("listTokens", "The caller's API tokens (never the secret).", m.Tokens),
            "post": operation("createToken", "A new API token for the caller, shown once.", m.TokenIssued, status=201,
                              body=m.TokenIn, body_required=False, fails=(400, 415, 422)),
        },
        "/tokens/{prefix}": {"delete": operation(
            "revokeToken", "Revoke one of the caller's own tokens.", m.TokenOut,
            parameters=[path_parameter("prefix", "The token's public prefix (the 12 hex digits after mt_).")],
            fails=(404,))},
        "/moderators": {
            "get": operation("listModerators", "Every moderator (admins only).", m.Moderators, fails=(403,)),
            "post": operation("createModerator", "Create a moderator (admins only; audited).", m.ModeratorOut,
                              status=201, body=m.ModeratorIn, fails=(400, 403, 415, 422)),
        },
        "/moderators/{username}": {"patch": operation(
            "changeModerator", "Change a moderator's role, sites, state or password (admins only; audited).",
            m.ModeratorOut, body=m.ModeratorChange, parameters=[path_parameter("username", "A moderator's username.")],
            fails=(400, 403, 404, 415, 422))},
        "/sites/{slug}/policy": {
            "get": operation("getSitePolicy", "A site's policy (admins only): the current version or, with "
                             "`version`, an earlier one; with the defaults a blank field stands for.",
                             m.SitePolicyOut, parameters=[site], query=m.PolicyQuery, fails=(403, 404, 422)),
            "put": operation("setSitePolicy", "Replace a site's policy (admins only): validated, stored as a new "
                             "version and audited; the same policy again changes nothing.", m.SitePolicyOut,
                             body=m.Policy, parameters=[site], fails=(400, 403, 404, 415, 422)),
        },
        "/sites/{slug}/policy/versions": {"get": operation(
            "listSitePolicyVersions", "Every version of a site's policy: who saved it, when, what it changed "
            "(admins only).", m.PolicyVersions, parameters=[site], fails=(403, 404))},
    }
    return {f"/api/v1/moderation{path}": item for path, item in routes.items()}


# -- the Perspective-compatible API: Perspective's own messages, as far as Saring reads them ------

PERSPECTIVE_ERROR = "PerspectiveError"
PERSPECTIVE_SECURITY = [{"perspectiveKey": []}, {"siteKey": []}]
PERSPECTIVE_ERRORS = {
    400: "INVALID_ARGUMENT: an invalid API key, a body that is not a JSON object, a field of the wrong type, a blank "
         "or too long text (errorType COMMENT_EMPTY, COMMENT_TOO_LONG), no or an unknown attribute, or an attribute "
         "or language Saring does not score (LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE).",
    403: "PERMISSION_DENIED: no API key (`?key=` or a Bearer header).",
    413: "INVALID_ARGUMENT: the body is too large.",
    429: "RESOURCE_EXHAUSTED: over the site's analyze requests a minute (its policy's `perspective.quota_per_minute`).",
    503: "UNAVAILABLE: no toxicity worker is running, none scored the text within the site's time budget (its "
         "policy's `perspective.time_budget_ms`), or storage or the job queue is down. Retry later.",
}
SUGGESTION_ERRORS = PERSPECTIVE_ERRORS | {
    400: "INVALID_ARGUMENT: an invalid API key, a body that is not a JSON object, a field of the wrong type, a blank "
         "or too long text, no suggested score, or an attribute Saring does not score.",
    503: "UNAVAILABLE: storage is down; nothing was saved. Retry later.",
}
PERSPECTIVE_RETRY = {"Retry-After": {"description": "Seconds to wait: until the next minute (429); while storage is "
                                                    "down (503, then only).",
                                     "schema": {"type": "integer", "minimum": 1}}}


def perspective_schemas() -> dict:
    """Perspective's messages under the names of its v1alpha1 API, with what Saring reads of
    each request (a field left out here is ignored) and all it answers."""
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    optional_string = {"type": ["string", "null"]}
    language = {"type": "array", "items": {"enum": list(SUPPORTED)}, "minItems": 1, "maxItems": 1}
    attributes = {"type": "object", "minProperties": 1, "additionalProperties": False,
                  "description": "Perspective's attributes Saring scores, each the highest of the toxicity model's "
                                 "outputs: " + "; ".join(f"{name}: {', '.join(outputs)}"
                                                         for name, outputs in ATTRIBUTES.items())
                                 + ". Any other (THREAT, SEXUALLY_EXPLICIT, ...) is a 400."}
    detail = {"type": "object", "required": ["@type", "errorType"], "properties": {
        "@type": {"const": PERSPECTIVE_DETAIL},
        "errorType": {"type": "string", "examples": ["COMMENT_EMPTY", "COMMENT_TOO_LONG",
                                                     "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"]}}}
    error = {"type": "object", "required": ["code", "message", "status"], "properties": {
        "code": {"type": "integer", "description": "The HTTP status."},
        "message": {"type": "string"},
        "status": {"type": "string", "enum": sorted({*GOOGLE_STATUS.values(), "UNKNOWN"})},
        "details": {"type": "array", "items": detail, "description": "Perspective's own errorType, where it has one."}}}
    return {
        "TextEntry": {"type": "object", "required": ["text"], "properties": {"text": {
            "type": "string", "minLength": 1, "maxLength": MAX_TEXT_BYTES, "pattern": "\\S",
            "description": f"The comment: not blank, at most {MAX_TEXT_BYTES} bytes of UTF-8. Never stored."}}},
        "AttributeParameters": {"type": "object", "properties": {
            "scoreType": {"const": "PROBABILITY", "description": "The only kind of score."},
            "scoreThreshold": probability | {"type": ["number", "null"],
                                             "description": "Leave the attribute out below this score."}}},
        "AnalyzeCommentRequest": {"type": "object", "required": ["comment", "requestedAttributes"], "properties": {
            "comment": ref("TextEntry"),
            "requestedAttributes": attributes | {"properties": dict.fromkeys(ATTRIBUTES, ref("AttributeParameters"))},
            "languages": {"type": ["array", "null"], "items": {"type": "string"}, "description": (
                "A hint only: the text's language is detected (Indonesian or English) and reported. A language "
                "other than id (or in) and en, with any region, is a 400 LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE.")},
            "spanAnnotations": {"type": "boolean", "description": "Score each sentence too (`spanScores`); "
                                                                   "otherwise the one span is the whole text."},
            "doNotStore": {"type": "boolean", "description": "Coral Talk sends true. Either way Saring keeps no "
                                                             "analyzed text: not in the database, not in Redis once "
                                                             "the score is read, not in any log."},
            "clientToken": optional_string | {"description": "Echoed back."},
        }},
        "Score": {"type": "object", "required": ["value", "type"],
                  "properties": {"value": probability, "type": {"const": "PROBABILITY"}}},
        "SpanScore": {"type": "object", "required": ["begin", "end", "score"], "properties": {
            "begin": {"type": "integer", "minimum": 0, "description": "The span's first character (a code point)."},
            "end": {"type": "integer", "minimum": 0, "description": "The character after the span's last."},
            "score": ref("Score")}},
        "AttributeScores": {"type": "object", "required": ["summaryScore", "spanScores"], "properties": {
            "summaryScore": ref("Score"), "spanScores": {"type": "array", "items": ref("SpanScore")}}},
        "AnalyzeCommentResponse": {
            "type": "object", "required": ["attributeScores", "languages", "detectedLanguages"],
            "description": "The scores of the requested attributes (one below its scoreThreshold left out).",
            "properties": {
                "attributeScores": {"type": "object", "propertyNames": {"enum": list(ATTRIBUTES)},
                                    "additionalProperties": ref("AttributeScores")},
                "languages": language | {"description": "The language detected in the text (not the hint)."},
                "detectedLanguages": language,
                "clientToken": {"type": "string"},
            }},
        "SuggestedScore": {"type": "object", "required": ["summaryScore"], "properties": {
            "summaryScore": {"type": "object", "required": ["value"], "properties": {"value": probability | {
                "description": "0: acceptable, 1: toxic (0.5 or more labels the text toxic)."}}}}},
        "SuggestCommentScoreRequest": {"type": "object", "required": ["comment", "attributeScores"], "properties": {
            "comment": ref("TextEntry"),
            "attributeScores": attributes | {"properties": dict.fromkeys(ATTRIBUTES, ref("SuggestedScore")),
                                             "description": "The score a moderator's decision suggests; stored as "
                                                            "a training label of the site (TOXICITY and "
                                                            "SEVERE_TOXICITY label the toxicity model)."},
            "context": {"description": "Coral Talk's: {\"entries\": [{\"text\": JSON naming the comment's "
                                       "`url` and `Coral_comment_id`}]}. A later suggestion for the same comment "
                                       "id replaces the earlier one."},
            "languages": {"description": "Ignored."},
            "communityId": optional_string | {"description": f"Stored with the label (its first {MAX_TOKEN} "
                                                             "characters)."},
            "clientToken": optional_string | {"description": "Echoed back."},
        }},
        "SuggestCommentScoreResponse": {"type": "object", "properties": {"clientToken": {"type": "string"}},
                                        "description": "Stored."},
        PERSPECTIVE_ERROR: {"type": "object", "required": ["error"], "properties": {"error": error},
                            "description": "Google's error shape."},
    }


def perspective_paths() -> dict:
    """/perspective/v1alpha1, Perspective's two methods of comments (a colon in the path, as
    Google spells its custom methods)."""
    analyze = perspective_operation(
        "analyzeComment", "Score a text for the requested attributes with the toxicity model (a job on the toxicity "
        "queue, answered within the site's time budget), as Perspective's comments:analyze does.",
        "AnalyzeCommentRequest", "AnalyzeCommentResponse", (400, 403, 413, 429, 503), PERSPECTIVE_ERRORS)
    suggest = perspective_operation(
        "suggestCommentScore", "Store the score a client suggests for a text (Coral Talk: 0 when a moderator "
        "approves a comment, 1 when one rejects it) as a training label of the site.",
        "SuggestCommentScoreRequest", "SuggestCommentScoreResponse", (400, 403, 413, 503), SUGGESTION_ERRORS)
    return {"/perspective/v1alpha1/comments:analyze": {"post": analyze},
            "/perspective/v1alpha1/comments:suggestscore": {"post": suggest}}


def perspective_operation(operation_id: str, summary: str, body: str, answer: str, fails: tuple[int, ...],
                          text: dict) -> dict:
    """An operation of the Perspective-compatible API: a site key (?key= or Bearer), errors
    in Google's shape, and no 401 (Perspective's clients expect 400 for a bad key, 403 for none)."""
    responses = {"200": {"description": summary, "content": {"application/json": {"schema": ref(answer)}}}}
    for status in fails:
        responses[str(status)] = {"description": text[status],
                                  "content": {"application/json": {"schema": ref(PERSPECTIVE_ERROR)}}}
        if status in (429, 503):
            responses[str(status)]["headers"] = PERSPECTIVE_RETRY
    return {"operationId": operation_id, "summary": summary, "tags": ["perspective"],
            "security": PERSPECTIVE_SECURITY, "parameters": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref(body)}}},
            "responses": responses}


def operation(operation_id: str, summary: str, answer, *, status: int = 200, body=None, body_required: bool = True,
              query=None, parameters: list[dict] = (), fails: tuple[int, ...] = (), tag: str = "moderation",
              security: list[dict] = ({"moderatorToken": []},), text: dict = MODERATION_ERRORS) -> dict:
    """One operation: tagged, authenticated by `security` (none: public), answering `answer`
    (None: no content) or one of the errors in `fails`; every one may also be 503, and 401
    if it needs a credential."""
    found = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": list(security),
        "parameters": [*parameters, *(query_parameters(query) if query else [])],
        "responses": {
            str(status): responds(answer, answer.__doc__ or summary) if answer else {"description": summary},
            **errors(*sorted({*((401,) if security else ()), 503, *fails}), text=text),
        },
    }
    if body is not None:
        found["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": ref(body)}}}
    return found


def path_parameter(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def query_parameters(model) -> list[dict]:
    """A model of query arguments as OpenAPI parameters: each optional, absent (or empty, as an
    HTML form sends a blank field) meaning null."""
    parameters = []
    for name, schema in model.model_json_schema(ref_template=REF)["properties"].items():
        schema = {key: value for key, value in schema.items() if key != "title"}
        schema.update(next((s for s in schema.pop("anyOf", []) if s.get("type") != "null"), {}))
        if "default" in schema and schema["default"] is None:
            del schema["default"]
        description = schema.pop("description", None)
        parameters.append({"name": name, "in": "query", "required": False, "allowEmptyValue": True, "schema": schema,
                           **({"description": description} if description else {})})
    return parameters


@bp.get("/api/v1/openapi.json")
def serve_document():
    return jsonify(build_document())

