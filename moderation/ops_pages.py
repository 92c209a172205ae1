"""The ops page, /ops (routes on ops.bp), for admins logged in to the workspace: the
snapshot of ops.py, with forms to requeue or delete failed jobs and to replay undelivered
callbacks. Each act is audited. The workspace's headers, CSP, error pages and nav apply;
no script is needed (tracebacks unfold with <details>)."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from . import db, fleet
from .audit import record_event
from .callbacks import replay
from .errors import ApiError, Forbidden, NotFound, StorageUnavailable
from .jobs import REDIS_DOWN
from .ops import bp, requeue_jobs, take_snapshot
from .queue_pages import human_duration
from .workspace import (
    add_workspace_helpers, current_moderator, protect_workspace, refuse_unprotected_post, show_error,
    show_http_error,
)

bp.after_request(protect_workspace)
bp.context_processor(add_workspace_helpers)
bp.errorhandler(ApiError)(show_error)
bp.errorhandler(CSRFError)(refuse_unprotected_post)
bp.errorhandler(HTTPException)(show_http_error)


@bp.before_request
def require_admin():
    """Anyone not logged in goes to the workspace's login; a moderator is refused."""
    moderator = current_moderator()
    if moderator is None:
        back = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("workspace.login", next=back))
    if not moderator.is_admin:
        raise Forbidden("Only an admin may see the ops page.")


@bp.get("")
def show_ops():
    snapshot = take_snapshot(current_app)
    return render_template("ops.html", snapshot=snapshot, age=human_duration, now=snapshot.taken_at.timestamp())


@bp.post("/queues/<queue>/requeue")
def requeue_queue(queue: str):
    """Requeue every failed job of one queue."""
    count = act_on_jobs(queue, "jobs_requeued", lambda redis: requeue_jobs(redis, known(queue), None))
    flash(f"Requeued {count} failed {queue} job(s).", "success")
    return back_to_ops()


@bp.post("/queues/<queue>/jobs/<job_id>/requeue")
def requeue_job(queue: str, job_id: str):
    count = act_on_jobs(queue, "jobs_requeued", lambda redis: requeue_jobs(redis, known(queue), [job_id]), job_id)
    flash(f"Requeued {job_id}." if count else f"{job_id} is no longer a failed job.", "success" if count else "error")
    return back_to_ops()


@bp.post("/queues/<queue>/jobs/<job_id>/delete")
def delete_job(queue: str, job_id: str):
    deleted = act_on_jobs(queue, "job_deleted", lambda redis: int(fleet.delete_failed(redis, known(queue), job_id)),
                          job_id)
    flash(f"Deleted {job_id}." if deleted else f"{job_id} is no longer a failed job.",
          "success" if deleted else "error")
    return back_to_ops()


@bp.post("/callbacks/replay")
def replay_callbacks():
    """Send undelivered callback events again: the one named in the form, or every failed one."""
    event_id = request.form.get("event_id") or None
    session = db.session()
    outcome = replay(session, None, current_moderator().username, [event_id] if event_id else None)
    session.commit()  # the delivery jobs are enqueued once this commits (or by the sweeper)
    count = len(outcome["replayed"])
    skipped = "; ".join(f"{event}: {why}" for event, why in outcome["skipped"].items())
    flash(f"Replayed {count} callback(s)." + (f" Skipped {skipped}." if skipped else ""), "success")
    return back_to_ops()


def known(queue: str) -> str:
    if queue not in fleet.QUEUES:
        raise NotFound(f"No queue {queue!r}.")
    return queue


def act_on_jobs(queue: str, action: str, act, job_id: str | None = None) -> int:
    """Run a failed-job action against Redis and audit it when it changed something."""
    try:
        count = act(current_app.extensions["redis"])
    except REDIS_DOWN:
        raise StorageUnavailable("Redis is unreachable: nothing was changed. Try again once it is back.") from None
    if count:
        session = db.session()
        details = {"queue": queue, "count": count, "job_ids": [job_id] if job_id else None}
        record_event(session, action, current_moderator().username, details=details)
        session.commit()
    return count


def back_to_ops():
    return redirect(url_for(".show_ops"), 303)
