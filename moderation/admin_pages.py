"""The workspace's admin and account pages (routes on workspace.bp, under /moderate).

Admins manage moderators (create, change role and sites, deactivate, reset a password) and
may reveal an author's email; each of these acts is audited. Every moderator manages their
own API tokens and password on their account page."""
from flask import current_app, flash, redirect, render_template, url_for
from flask import session as browser_session
from sqlalchemy import select
from werkzeug.security import check_password_hash

from . import db
from .audit import record_event
from .errors import InvalidFields, NotFound
from .moderators import create_moderator, find_sites, issue_token, set_password
from .queue import find_comment
from .review import reveal_email
from .tables import Moderator, ModeratorToken, Site, utcnow
from .workspace import admin_required, bp, current_moderator, login_required, show_field_errors
from .workspace_forms import (
    ChangePasswordForm, ModeratorAccessForm, NewModeratorForm, ResetPasswordForm, TokenForm, options,
)


# -- moderators (admins only) ------------------------------------------------------------------

@bp.get("/moderators")
@admin_required
def list_moderators():
    return render_moderators(NewModeratorForm())


@bp.post("/moderators")
@admin_required
def add_moderator():
    form = with_sites(NewModeratorForm())
    if form.validate():
        session, admin = db.session(), current_moderator()
        try:
            created = create_moderator(session, form.username.data, form.password.data, form.role.data,
                                       form.sites.data)
        except ValueError as error:  # "field: message"
            message = str(error).partition(": ")[2]
            form.form_errors.append(f"{message[:1].upper()}{message[1:]}.")
        else:
            record_event(session, "moderator_created", admin.username, details=access_of(created))
            session.commit()
            flash(f"Created {created.role} {created.username}.", "success")
            return redirect(url_for(".list_moderators"), 303)
    return render_moderators(form, 422)


@bp.post("/moderators/<int:moderator_id>")
@admin_required
def change_access(moderator_id: int):
    """Change a moderator's role and sites."""
    session, admin, moderator = db.session(), current_moderator(), find_moderator(moderator_id)
    form = with_sites(ModeratorAccessForm(prefix=f"m{moderator_id}"))
    if not form.validate():
        raise InvalidFields("Pick a role and sites.", {name: errors[0] for name, errors in form.errors.items()})
    if moderator.id == admin.id and form.role.data != "admin":
        raise InvalidFields("You cannot take away your own admin role.", {"role": "Ask another admin."})
    before = access_of(moderator)
    moderator.role, moderator.sites = form.role.data, find_sites(session, form.sites.data)
    record_event(session, "moderator_changed", admin.username, details={"before": before, "after": access_of(moderator)})
    session.commit()
    sites = ", ".join(site.slug for site in moderator.sites) or "none"
    flash(f"Changed {moderator.username}: {moderator.role}, sites: {sites}.", "success")
    return redirect(url_for(".list_moderators"), 303)


@bp.post("/moderators/<int:moderator_id>/deactivate")
@admin_required
def deactivate_moderator(moderator_id: int):
    return set_active(moderator_id, False)


@bp.post("/moderators/<int:moderator_id>/reactivate")
@admin_required
def reactivate_moderator(moderator_id: int):
    return set_active(moderator_id, True)


def set_active(moderator_id: int, active: bool):
    """A deactivated moderator's sessions and tokens stop working at once."""
    session, admin, moderator = db.session(), current_moderator(), find_moderator(moderator_id)
    if moderator.id == admin.id:
        raise InvalidFields("You cannot deactivate yourself.", {"moderator": "Ask another admin."})
    moderator.is_active = active
    moderator.session_version += 1
    action = "moderator_reactivated" if active else "moderator_deactivated"
    record_event(session, action, admin.username, details={"moderator": moderator.username})
    session.commit()
    flash(f"{'Reactivated' if active else 'Deactivated'} {moderator.username}.", "success")
    return redirect(url_for(".list_moderators"), 303)


