"""/api/v1/authors: a site exports or erases everything it holds for one email address.

The address travels in the JSON body only: a URL ends up in access logs, so a query string
is refused. Answers are never cached."""
from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import db
from .api import read_json_object
from .authors import erase_author, export_author
from .audit import record_event
from .errors import InvalidFields
from .retention import checkpoint
from .schemas import check_text, email_address, field_errors, text
from .sites import authenticated_site
from .tables import Site

bp = Blueprint("authors", __name__, url_prefix="/api/v1/authors")
Email = text("author_email", email_address)


class AuthorRequest(BaseModel):
    """Whose data: the address the comments were posted with (any case)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    email: Email = Field(description="In the body only, never in the URL.")

    _check_text = field_validator("*", mode="before")(check_text)


class AuthorExport(BaseModel):
    """Everything the calling site holds for the address: each comment with its article,
    parent, author (email decrypted), text, client context (the IP address was never
    stored), status and reasons, check results, labels, audit events and callbacks; the
    site's bans of the address. Moderators appear as "moderator"."""

    email: str
    comments: list[dict]
    bans: list[dict]
    exported_at: str


class AuthorErased(BaseModel):
    erased: int = Field(description="The author's comments on this site, anonymised or removed.")
    mode: str = Field(description="The site policy's `erase`: anonymise or remove.")
    anonymised: int = Field(description="Comments kept without their author (in remove mode: those with "
                                        "someone else's replies, kept blanked).")
    removed: int
    bans: int = Field(description="The site's bans of the address that were removed.")


@bp.post("/export")
def export():
    session = db.session()
    site = authenticated_site(session)
    email = read_email()
    exported = export_author(session, site.id, email, current_app.extensions["vault"])
    record_event(session, "author_exported", "site", site_id=site.id, details={"comments": len(exported["comments"])})
    session.commit()
    return no_store(jsonify(exported))


@bp.post("/erase")
def erase():
    session = db.session()
    site = authenticated_site(session)
    email = read_email()
    erased = erase_author(session, session.get(Site, site.id), email, current_app.extensions["vault"])
    session.commit()
    checkpoint(db.engine())
    return no_store(jsonify(erased))


def read_email() -> str:
    if request.args:
        raise InvalidFields("Send the address in the JSON body, never in the URL (URLs end up in access logs).",
                            {name: "Not allowed in the URL." for name in request.args})
    try:
        return AuthorRequest.model_validate(read_json_object()).email
    except ValidationError as error:
        raise InvalidFields("The request has field errors.", field_errors(error)) from None


def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response
