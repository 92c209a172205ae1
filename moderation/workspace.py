"""The moderator workspace, /moderate: log in, work the queue (one comment, a selection, or
a rule after a dry run), read the audit log. Every page is server-rendered and works without
JavaScript; workspace.js adds the keyboard and in-place actions. The admin and account pages
are in admin_pages.py, on the same blueprint."""
import functools
import json
import re
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from flask import (
    Blueprint, abort, current_app, flash, g, jsonify, make_response, redirect, render_template, request, url_for,
)
from flask import session as browser_session
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from . import db
from .audit import AuditFilter, describe_event, list_events, site_slugs
from .errors import ApiError, Forbidden, InvalidFields, RateLimited, SelectionChanged, Unauthorized, render_error
from .labels import overturn_rates
from .moderators import log_in, moderator_for_session, site_scope
from .queue import QueueFilter, count_statuses, describe_page, find_comments, list_queue
from .review import apply_rule, moderate, preview_rule, target
from .tables import CHECKS, STATUSES, Comment, Moderator, Site
from .text import fold
from .workspace_forms import (
    ACTION_LABELS, AUDIT_ACTIONS, BAN_DAYS, KNOWN_REASONS, REASON_LABELS, ActionForm, AuditFilterForm, BulkForm,
    LoginForm, QueueFilterForm, blank,
)

bp = Blueprint("workspace", __name__, url_prefix="/moderate")

PER_PAGE = 50
LAST_PAGE = 10_000
WEB_LINK = re.compile(r"^https?://", re.IGNORECASE)
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


# -- every response: headers and errors ------------------------------------------------------

@bp.after_request
def protect_workspace(response):
    """Only Saring's own files may load or run, no other site may frame a page, and no cache
    keeps a page (they hold comments, emails and CSRF tokens)."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_json() -> bool:
    """workspace.js asks for JSON; a plain form post or a link gets a page."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


@bp.errorhandler(ApiError)
def show_error(error: ApiError):
    db.session().rollback()
    if wants_json():
        response = render_error(error.status, error.code, error.message, error.fields)
    else:
        page = render_template("moderate/error.html", status=error.status, message=error.message, fields=error.fields)
        response = make_response(page, error.status)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


class FormExpired(ApiError):
    status, code = 400, "form_expired"


@bp.errorhandler(CSRFError)
def refuse_unprotected_post(error: CSRFError):
    """A post without a valid CSRF token changes nothing."""
    return show_error(FormExpired("This form has expired or lacks its security token. Reload the page and try again."))


@bp.errorhandler(HTTPException)
def show_http_error(error: HTTPException):
    error_page = ApiError(error.description or error.name)
    error_page.status, error_page.code = error.code or 500, (error.name or "error").lower().replace(" ", "_")
    return show_error(error_page)


@bp.route("/<path:unknown>", methods=["GET", "POST"])
def no_such_page(unknown: str):
    """Any other /moderate address: a 404 from this blueprint, with its headers."""
    abort(404)


@bp.context_processor
def add_workspace_helpers():
    return {"moderator": current_moderator(), "stamp": stamp, "page_url": page_url, "REASON_LABELS": REASON_LABELS,
            "ACTION_LABELS": ACTION_LABELS, "BAN_DAYS": BAN_DAYS, "KNOWN_REASONS": KNOWN_REASONS,
            "AUDIT_ACTIONS": AUDIT_ACTIONS}


