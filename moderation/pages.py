"""The demo article page: a news article, its approved comments and the reply form, which
posts to Saring itself (the site is known from the URL; no API key reaches the browser).
A reader's own comments that are not yet published are shown to that browser only."""
import re

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask import session as reader_session
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from pydantic import ValidationError
from sqlalchemy import select

from . import db
from .api import accept_submission
from .comments import list_thread
from .demo import find_demo_article
from .errors import ApiError, InvalidFields
from .forms import ReplyForm
from .i18n import DEFAULT_LANGUAGE, STRINGS, format_day, format_when, pick_language
from .schemas import LIMITS, CommentIn, can_store, field_errors, ip_address
from .sites import SLUG_PATTERN, SiteRef, find_site
from .tables import Article, Comment, Site

bp = Blueprint("pages", __name__)

ARTICLE_PATH = "/sites/<site_slug>/articles/<article_id>"
PER_PAGE = 50
LAST_PAGE = 10_000
KEPT_COMMENTS = 10  # how many of a reader's recent comments the session remembers
LINK = re.compile(r"https?://(?:[^\s&<>\"']|&amp;)+", re.IGNORECASE)  # in escaped text
WEB_LINK = re.compile(r"^https?://", re.IGNORECASE)
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@bp.get(ARTICLE_PATH)
def show_article(site_slug: str, article_id: str):
    site = find_page_site(site_slug, article_id)
    if site is None:
        return render_template("404.html"), 404
    form = ReplyForm(lang=reader_language(), parent_id=request.args.get("reply_to", ""))
    return render_article(site, article_id, form)


@bp.post(ARTICLE_PATH)
def post_reply(site_slug: str, article_id: str):
    site = find_page_site(site_slug, article_id)
    if site is None:
        return render_template("404.html"), 404
    form = ReplyForm(lang=reader_language())
    comment_id = save_reply(site, article_id, form) if form.validate_on_submit() else None
    if comment_id is None:
        return render_article(site, article_id, form)
    remember_comment(comment_id)
    anchor = f"comment-{comment_id}"
    page = url_for(".show_article", site_slug=site.slug, article_id=article_id, lang=language_arg(), _anchor=anchor)
    return redirect(page, 303)


@bp.get(ARTICLE_PATH + "/checking")
def count_checking(site_slug: str, article_id: str):
    """How many of this reader's comments on the article are still being checked; the
    page's script polls it."""
    session = db.session()
    site = find_page_site(site_slug, article_id)
    article = find_article(session, site, article_id) if site else None
    mine = find_my_comments(session, article) if article else []
    return jsonify(checking=sum(comment.status == "pending" for comment in mine))


@bp.errorhandler(CSRFError)
def refuse_unprotected_post(error: CSRFError):
    """A post without a valid CSRF token saves nothing; a reader whose form went stale gets
    it back, filled in, to send again."""
    site = find_page_site(request.view_args["site_slug"], request.view_args["article_id"])
    if site is None:
        return error
    form = ReplyForm(lang=reader_language())
    form.add_error("form", form.words["form_expired"])
    return render_article(site, request.view_args["article_id"], form), 400


@bp.context_processor
def add_language():
    lang = reader_language()
    other = STRINGS[lang]["other_language_code"]
    args = {**request.args.to_dict(), "lang": None if other == DEFAULT_LANGUAGE else other}
    return {
        "lang": lang,
        "lang_arg": language_arg(),
        "t": STRINGS[lang],
        "switch_url": url_for(request.endpoint, **request.view_args, **args),
    }


@bp.after_request
def protect_page(response):
    """Defence in depth for pages that show readers' text: only Saring's own files may load
    or run, and no shared cache keeps a reader's pending comments or CSRF token."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "private, no-cache")
    return response


@bp.app_template_filter("linkify")
def linkify(text: str) -> Markup:
    """Plain text as HTML: escaped first, then its http(s) links made clickable (nofollow,
    ugc) and its line breaks kept."""
    escaped = str(escape(text)).replace("\r\n", "\n").replace("\r", "\n")
    return Markup(LINK.sub(make_link, escaped).replace("\n", "<br>\n"))


def make_link(match: re.Match) -> str:
    url = match.group(0).rstrip(".,;:!?")
    if url.endswith(")") and "(" not in url:
        url = url[:-1]
    trailing = match.group(0)[len(url):]
    return f'<a href="{url}" rel="nofollow ugc noopener">{url}</a>{trailing}'


@bp.app_template_test("web_link")
def is_web_link(value) -> bool:
    return isinstance(value, str) and bool(WEB_LINK.match(value))


bp.add_app_template_filter(format_when, "when")
bp.add_app_template_filter(format_day, "day")


def reader_language() -> str:
    return pick_language(request.args.get("lang"))


def language_arg() -> str | None:
    """The `lang` query argument that keeps the reader's language (none for the default)."""
    lang = reader_language()
    return None if lang == DEFAULT_LANGUAGE else lang


