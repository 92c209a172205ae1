"""The embeddable comment widget's endpoints (/widget/v1) and its iframe page (/embed).

A news site drops a script tag (static/widget.js, see `widget_snippet`) into its own page.
The script reads the public thread (the API's, opened to every origin here), posts
comments here with the site's publishable key from an origin the site allows, and follows
the writer's own comment with a receipt only the writer holds.

The publishable key is public by design (it is in the page): from an allowed origin it can
post a comment, and it can do nothing else. A script outside a browser can forge `Origin`,
as it can fill in any form: flood limits, the honeypot and the checks deal with it."""
import base64
import hashlib
import hmac

from flask import Blueprint, current_app, g, jsonify, make_response, render_template, request, url_for
from markupsafe import Markup, escape
from pydantic import ValidationError
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from . import db
from .api import read_json_object
from .errors import ApiError, CommentNotFound, Forbidden, InvalidFields, RateLimited, render_error
from .forms import ReplyForm
from .i18n import STRINGS, pick_language
from .pages import accept_reply, client_ip, clip
from .schemas import LIMITS, CommentIn, can_store, field_errors, web_url
from .sites import SLUG_PATTERN, find_site, normalize_origin, publishable_site, site_allows_origin
from .tables import Comment

bp = Blueprint("widget", __name__)

POST_PATH = "/widget/v1/sites/<site_slug>/comments"
FORM_FIELDS = ("content", "author_name", "author_email", "author_url", "parent_id")
PAGE_FIELDS = ("article_id", "article_url", "article_title", "honeypot")  # the page's details, the honeypot
LIMITED_FIELDS = ("content", "author_name", "author_email", "author_url")
WORDS = (
    "comments", "no_comments", "newer_comments", "reply", "awaiting", "not_published", "leave_reply", "reply_to",
    "cancel_reply", "privacy_note", "content", "author_name", "author_email", "author_url", "submit", "sending",
    "form_has_errors", "not_sent", "load_failed", "leave_empty", "moderated_by", "at", "months", "time_separator",
)
# What the writer may learn of their comment: held for a moderator is still "awaiting".
PUBLIC_STATUS = {"pending": "pending", "flagged": "pending", "approved": "approved", "rejected": "rejected",
                 "withdrawn": "withdrawn"}
EMBED_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                "form-action 'none'; base-uri 'none'; frame-ancestors 'self'")