@bp.app_template_filter("json_text")
def json_text(value) -> str:
    """A value as readable JSON text (autoescaping then makes it safe HTML, unlike |tojson,
    which shows a moderator \\u003c for every <)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# -- logging in --------------------------------------------------------------------------------

def current_moderator() -> Moderator | None:
    """The moderator this browser is logged in as (while the login is still valid)."""
    if "moderator" not in g:
        g.moderator = moderator_for_session(db.session(), browser_session.get("moderator"))
    return g.moderator


def login_required(view):
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if current_moderator() is None:
            browser_session.pop("moderator", None)
            if wants_json():
                return render_error(401, Unauthorized.code, "Your login has ended. Log in again.")
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for(".login", next=back))
        return view(*args, **kwargs)

    return checked


def admin_required(view):
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if not current_moderator().is_admin:
            raise Forbidden("Only an admin may do this.")
        return view(*args, **kwargs)

    return login_required(checked)


def safe_next(path: str | None, default: str) -> str:
    """A workspace path to go back to; anything else (another site, a script) is ignored."""
    parts = urlsplit(path or "")
    inside = parts.path == bp.url_prefix or parts.path.startswith(bp.url_prefix + "/")
    if (not path or parts.scheme or parts.netloc or not inside
            or any(char == "\\" or char < " " for char in path)):
        return default
    return path


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    back = safe_next(form.next.data, url_for(".show_queue"))
    if request.method == "GET" and current_moderator() is not None:
        return redirect(back)
    status, retry_after = 200, None
    if form.validate_on_submit():
        session = db.session()
        vault = current_app.extensions["vault"]
        address = vault.fingerprint(request.remote_addr, "ip") if request.remote_addr else None
        try:
            moderator = log_in(session, form.username.data, form.password.data, address)
        except Unauthorized as error:
            session.commit()  # the failed-login counter and lock
            form.form_errors.append(error.message)
        except RateLimited as error:
            session.commit()
            form.form_errors.append(error.message)
            status, retry_after = error.status, error.retry_after
        else:
            remembered = [moderator.id, moderator.session_version]
            session.commit()
            browser_session.clear()  # a fresh session: nothing planted before login survives it
            browser_session["moderator"] = remembered
            browser_session.permanent = True
            return redirect(back, 303)
    response = make_response(render_template("moderate/login.html", form=form), status)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/logout")
def logout():
    browser_session.clear()
    flash("You are logged out.", "success")
    return redirect(url_for(".login"), 303)


# -- the queue ---------------------------------------------------------------------------------

@bp.get("/")
@bp.get("")
@login_required
def show_queue():
    moderator, session = current_moderator(), db.session()
    form = QueueFilterForm(formdata=request.args)
    form.site.choices = blank(visible_sites(moderator))
    queue, status = read_filter(request.args, form)
    page = page_number()
    comments, total = list_queue(session, moderator, queue, page, PER_PAGE) if status == 200 else ([], 0)
    vault = current_app.extensions["vault"]
    filter_args = queue.as_args() | {"status": queue.status}
    return render_template(
        "moderate/queue.html",
        form=form,
        queue=queue,
        filter_args=filter_args,
        tab_urls={tab: url_for(".show_queue", **filter_args | {"status": tab if tab != "flagged" else None})
                  for tab in STATUSES},
        back=request.full_path.rstrip("?"),
        items=[present(item) for item in describe_page(session, moderator, comments, vault)],
        total=total,
        page=page,
        last_page=max(1, -(-total // PER_PAGE)),
        counts=count_statuses(session, moderator, queue),
        overturns=overturn_rates(session, site_scope(moderator)),
    ), status


def read_filter(args, form) -> tuple[QueueFilter, int]:
    """The queue filter in the query string; a bad one shows its errors beside its fields."""
    try:
        return QueueFilter.from_args(args), 200
    except InvalidFields as error:
        show_field_errors(form, error.fields)
        return QueueFilter(status=args.get("status") if args.get("status") in STATUSES else "flagged"), 422


def show_field_errors(form, errors: dict) -> None:
    for name, message in errors.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
        else:
            form.form_errors.append(message)


def visible_sites(moderator: Moderator) -> list[tuple[str, str]]:
    """The sites a moderator may pick in a filter: their own, or every site for an admin."""
    sites = db.session().scalars(select(Site).order_by(Site.slug)) if moderator.is_admin else moderator.sites
    return [(site.slug, site.name) for site in sites]


def page_number() -> int:
    return min(max(request.args.get("page", 1, type=int), 1), LAST_PAGE)


def page_url(page: int) -> str:
    """This page's URL on another page of results."""
    return url_for(request.endpoint, **{**request.args.to_dict(), "page": page if page > 1 else None})


