"""The workspace's queue, actions, bulk rules and audit log (routes on workspace.bp, under
/moderate): every page server-rendered and usable without JavaScript; workspace.js adds
the keyboard and in-place actions."""
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from . import db
from .audit import AuditFilter, describe_event, list_events, site_slugs
from .errors import InvalidFields, SelectionChanged
from .labels import overturn_rates
from .moderators import site_scope
from .queue import QueueFilter, count_statuses, describe_page, find_comments, list_queue
from .review import apply_rule, moderate, preview_rule, target
from .tables import CHECKS, STATUSES, Comment, Moderator
from .text import fold
from .workspace import (
    WEB_LINK, bp, current_moderator, login_required, page_number, safe_next, show_field_errors,
    visible_sites, wants_json,
)
from .workspace_forms import ActionForm, AuditFilterForm, BulkForm, QueueFilterForm, blank

PER_PAGE = 50

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
