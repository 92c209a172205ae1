"""The moderator JSON API, /api/v1/moderation: the workspace's operations for moderator tokens.

Every route works within the caller's sites: a comment of a site they may not see is 404,
exactly like one that does not exist. Bodies are parsed in review_schemas.py, the work is
done by review.py, audit.py and moderators.py, and a write commits once, when all of it
succeeded (an error rolls the whole request back)."""
import re

from flask import Blueprint, current_app, g, jsonify, request, url_for
from sqlalchemy import select

from . import db
from .audit import describe_event, list_events, record_event, site_slugs
from .errors import Forbidden, InvalidFields, NotFound, Unauthorized
from .labels import overturn_rates
from .api import read_json_object
from .moderators import (
    TOKEN_PATTERN, USERNAME_PATTERN, change_moderator, create_moderator, issue_token, moderator_for_token,
    site_scope,
)
from .policy import (
    DEFAULT, changed_fields, model_thresholds, parse_policy, policy_versions, set_policy, site_policy,
)
from .queue import count_statuses, describe, describe_page, find_comment, find_comments, list_queue
from .review import apply_rule, moderate, preview_rule, reveal_email
from .review_schemas import (
    ActionIn, AuditQuery, ModeratorChange, ModeratorIn, PolicyQuery, QueueQuery, RuleApplyIn, RulePreviewIn,
    SelectionIn, TokenIn, read_body, read_query,
)
from .sites import SLUG_PATTERN, find_site
from .tables import CHECKS, Comment, Moderator, ModeratorToken, Site, SitePolicy, utcnow

bp = Blueprint("moderator_api", __name__, url_prefix="/api/v1/moderation")
VERDICT = {"action", "reason", "ban_days", "note"}
TOKEN_PREFIX = re.compile(r"^[0-9a-f]{12}$")


