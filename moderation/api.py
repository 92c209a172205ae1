"""The site-facing JSON API, /api/v1."""
import json
from urllib.parse import quote

from flask import Blueprint, current_app, jsonify, request, url_for
from pydantic import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from . import db
from .articles import describe_article, set_article
from .audit import record_event
from .comments import edit_comment, get_comment, list_thread, withdraw_comment
from .db import transaction
from .errors import InvalidFields, MalformedBody, SiteNotFound, UnsupportedMediaType
from .limits import FloodLimiter
from .policy import Policy, site_policy
from .privacy import mask_email
from .schemas import (
    LARGEST_NUMBER, ArticleChange, CommentEdit, CommentIn, can_store, field_errors, idempotency_key,
)
from .sites import SLUG_PATTERN, SiteRef, authenticated_site, find_site
from .submissions import Accepted, accept_comment, find_replay, identify_author, read_policy, reject_honeypot
from .tables import CHECKS, Comment, Site

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PER_PAGE = 100


@bp.post("/comments")
def post_comment():
    site = authenticated_site(db.session())
    key = read_idempotency_key()
    accepted = accept_submission(site, parse_comment(read_json_object()), key)
    return accepted_response(site, accepted.article_id, accepted.id)


def accept_submission(site: SiteRef, data: CommentIn, key: str | None = None) -> Accepted:
    """Every submission's path (this API, the article page, the widget): an Idempotency-Key
    replay first (it gets its first answer even where the limits would refuse it now), the
    flood limits (one Redis round trip), then the thread, parent, ban and duplicate checks,
    which ride on the INSERT that stores the comment; a filled honeypot is rejected at once,
    any other comment has its checks enqueued. Raises the API's errors."""
    engine, extensions = db.engine(), current_app.extensions
    author = identify_author(extensions["vault"], data)
    if key is not None:
        with engine.connect() as connection:
            replay = find_replay(connection, site, key, data, author)
        if replay is not None:
            return replay
    policy = read_cached_policy(site.id)
    flood_limiter().check(site.id, policy.flood, author)
    accepted = accept_comment(engine, site, data, extensions["vault"], extensions.setdefault("articles", {}),
                              policy=policy, author=author, idempotency_key=key)
    if accepted.replayed:  # a racing retry with the same key
        return accepted
    if data.honeypot and data.honeypot.strip():
        with transaction(extensions["sessions"]) as session:
            reject_honeypot(session, accepted.id)
    else:
        extensions["checks"].try_enqueue(accepted.id)
    return accepted


def accepted_response(site: SiteRef, article_id: str, comment_id: str):
    """202 {id, status, links}: serialised directly, at a quarter of jsonify's cost."""
    links = comment_links(site.slug, article_id, comment_id)
    body = json.dumps({"id": comment_id, "status": "pending", "links": links}, separators=(",", ":"))
    return current_app.response_class(body, 202, {"Location": links["self"]}, mimetype="application/json")


@bp.get("/comments/<comment_id>")
def show_comment(comment_id: str):
    session = db.session()
    site = authenticated_site(session)
    comment = get_comment(session, site, comment_id)
    return jsonify(describe_comment(comment))


@bp.delete("/comments/<comment_id>")
def delete_comment(comment_id: str):
    """Withdraw a comment: 204, and 204 again for one already withdrawn (DELETE is idempotent)."""
    site = authenticated_site(db.session())
    with transaction(current_app.extensions["sessions"]) as session:
        withdraw_comment(session, site, comment_id)
    return "", 204


@bp.patch("/comments/<comment_id>")
def patch_comment(comment_id: str):
    """New content: back to `pending`, both checks run again; answers like a new comment."""
    site = authenticated_site(db.session())
    try:
        edit = CommentEdit.model_validate(read_json_object())
    except ValidationError as error:
        raise InvalidFields("The edit has field errors.", field_errors(error)) from None
    with transaction(current_app.extensions["sessions"]) as session:
        comment = edit_comment(session, site, comment_id, edit.content)
        article_id = comment.article.external_id
    current_app.extensions["checks"].requeue(comment.public_id)
    return accepted_response(site, article_id, comment.public_id)


@bp.patch("/articles/<article:article_id>")
def change_article(article_id: str):
    """Open or close a thread (now, or from `closes_at`), or correct its title and URL."""
    site = authenticated_site(db.session())
    if not can_store(article_id, "article_id"):
        raise InvalidFields("Bad article id.", {"article_id": "At most 200 printable characters."})
    try:
        change = ArticleChange.model_validate(read_json_object())
    except ValidationError as error:
        raise InvalidFields("The article has field errors.", field_errors(error)) from None
    with transaction(current_app.extensions["sessions"]) as session:
        article = set_article(session, site, article_id, change.model_dump(exclude_unset=True))
        record_event(session, "article_changed", "site", site_id=site.id,
                     details={"article_id": article_id, **change.model_dump(exclude_unset=True)})
        return jsonify(describe_article(article))