def web_url(url: str | None) -> str | None:
    """A URL safe to link to: http(s) only (never javascript: or data:)."""
    return url if url and WEB_LINK.match(url) else None


def human_duration(seconds: float | None) -> str:
    """'45 s', '3 min', '2 h', '4 d'."""
    seconds = max(0, int(seconds or 0))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def stamp(moment) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def gauge(name: str, score: float | None, thresholds: dict | None) -> dict:
    """A score with the level its thresholds give it: high (reject), mid (flag) or low."""
    thresholds = thresholds or {}
    level = "none" if score is None else "low"
    if score is not None and thresholds.get("flag") is not None and score >= thresholds["flag"]:
        level = "mid"
    if score is not None and thresholds.get("reject") is not None and score >= thresholds["reject"]:
        level = "high"
    return {"name": name, "score": score, "level": level, "flag": thresholds.get("flag"),
            "reject": thresholds.get("reject")}


def present(item: dict) -> dict:
    """describe()'s view of a comment, with what a page needs to draw it: safe links, the
    wait in words, and each score with its level."""
    item["article_link"] = web_url(item["article"]["url"])
    item["author_link"] = web_url(item["author_url"])
    item["waited"] = human_duration(item["seconds_in_queue"])
    item["gauges"], item["attribute_gauges"], holding = [], [], set()
    for check in CHECKS:
        explained = item["checks"].get(check, {})
        limits = (explained.get("thresholds") or {}).get("attributes", {})
        gauges = [gauge(check, explained.get("score"), explained.get("thresholds"))] + [
            gauge(name, score, limits.get(name))
            for name, score in sorted((explained.get("attributes") or {}).items(), key=lambda pair: -pair[1])]
        item["gauges"].append(gauges[0])
        item["attribute_gauges"].extend(gauges[1:])
        if any(g["level"] in ("mid", "high") for g in gauges):
            holding.update(term for term, _ in explained.get("terms", []))
    # Words of a check that held the comment are marked strongly; the rest of the words
    # that pushed a score (too little to hold it) only faintly.
    item["runs"] = [(text, weight, weight is not None and fold(text).strip() in holding)
                    for text, weight in item["highlights"]]
    return item


# -- acting on comments ------------------------------------------------------------------------

@bp.post("/actions")
@login_required
def act():
    """One action on one comment or on a selection (one audited batch)."""
    form = ActionForm()
    back = safe_next(form.next.data, url_for(".show_queue"))
    try:
        if not form.validate():
            raise InvalidFields("Choose an action and at least one comment.",
                                {name: errors[0] for name, errors in form.errors.items()})
        session, moderator = db.session(), current_moderator()
        comments = find_comments(session, moderator, form.ids.data)
        outcome = moderate(session, moderator, comments, form.action.data, form.reason.data or None,
                           int(form.ban_days.data) if form.ban_days.data else None)
    except InvalidFields as error:
        if wants_json():
            raise
        db.session().rollback()
        flash(" ".join([error.message, *error.fields.values()]), "error")
        return redirect(back, 303)
    session.commit()
    message = summarise(outcome)
    if wants_json():
        return jsonify(outcome.as_dict() | {
            "message": message,
            "statuses": {comment.public_id: comment.status for comment in comments},
            "counts": count_after(session, moderator, back),
        })
    flash(message, "success")
    return redirect(back, 303)


