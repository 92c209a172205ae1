"""The moderator workspace, /moderate: log in, work the queue (one comment, a selection, or
a rule after a dry run), read the audit log. Every page is server-rendered and works without
JavaScript; workspace.js adds the keyboard and in-place actions. The admin and account pages
are in admin_pages.py, the queue, bulk and audit pages in queue_pages.py, both on this
blueprint."""
import functools
import json
import re
from datetime import datetime
from urllib.parse import urlsplit

from flask import (
    Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request, url_for,
)
from flask import session as browser_session
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from . import db
from .errors import ApiError, Forbidden, RateLimited, Unauthorized, render_error
from .moderators import log_in, moderator_for_session
from .tables import Moderator, Site
from .workspace_forms import ACTION_LABELS, AUDIT_ACTIONS, BAN_DAYS, KNOWN_REASONS, REASON_LABELS, LoginForm

bp = Blueprint("workspace", __name__, url_prefix="/moderate")

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
    """A workspace or ops path to go back to; anything else (another site, a script) is ignored."""
    parts = urlsplit(path or "")
    inside = any(parts.path == prefix or parts.path.startswith(prefix + "/") for prefix in (bp.url_prefix, "/ops"))
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
    """End the login. The cookie is signed, not stored, so a copy of it (a shared computer,
    a stolen cookie) would stay valid: moving the moderator's session version on ends it,
    and with it their logins in other browsers."""
    moderator = current_moderator()
    if moderator is not None:
        moderator.session_version += 1
        db.session().commit()
    browser_session.clear()
    flash("You are logged out.", "success")
    return redirect(url_for(".login"), 303)


# -- shared by the pages ------------------------------------------------------------------------

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


def stamp(moment) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


from . import admin_pages, policy_pages, queue_pages  # noqa: E402,F401  the pages, on this blueprint