@bp.get("/site/policy")
def show_site_policy():
    """The calling site's own policy and its version (admins change it)."""
    session = db.session()
    site = session.get(Site, authenticated_site(session).id)
    return jsonify(site=site.slug, version=site.policy_version, policy=site_policy(site).model_dump(mode="json"))


@bp.get("/sites/<site_slug>/articles/<article:article_id>/comments")
def show_thread(site_slug: str, article_id: str):
    session = db.session()
    page = positive_int("page", 1)
    per_page = min(positive_int("per_page", 50), MAX_PER_PAGE)
    site = find_site(session, site_slug) if SLUG_PATTERN.match(site_slug) else None
    if site is None:
        raise SiteNotFound(f"No site {site_slug!r}.")
    stored = can_store(article_id, "article_id")
    comments, total = list_thread(session, site.id, article_id, page, per_page) if stored else ([], 0)
    more = page * per_page < total
    return jsonify(
        site=site_slug,
        article_id=article_id,
        comments=[public_comment(comment, replies) for comment, replies in comments],
        page=page,
        per_page=per_page,
        total=total,
        next=url_for(".show_thread", site_slug=site_slug, article_id=article_id, page=page + 1, per_page=per_page)
        if more
        else None,
    )


def read_json_object() -> dict:
    """The request body as a JSON object; invalid UTF-8 survives as lone surrogates, which
    the schema reports against the field that holds them."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    try:
        body = json.loads(read_body_bytes().decode("utf-8", errors="surrogateescape"))
    except ValueError as error:
        raise MalformedBody(f"The body is not valid JSON: {error}.") from None
    except RecursionError:  # `[[[[…` a few thousand deep
        raise MalformedBody("The body is not valid JSON: nested too deeply.") from None
    if not isinstance(body, dict):
        raise MalformedBody("The body must be a JSON object.")
    return body


def read_body_bytes() -> bytes:
    """The whole body, or 413. A body sent without Content-Length (chunked) is not refused by
    werkzeug but cut at the limit; one that goes on past it is refused here, not parsed short."""
    data = request.get_data()
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit \
            and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return data


def read_idempotency_key() -> str | None:
    try:
        return idempotency_key(request.headers.get("Idempotency-Key"))
    except ValueError as error:
        raise InvalidFields("Bad Idempotency-Key header.", {"Idempotency-Key": str(error)}) from None


def read_cached_policy(site_id: int) -> Policy:
    """The site's policy, as this process last read it within `site_cache_seconds`."""
    return read_policy(db.engine(), site_id, current_app.extensions.setdefault("policies", {}),
                       current_app.config["SETTINGS"].site_cache_seconds)


def flood_limiter() -> FloodLimiter:
    extensions = current_app.extensions
    if "flood" not in extensions:
        extensions["flood"] = FloodLimiter(extensions["redis"])
    return extensions["flood"]


def parse_comment(body: dict) -> CommentIn:
    try:
        return CommentIn.model_validate(body)
    except ValidationError as error:
        raise InvalidFields("The comment has field errors.", field_errors(error)) from None


def positive_int(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= LARGEST_NUMBER:  # not "²" nor 10**20
        raise InvalidFields("Bad query parameter.", {name: f"Must be a whole number from 1 to {LARGEST_NUMBER}."})
    return int(raw)


def comment_links(site_slug: str, article_id: str, comment_id: str) -> dict:
    """The same URLs url_for builds for show_comment and show_thread, at a tenth of the cost."""
    return {
        "self": f"{bp.url_prefix}/comments/{comment_id}",
        "thread": f"{bp.url_prefix}/sites/{site_slug}/articles/{quote(article_id, safe='')}/comments",
    }


def describe_comment(comment: Comment) -> dict:
    """A comment as its own site sees it: scores and reasons, a masked email, no IP."""
    vault = current_app.extensions["vault"]
    checks = {
        result.check: {
            "score": result.score,
            "attributes": result.attributes or {},
            "model_version": result.model_version,
            "error": result.error,
        }
        for result in comment.checks
    }
    return {
        "id": comment.public_id,
        "status": comment.status,
        "reason": comment.reason,
        "article_id": comment.article.external_id,
        "parent_id": comment.parent.public_id if comment.parent else None,
        "author_name": comment.author_name,
        "author_email": mask_email(vault.decrypt(comment.author_email)),
        "language": comment.language,
        "created_at": comment.created_at.isoformat(),
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
        "edited_at": comment.edited_at.isoformat() if comment.edited_at else None,
        "scores": {check: checks.get(check, {}).get("score") for check in CHECKS},
        "checks": checks,
        "reasons": comment.reasons,
        "model_versions": {check: c["model_version"] for check, c in checks.items() if c["model_version"]},
    }


def public_comment(comment: Comment, replies: list, parent_id: str | None = None) -> dict:
    """What a reader may see: no email, no IP, no scores."""
    return {
        "id": comment.public_id,
        "parent_id": parent_id,
        "author_name": comment.author_name,
        "author_url": comment.author_url,
        "content": comment.content,
        "created_at": comment.created_at.isoformat(),
        "replies": [public_comment(child, grandchildren, comment.public_id) for child, grandchildren in replies],
    }
