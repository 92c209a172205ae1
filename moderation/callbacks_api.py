"""A site's own callback settings, /api/v1/site/callbacks, with the site's API key: its
URL, its signing secrets (never shown after creation, only a prefix), and its events'
delivery states, with replay. Every change is audited and commits once."""
from datetime import timedelta
from typing import Annotated, Literal

from flask import Blueprint, jsonify, url_for
from pydantic import Field, model_validator

from . import db
from .callbacks import STATES, count_deliveries, describe_delivery, list_deliveries, replay
from .receivers import describe_secrets, rotate_secret, set_callback
from .review_schemas import Page, PerPage, Request, read_body, read_query, text
from .sites import authenticated_site
from .tables import Site

bp = Blueprint("callbacks_api", __name__, url_prefix="/api/v1/site/callbacks")


class CallbackIn(Request):
    url: text(2000) | None = Field(description="An http(s) URL on a public address; null removes it.")


class RotationIn(Request):
    overlap_hours: Annotated[int, Field(ge=0, le=168)] = Field(
        default=24, description="How long the previous secret keeps signing too.")


class EventsQuery(Request):
    state: Literal[STATES] = "failed"
    page: Page = 1
    per_page: PerPage = 50


class ReplayIn(Request):
    """Either the events to send again, or `state: "failed"` for every failed one."""

    event_ids: list[text(40)] | None = Field(default=None, min_length=1, max_length=1000)
    state: Literal["failed"] | None = None

    @model_validator(mode="after")
    def one_of(self):
        if (self.event_ids is None) == (self.state is None):
            raise ValueError("Send either event_ids or state: \"failed\".")
        return self


def current_site() -> tuple:
    session = db.session()
    ref = authenticated_site(session)
    return session, session.get(Site, ref.id), f"site:{ref.slug}"


@bp.get("")
def show_callback():
    session, site, _ = current_site()
    return jsonify(url=site.callback_url, secrets=describe_secrets(session, site.id),
                   deliveries=count_deliveries(session, site.id))


@bp.put("")
def change_callback():
    session, site, actor = current_site()
    body = read_body(CallbackIn)
    secret = set_callback(session, site, body.url, actor)
    session.commit()
    answer = {"url": site.callback_url, "secrets": describe_secrets(session, site.id)}
    if secret:
        answer["secret"] = secret  # the first one, shown once
    return jsonify(answer)


@bp.post("/rotate-secret")
def rotate_callback_secret():
    session, site, actor = current_site()
    body = read_body(RotationIn, optional=True)
    secret = rotate_secret(session, site, timedelta(hours=body.overlap_hours), actor)
    session.commit()
    return jsonify(secret=secret, secrets=describe_secrets(session, site.id))


@bp.get("/events")
def show_events():
    session, site, _ = current_site()
    query = read_query(EventsQuery)
    events, total = list_deliveries(session, site.id, query.state, query.page, query.per_page)
    more = query.page * query.per_page < total
    return jsonify(
        events=[describe_delivery(event) for event in events],
        state=query.state, page=query.page, per_page=query.per_page, total=total,
        next=url_for(".show_events", state=query.state, page=query.page + 1, per_page=query.per_page)
        if more else None,
    )


@bp.post("/events/replay")
def replay_events():
    session, site, actor = current_site()
    body = read_body(ReplayIn)
    outcome = replay(session, site.id, actor, body.event_ids)
    session.commit()
    return jsonify(outcome)