def find_page_site(site_slug: str, article_id: str) -> Site | None:
    """The site of an article page, or None when there is no such page."""
    if not SLUG_PATTERN.match(site_slug) or not can_store(article_id, "article_id"):
        return None
    return find_site(db.session(), site_slug)


def find_article(session, site: Site, article_id: str) -> Article | None:
    return session.scalar(select(Article).where(Article.site_id == site.id, Article.external_id == article_id))


def find_my_comments(session, article: Article) -> list[Comment]:
    """This browser's own comments on the article that are not (yet) published."""
    ids = reader_session.get("my_comments", [])
    if not ids:
        return []
    return session.scalars(
        select(Comment)
        .where(Comment.public_id.in_(ids), Comment.article_id == article.id, Comment.status != "approved")
        .order_by(Comment.created_at, Comment.id)
    ).all()


def remember_comment(public_id: str) -> None:
    reader_session["my_comments"] = [*reader_session.get("my_comments", []), public_id][-KEPT_COMMENTS:]


def save_reply(site: Site, article_id: str, form: ReplyForm) -> str | None:
    """Store the reply exactly as the JSON API would and enqueue its checks; returns its id,
    or None with the error put on the form."""
    demo = find_demo_article(article_id)
    try:
        data = CommentIn(
            article_id=article_id,
            author_name=form.author_name.data,
            author_email=form.author_email.data,
            author_url=form.author_url.data or None,
            content=form.content.data,
            parent_id=form.parent_id.data or None,
            article_title=demo.title if demo else None,
            article_url=demo.url if demo else None,
            user_ip=client_ip(),
            user_agent=clip(request.headers.get("User-Agent"), "user_agent"),
            referrer=clip(request.headers.get("Referer"), "referrer"),
            honeypot=clip(form.website_url_confirm.data, "honeypot"),
        )
        return accept_reply(SiteRef(site.id, site.slug), data)
    except ValidationError as error:
        show_errors(form, field_errors(error))
    except InvalidFields as error:
        show_errors(form, error.fields)
    except ApiError as error:
        message, fields = form.explain_refusal(error)
        for name, problem in (fields or {"form": message}).items():
            form.add_error(name, problem)
    return None


def accept_reply(site: SiteRef, data: CommentIn) -> str:
    """A reader's comment (the article page's, the widget's) through the API's own submission
    path; returns its id, or raises the API's errors."""
    return accept_submission(site, data).id


def client_ip() -> str | None:
    """The reader's address, if the server gave one the schema accepts (a unix socket
    gives none): browser context must never refuse a comment."""
    try:
        return ip_address(request.remote_addr)
    except ValueError:
        return None


def clip(value: str | None, name: str) -> str | None:
    """Browser context is kept up to the stored length only."""
    return value[: LIMITS[name]] if value else None


def show_errors(form: ReplyForm, errors: dict[str, str]) -> None:
    """Errors found by the schema or the store: the API's English words on the English page,
    an Indonesian summary on the Indonesian one."""
    for name, message in errors.items():
        form.add_error(name, form.explain(name, message))


def render_article(site: Site, article_id: str, form: ReplyForm):
    session = db.session()
    page = min(max(request.args.get("page", 1, type=int), 1), LAST_PAGE)
    article = find_article(session, site, article_id)
    demo = find_demo_article(article_id)
    thread, total = list_thread(session, site.id, article_id, page, PER_PAGE)
    mine = find_my_comments(session, article) if article else []
    replying_to = find_reply_parent(session, article, form.parent_id.data)
    if replying_to is None:
        form.parent_id.data = ""
    return render_template(
        "article.html",
        site=site,
        article_id=article_id,
        demo=demo,
        title=demo.title if demo else (article.title if article and article.title else None),
        thread=thread,
        mine=place_my_comments(thread, mine),
        checking=sum(comment.status == "pending" for comment in mine),
        page=page,
        has_newer=page * PER_PAGE < total,
        form=form,
        replying_to=replying_to,
    )


def find_reply_parent(session, article: Article | None, public_id: str | None) -> Comment | None:
    """The approved comment of this article that the reader is replying to, if any."""
    if not article or not public_id or not can_store(public_id, "parent_id"):
        return None
    return session.scalar(
        select(Comment).where(
            Comment.public_id == public_id, Comment.article_id == article.id, Comment.status == "approved"
        )
    )


def place_my_comments(thread: list, mine: list[Comment]) -> dict:
    """The reader's unpublished comments keyed by the row id of the shown comment each
    replies to; None keys those listed after the thread."""
    shown, stack = set(), list(thread)
    while stack:
        comment, replies = stack.pop()
        shown.add(comment.id)
        stack.extend(replies)
    placed: dict = {}
    for comment in mine:
        placed.setdefault(comment.parent_id if comment.parent_id in shown else None, []).append(comment)
    return placed