@bp.before_request
def authenticate() -> None:
    """Every route needs a moderator token (`mt_…`); a site's API key is not one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Send a moderator API token as 'Authorization: Bearer mt_…'.")
    g.moderator = moderator_for_token(db.session(), token.strip())


@bp.get("/me")
def show_me():
    return jsonify(username=g.moderator.username, role=g.moderator.role, sites=visible_sites())


@bp.get("/sites")
def list_sites():
    return jsonify(sites=visible_sites())


@bp.get("/queue")
def show_queue():
    query = read_query(QueueQuery)
    queue, session = query.as_filter(), db.session()
    comments, total = list_queue(session, g.moderator, queue, query.page, query.per_page)
    return jsonify(
        comments=describe_page(session, g.moderator, comments, vault()),
        total=total,
        counts=count_statuses(session, g.moderator, queue),
        page=query.page,
        per_page=query.per_page,
        next=next_page(".show_queue", queue.as_args(), query, total),
    )


@bp.get("/comments/<comment_id>")
def show_comment(comment_id: str):
    session = db.session()
    return jsonify(describe(session, g.moderator, find_comment(session, g.moderator, comment_id), vault()))


@bp.post("/comments/<comment_id>/actions")
def act_on_comment(comment_id: str):
    verdict, session = read_body(ActionIn), db.session()
    comment = find_comment(session, g.moderator, comment_id)
    outcome = moderate(session, g.moderator, [comment], **verdict.model_dump())
    session.commit()
    return jsonify(outcome.as_dict())


@bp.post("/actions")
def act_on_selection():
    verdict, session = read_body(SelectionIn), db.session()
    comments = find_comments(session, g.moderator, verdict.ids)
    outcome = moderate(session, g.moderator, comments, **verdict.model_dump(include=VERDICT))
    session.commit()
    return jsonify(outcome.as_dict())


@bp.post("/rules/preview")
def preview():
    rule = read_body(RulePreviewIn)
    dry_run = preview_rule(db.session(), g.moderator, rule.filter.as_filter())
    return jsonify(count=dry_run["count"], limit=dry_run["limit"], sample=[brief(c) for c in dry_run["sample"]])


@bp.post("/rules/apply")
def apply():
    rule, session = read_body(RuleApplyIn), db.session()
    outcome = apply_rule(session, g.moderator, rule.filter.as_filter(), expect=rule.expect,
                         **rule.model_dump(include=VERDICT))
    session.commit()
    return jsonify(outcome.as_dict())


@bp.get("/audit")
def show_audit():
    query = read_query(AuditQuery)
    audit, session = query.as_filter(), db.session()
    events, total = list_events(session, g.moderator, audit, query.page, query.per_page)
    slugs = site_slugs(session)
    return jsonify(
        events=[describe_event(event, slugs) for event in events],
        total=total,
        page=query.page,
        per_page=query.per_page,
        next=next_page(".show_audit", audit.as_args(), query, total),
    )


@bp.get("/overturns")
def show_overturns():
    return jsonify(rates=overturn_rates(db.session(), site_scope(g.moderator)))


@bp.post("/comments/<comment_id>/reveal-email")
def reveal(comment_id: str):
    moderator, session = admin(), db.session()
    email = reveal_email(session, moderator, find_comment(session, moderator, comment_id), vault())
    session.commit()
    return private(jsonify(email=email))


@bp.post("/tokens")
def create_token():
    body, session = read_body(TokenIn, optional=True), db.session()
    token = issue_token(session, g.moderator, body.name)
    row = own_token(session, TOKEN_PATTERN.match(token).group(1))
    record_event(session, "token_issued", g.moderator.username, details={"prefix": row.prefix})
    session.commit()
    return private(jsonify(token=token, **token_view(row))), 201


@bp.get("/tokens")
def list_tokens():
    rows = db.session().scalars(
        select(ModeratorToken).where(ModeratorToken.moderator_id == g.moderator.id).order_by(ModeratorToken.id)
    )
    return jsonify(tokens=[token_view(row) for row in rows])


@bp.delete("/tokens/<prefix>")
def revoke_token(prefix: str):
    session = db.session()
    row = own_token(session, prefix)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_event(session, "token_revoked", g.moderator.username, details={"prefix": row.prefix})
    session.commit()
    return jsonify(token_view(row))


@bp.get("/moderators")
def list_moderators():
    admin()
    moderators = db.session().scalars(select(Moderator).order_by(Moderator.username))
    return jsonify(moderators=[moderator_view(moderator) for moderator in moderators])


@bp.post("/moderators")
def add_moderator():
    actor, body, session = admin(), read_body(ModeratorIn), db.session()
    try:
        moderator = create_moderator(session, body.username, body.password, body.role, body.sites)
    except ValueError as error:
        raise invalid_fields(error) from None
    record_event(session, "moderator_created", actor.username,
                 details={"moderator": moderator.username, "role": moderator.role, "sites": body.sites})
    session.commit()
    return jsonify(moderator_view(moderator)), 201


@bp.patch("/moderators/<username>")
def edit_moderator(username: str):
    actor, change, session = admin(), read_body(ModeratorChange), db.session()
    moderator = find_moderator(session, username)
    if moderator is None:
        raise NotFound(f"No moderator called {username!r}.")
    try:
        changed = change_moderator(session, moderator, role=change.role, site_slugs=change.sites,
                                   is_active=change.is_active, password=change.password)
    except ValueError as error:
        raise invalid_fields(error) from None
    if changed:
        record_event(session, "moderator_changed", actor.username, details={"moderator": moderator.username, **changed})
    session.commit()
    return jsonify(moderator_view(moderator))


@bp.get("/sites/<slug>/policy")
def show_policy(slug: str):
    admin()
    query, site = read_query(PolicyQuery), policy_site(slug)
    if query.version is None:
        return jsonify(policy_view(site, site.policy_version, site_policy(site).model_dump(mode="json")))
    stored = db.session().scalar(
        select(SitePolicy.policy).where(SitePolicy.site_id == site.id, SitePolicy.version == query.version))
    if stored is None:
        raise NotFound(f"The policy of {slug!r} has no version {query.version}.")
    return jsonify(policy_view(site, query.version, stored))


@bp.put("/sites/<slug>/policy")
def change_policy(slug: str):
    """The whole policy: a field left out gets its default. A new version unless nothing changed."""
    actor, site, session = admin(), policy_site(slug), db.session()
    policy = parse_policy(read_json_object())
    if changed_fields(site_policy(site), policy):
        set_policy(session, site, policy, actor.username)
        session.commit()
    return jsonify(policy_view(site, site.policy_version, site_policy(site).model_dump(mode="json")))


@bp.get("/sites/<slug>/policy/versions")
def list_policy_versions(slug: str):
    admin()
    site = policy_site(slug)
    versions = [{**version, "created_at": version["created_at"].isoformat()}
                for version in policy_versions(db.session(), site)]
    return jsonify(site=site.slug, current_version=site.policy_version, versions=versions)


def admin() -> Moderator:
    if not g.moderator.is_admin:
        raise Forbidden("Only an admin may do this.")
    return g.moderator


def vault():
    return current_app.extensions["vault"]


def private(response):
    """A response holding a secret (a token, an email address) is never cached."""
    response.headers["Cache-Control"] = "no-store"
    return response


def policy_site(slug: str) -> Site:
    site = find_site(db.session(), slug) if SLUG_PATTERN.match(slug) else None
    if site is None:
        raise NotFound(f"No site {slug!r}.")
    return site


def policy_view(site: Site, version: int, policy: dict) -> dict:
    defaults = {"policy": DEFAULT.model_dump(mode="json"),
                "model_thresholds": model_thresholds(current_app.config["SETTINGS"].models_dir)}
    return {"site": site.slug, "version": version, "current_version": site.policy_version, "policy": policy,
            "defaults": defaults}


def visible_sites() -> list[dict]:
    scope = site_scope(g.moderator)
    sites = g.moderator.sites if scope is not None else db.session().scalars(select(Site).order_by(Site.slug))
    return [{"slug": site.slug, "name": site.name} for site in sites]


def next_page(endpoint: str, args: dict, query, total: int) -> str | None:
    if query.page * query.per_page >= total:
        return None
    return url_for(endpoint, **args, page=query.page + 1, per_page=query.per_page)


def brief(comment: Comment) -> dict:
    """A comment in a rule's dry-run sample."""
    scores = {result.check: result.score for result in comment.checks}
    return {
        "id": comment.public_id,
        "site": comment.site.slug,
        "article_id": comment.article.external_id,
        "author_name": comment.author_name,
        "content": comment.content[:200],
        "scores": {check: scores.get(check) for check in CHECKS},
        "reason": comment.reason,
        "created_at": comment.created_at.isoformat(),
    }