def summarise(outcome) -> str:
    """'Approved 3 comments. Skipped 1: already approved.'"""
    done = {"approve": "Approved", "reject": "Rejected", "spam": "Marked as spam", "ban": "Banned the author of"}
    changed = len(outcome.changed)
    words = f"{done[outcome.action]} {changed} comment{'' if changed == 1 else 's'}."
    if outcome.action == "ban" and not changed:
        words = "Banned the author; no comment changed."
    if outcome.skipped:
        reasons = sorted(set(outcome.skipped.values()))
        words += f" Skipped {len(outcome.skipped)}: {', '.join(reasons)}."
    if outcome.remaining:
        words += f" {outcome.remaining} more match the rule; apply it again to continue."
    return words


def count_after(session, moderator: Moderator, back: str) -> dict | None:
    """The status tab counts for the queue the action came from, to update them in place."""
    try:
        queue = QueueFilter.from_args(MultiDict(parse_qsl(urlsplit(back).query)))
    except InvalidFields:
        return None
    return count_statuses(session, moderator, queue)


@bp.get("/bulk")
@login_required
def preview_bulk():
    """The dry run of a bulk rule: how many comments it selects now, and a sample."""
    queue = QueueFilter.from_args(request.args)
    form = BulkForm(formdata=request.args)
    return render_preview(queue, form)


@bp.post("/bulk")
@login_required
def apply_bulk():
    queue = QueueFilter.from_args(request.form)
    form = BulkForm()
    if not form.validate():
        raise InvalidFields("Preview the rule again.", {name: errors[0] for name, errors in form.errors.items()})
    session, moderator = db.session(), current_moderator()
    try:
        outcome = apply_rule(session, moderator, queue, form.action.data, form.expect.data,
                             form.reject_reason.data or None, int(form.ban_days.data) if form.ban_days.data else None)
    except SelectionChanged as error:
        session.rollback()
        return render_preview(queue, form, changed=error.message, status=409)
    session.commit()
    return render_template("moderate/bulk.html", queue=queue, form=form, outcome=outcome, message=summarise(outcome),
                           filter_args=queue.as_args() | {"status": queue.status})


def render_preview(queue: QueueFilter, form: BulkForm, changed: str | None = None, status: int = 200):
    target(form.action.data, form.reject_reason.data or None)  # a reject without a reason goes no further
    session, moderator = db.session(), current_moderator()
    preview = preview_rule(session, moderator, queue)
    vault = current_app.extensions["vault"]
    form.expect.data = preview["count"]
    return render_template(
        "moderate/bulk.html", queue=queue, form=form, preview=preview, changed=changed,
        sample=[present(item) for item in describe_page(session, moderator, preview["sample"], vault)],
        filter_args=queue.as_args() | {"status": queue.status},
    ), status


# -- the audit log -----------------------------------------------------------------------------

@bp.get("/audit")
@login_required
def show_audit():
    moderator, session = current_moderator(), db.session()
    form = AuditFilterForm(formdata=request.args)
    form.site.choices = blank(visible_sites(moderator))
    status, audit = 200, AuditFilter()
    try:
        audit = AuditFilter.from_args(request.args)
    except InvalidFields as error:
        show_field_errors(form, error.fields)
        status = 422
    page = page_number()
    events, total = list_events(session, moderator, audit, page, PER_PAGE) if status == 200 else ([], 0)
    return render_template(
        "moderate/audit.html", form=form, events=describe_events(session, events), total=total, page=page,
        last_page=max(1, -(-total // PER_PAGE)),
    ), status


def describe_events(session, events) -> list[dict]:
    """The events as the page shows them, their comments read in one query, not one each."""
    commented = {event.comment_id for event in events if event.comment_id}
    held = session.scalars(select(Comment).where(Comment.id.in_(commented))).all() if commented else []
    slugs = site_slugs(session)
    described = [describe_event(event, slugs) for event in events]  # finds each comment among `held`
    del held
    return described


from . import admin_pages  # noqa: E402,F401  the admin and account pages, on this blueprint