@bp.route(POST_PATH, methods=["OPTIONS"])
def allow_post(site_slug: str):
    """The CORS preflight: answered for the site's allowed origins only."""
    origin = request.headers.get("Origin")
    site = find_site(db.session(), site_slug) if SLUG_PATTERN.match(site_slug) else None
    if site is None or not site_allows_origin(site, origin):
        raise Forbidden("This page's origin may not post to this site.")
    g.cors_origin = normalize_origin(origin)
    response = current_app.response_class(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Saring-Key"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.post(POST_PATH, provide_automatic_options=False)
def post_comment(site_slug: str):
    """A reader's comment from the widget: the API's submission, with the context (address,
    user agent, referrer) taken from the request and errors in the reader's language."""
    site = publishable_site(db.session(), request.headers.get("X-Saring-Key"), request.headers.get("Origin"),
                            trusted=(normalize_origin(request.host_url),))
    if site.slug != site_slug:
        raise Forbidden("This publishable key belongs to another site.")
    g.cors_origin = normalize_origin(request.headers["Origin"])
    form = ReplyForm(lang=pick_language(request.args.get("lang")), formdata=None, meta={"csrf": False})
    data = read_comment(read_json_object(), form)
    try:
        comment_id = accept_reply(site, data)
    except InvalidFields as error:
        raise refuse(form, error.fields) from None
    except ApiError as error:
        return relay(error, form)
    return jsonify(id=comment_id, status="pending", receipt=receipt_for(comment_id)), 202


@bp.get("/widget/v1/comments/<comment_id>/status")
def show_status(comment_id: str):
    """Whether the writer's comment is published yet: only for the receipt they were given."""
    g.cors_origin = "*"
    receipt = request.args.get("receipt", "").encode("utf-8", "replace")
    status = None
    if can_store(comment_id, "parent_id") and hmac.compare_digest(receipt_for(comment_id).encode(), receipt):
        status = db.session().scalar(select(Comment.status).where(Comment.public_id == comment_id))
    if status is None:
        raise CommentNotFound("No comment with this id and receipt.")
    return jsonify(status=PUBLIC_STATUS.get(status, "pending"))


@bp.get("/widget/v1/words")
def show_words():
    """The widget's words in the reader's language, and the fields' length limits."""
    g.cors_origin = "*"
    lang = pick_language(request.args.get("lang"))
    response = jsonify(lang=lang, words={name: STRINGS[lang][name] for name in WORDS},
                       limits={name: LIMITS[name] for name in LIMITED_FIELDS})
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/embed/<site_slug>/<article:article_id>")
def show_embed(site_slug: str, article_id: str):
    """The widget on a page of its own, for a site that prefers an iframe: framed only by
    the site's allowed origins."""
    lang = pick_language(request.args.get("lang"))
    site = find_site(db.session(), site_slug) if SLUG_PATTERN.match(site_slug) else None
    if site is None or not site.publishable_key or not can_store(article_id, "article_id"):
        switch = url_for(".show_embed", site_slug=site_slug, article_id=article_id,
                         lang=STRINGS[lang]["other_language_code"])
        return render_template("404.html", lang=lang, t=STRINGS[lang], switch_url=switch), 404
    snippet = widget_snippet(request.host_url, site.slug, article_id, site.publishable_key, lang,
                             article_url=page_detail(request.args.get("url"), "article_url"), embedded=True)
    response = make_response(render_template("embed.html", site=site, lang=lang, t=STRINGS[lang], snippet=snippet))
    ancestors = " ".join(site.allowed_origins or [])
    response.headers["Content-Security-Policy"] = f"{EMBED_POLICY} {ancestors}".strip()
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


@bp.errorhandler(HTTPException)
def refuse_in_json(error: HTTPException):
    code = (error.name or "error").lower().replace(" ", "_")
    return render_error(error.code or 500, code, error.description or error.name)


@bp.after_request
def add_cors_headers(response):
    """Every widget answer may differ by Origin; a verified origin (or any, for the public
    reads) may read it."""
    if g.get("cors_origin"):
        response.headers["Access-Control-Allow-Origin"] = g.cors_origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.vary.add("Origin")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.after_app_request
def open_public_thread(response):
    """The API's public thread holds nothing private: any page's script may read it."""
    if request.endpoint == "api.show_thread":
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def read_comment(body: dict, form: ReplyForm) -> CommentIn:
    """The comment in a widget's body, checked by the article page's form (the same words)
    and then by the API's schema; refused with every field's error."""
    errors = {name: form.words["invalid_value"] for name, value in body.items()
              if name not in FORM_FIELDS + PAGE_FIELDS or (value is not None and not isinstance(value, str))}
    form.process(MultiDict({name: body[name] for name in FORM_FIELDS if isinstance(body.get(name), str)}))
    if not form.validate() or errors:
        raise refuse(form, errors)
    try:
        return CommentIn(
            article_id=body.get("article_id"),
            author_name=form.author_name.data,
            author_email=form.author_email.data,
            author_url=form.author_url.data or None,
            content=form.content.data,
            parent_id=form.parent_id.data or None,
            article_url=page_detail(body.get("article_url"), "article_url"),
            article_title=page_detail(body.get("article_title"), "article_title"),
            user_ip=client_ip(),
            user_agent=clip(request.headers.get("User-Agent"), "user_agent"),
            referrer=clip(request.headers.get("Referer") or request.headers.get("Origin"), "referrer"),
            honeypot=clip(body.get("honeypot"), "honeypot"),
        )
    except ValidationError as error:
        raise refuse(form, field_errors(error)) from None


def refuse(form: ReplyForm, errors: dict[str, str]) -> InvalidFields:
    """A 422 in the API's shape, each message in the reader's language."""
    fields = {field.name: field.errors[0] for field in form if field.errors}
    fields.update({name: form.explain(name, message) for name, message in errors.items()})
    return InvalidFields(form.words["form_has_errors"], fields)


def relay(error: ApiError, form: ReplyForm):
    """A refusal of the submission path (flood limit, duplicate, closed thread, …) in the
    API's shape, in the reader's language."""
    message, fields = form.explain_refusal(error)
    response = render_error(error.status, error.code, message, fields)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def receipt_for(comment_id: str) -> str:
    """The writer's proof that a comment is theirs (a keyed MAC of its id): it lets the
    widget ask for the comment's status and nothing else."""
    key = current_app.config["SECRET_KEY"].encode()
    mac = hmac.new(key, b"saring-widget-receipt\0" + comment_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def page_detail(value, name: str) -> str | None:
    """What the script read from the page (its address, its title): kept when the API would
    take it, else dropped, since the reader cannot fix it."""
    if not isinstance(value, str) or not value.strip() or not can_store(value, name):
        return None
    try:
        return web_url(value) if name == "article_url" else value
    except ValueError:
        return None


def widget_snippet(saring_url: str, site_slug: str, article_id: str, key: str, lang: str = "id", *,
                   article_url: str | None = None, embedded: bool = False) -> Markup:
    """The HTML a news site pastes where the comments go."""
    attributes = {"src": saring_url.rstrip("/") + "/static/widget.js", "data-site": site_slug,
                  "data-article": article_id, "data-key": key, "data-lang": lang, "data-article-url": article_url,
                  "data-embedded": "" if embedded else None}
    tag = " ".join(f'{name}="{escape(value)}"' for name, value in attributes.items() if value is not None)
    return Markup(f'<div id="saring-comments"></div>\n<script {tag} async></script>')