def own_token(session, prefix: str) -> ModeratorToken:
    """One of the caller's own tokens; anyone else's is reported as not existing."""
    row = session.scalar(
        select(ModeratorToken).where(ModeratorToken.prefix == prefix, ModeratorToken.moderator_id == g.moderator.id)
    ) if TOKEN_PREFIX.match(prefix) else None
    if row is None:
        raise NotFound(f"You have no token {prefix!r}.")
    return row


def token_view(row: ModeratorToken) -> dict:
    return {
        "prefix": row.prefix,
        "name": row.name,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def find_moderator(session, username: str) -> Moderator | None:
    if not USERNAME_PATTERN.match(username):
        return None
    return session.scalar(select(Moderator).where(Moderator.username == username))


def moderator_view(moderator: Moderator) -> dict:
    return {
        "username": moderator.username,
        "role": moderator.role,
        "sites": [site.slug for site in moderator.sites],
        "is_active": moderator.is_active,
        "created_at": moderator.created_at.isoformat(),
        "locked_until": moderator.locked_until.isoformat() if moderator.locked_until else None,
    }


def invalid_fields(error: ValueError) -> InvalidFields:
    """moderators.py's `field: message` as a field error."""
    field, _, message = str(error).partition(": ")
    return InvalidFields("The moderator has field errors.", {field: f"{message[:1].upper()}{message[1:]}."})