@bp.post("/moderators/<int:moderator_id>/password")
@admin_required
def reset_password(moderator_id: int):
    """A new password ends every session the moderator had."""
    session, admin, moderator = db.session(), current_moderator(), find_moderator(moderator_id)
    form = ResetPasswordForm(prefix=f"m{moderator_id}")
    if not form.validate():
        raise InvalidFields("Choose a longer password.", {name: errors[0] for name, errors in form.errors.items()})
    set_password(moderator, form.password.data)
    record_event(session, "password_reset", admin.username, details={"moderator": moderator.username})
    session.commit()
    if moderator.id == admin.id:
        remember(moderator)
    flash(f"Set a new password for {moderator.username}; their sessions have ended.", "success")
    return redirect(url_for(".list_moderators"), 303)


def render_moderators(form: NewModeratorForm, status: int = 200):
    session = db.session()
    moderators = session.scalars(select(Moderator).order_by(Moderator.username)).all()
    access = {}
    for moderator in moderators:
        access[moderator.id] = with_sites(ModeratorAccessForm(
            formdata=None, prefix=f"m{moderator.id}", role=moderator.role,
            sites=[site.slug for site in moderator.sites]))
    return render_template(
        "moderate/moderators.html", form=with_sites(form), moderators=moderators, access=access,
        passwords={moderator.id: ResetPasswordForm(formdata=None, prefix=f"m{moderator.id}") for moderator in moderators},
    ), status


def with_sites(form):
    form.sites.choices = options((site.slug, site.name) for site in db.session().scalars(select(Site).order_by(Site.slug)))
    return form


def find_moderator(moderator_id: int) -> Moderator:
    moderator = db.session().get(Moderator, moderator_id)
    if moderator is None:
        raise NotFound(f"No moderator with id {moderator_id}.")
    return moderator


def access_of(moderator: Moderator) -> dict:
    return {"moderator": moderator.username, "role": moderator.role, "sites": [site.slug for site in moderator.sites]}


# -- revealing an email (admins only, audited) -------------------------------------------------

@bp.post("/comments/<comment_id>/reveal-email")
@admin_required
def reveal_author_email(comment_id: str):
    session, admin = db.session(), current_moderator()
    comment = find_comment(session, admin, comment_id)
    address = reveal_email(session, admin, comment, current_app.extensions["vault"])
    session.commit()
    return render_template("moderate/email.html", comment=comment, address=address)


# -- the moderator's own account ---------------------------------------------------------------

@bp.get("/account")
@login_required
def show_account():
    return render_account()


@bp.post("/account")
@login_required
def add_token():
    """Issue an API token for /api/v1/moderation; it is shown once, then kept as a digest."""
    form = TokenForm()
    if not form.validate():
        return render_account(token_form=form, status=422)
    session, moderator = db.session(), current_moderator()
    token = issue_token(session, moderator, form.name.data or None)
    record_event(session, "token_issued", moderator.username, details={"name": form.name.data or None})
    session.commit()
    return render_account(issued=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    session, moderator = db.session(), current_moderator()
    token = session.get(ModeratorToken, token_id)
    if token is None or token.moderator_id != moderator.id:
        raise NotFound(f"No token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_event(session, "token_revoked", moderator.username, details={"prefix": token.prefix})
        session.commit()
    flash(f"Revoked the token mt_{token.prefix}_….", "success")
    return redirect(url_for(".show_account"), 303)


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    session, moderator = db.session(), current_moderator()
    valid = form.validate()
    if valid and not check_password_hash(moderator.password_hash, form.current.data):
        show_field_errors(form, {"current": "This is not your current password."})
    elif valid:
        set_password(moderator, form.password.data)
        record_event(session, "password_changed", moderator.username)
        session.commit()
        remember(moderator)
        flash("Your password is changed; your other sessions have ended.", "success")
        return redirect(url_for(".show_account"), 303)
    return render_account(password_form=form, status=422)


def render_account(issued: str | None = None, token_form=None, password_form=None, status: int = 200):
    moderator = current_moderator()
    tokens = db.session().scalars(
        select(ModeratorToken).where(ModeratorToken.moderator_id == moderator.id).order_by(ModeratorToken.id.desc())
    ).all()
    return render_template(
        "moderate/account.html", tokens=tokens, issued=issued, token_form=token_form or TokenForm(formdata=None),
        password_form=password_form or ChangePasswordForm(formdata=None),
    ), status


def remember(moderator: Moderator) -> None:
    """Keep this browser logged in after its own password change (which ends sessions)."""
    browser_session["moderator"] = [moderator.id, moderator.session_version]
