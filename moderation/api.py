"""The site-facing JSON API, /api/v1."""
import json
from urllib.parse import quote

from flask import Blueprint, current_app, jsonify, request, url_for
from pydantic import ValidationError

from . import db
from .comments import get_comment, list_thread, submit_comment
from .errors import InvalidFields, MalformedBody, SiteNotFound, UnsupportedMediaType
from .privacy import mask_email
from .schemas import CommentIn, can_store, field_errors
from .sites import SLUG_PATTERN, authenticated_site, find_site
from .tables import CHECKS, Comment

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PER_PAGE = 100


@bp.post("/comments")
def post_comment():
    session = db.session()
    site = authenticated_site(session)
    data = parse_comment(read_json_object())
    articles = current_app.extensions.setdefault("articles", {})
    comment_id = submit_comment(db.engine(), site, data, current_app.extensions["vault"], articles)
    current_app.extensions["checks"].try_enqueue(comment_id)
    links = comment_links(site.slug, data.article_id, comment_id)
    response = jsonify(id=comment_id, status="pending", links=links)
    response.status_code = 202
    response.headers["Location"] = links["self"]
    return response


@bp.get("/comments/<comment_id>")
def show_comment(comment_id: str):
    session = db.session()
    site = authenticated_site(session)
    comment = get_comment(session, site, comment_id)
    return jsonify(describe_comment(comment))


@bp.get("/sites/<site_slug>/articles/<path:article_id>/comments")
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
        body = json.loads(request.get_data().decode("utf-8", errors="surrogateescape"))
    except ValueError as error:
        raise MalformedBody(f"The body is not valid JSON: {error}.") from None
    if not isinstance(body, dict):
        raise MalformedBody("The body must be a JSON object.")
    return body


def parse_comment(body: dict) -> CommentIn:
    try:
        return CommentIn.model_validate(body)
    except ValidationError as error:
        raise InvalidFields("The comment has field errors.", field_errors(error)) from None


def positive_int(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidFields("Bad query parameter.", {name: "Must be a whole number of 1 or more."})
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
