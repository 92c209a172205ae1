"""Structured logs: one JSON object per line, from the web app, the workers and gunicorn.

`configure_logging(level)` puts one JSON handler on the root logger (the web app and
`python -m workers` call it; gunicorn's `logconfig_dict` can name `JsonFormatter` itself).
Each request gets one line: method, path (no query string), status, duration, request id
(a sane `X-Request-Id` is kept, otherwise one is made, and returned either way) and the
comment id and site slug when the route has them. No line carries an email or a comment's
text: paths are logged without their query string, and anything email-shaped is masked."""
import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import g, has_request_context, request
from rq.job import get_current_job

log = logging.getLogger("moderation.requests")

REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
EMAIL = re.compile(r"[^/@\s]+@[^/@\s]+")
PROBES = ("health.healthz", "health.readyz", "metrics.expose")  # logged at DEBUG while they succeed
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
UNLOGGED = {"arguments", "kwargs"}  # a failed job's arguments, which RQ logs: a Perspective job's is a text
CREATED_COMMENT = re.compile(r"/comments/([A-Za-z0-9_-]{1,64})$|#comment-([A-Za-z0-9_-]{1,64})$")


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, the record's extra fields
    (but never a job's arguments), and the request id or job id it was logged under."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD and key not in UNLOGGED:
                entry.setdefault(key, value)
        if has_request_context() and "request_id" in g:
            entry.setdefault("request_id", g.request_id)
        job = get_current_job()
        if job is not None:
            entry.setdefault("job_id", job.id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str | int = "INFO") -> None:
    """One JSON handler on the root logger, at `level`; a root logger that already has a
    JSON handler (gunicorn's logconfig_dict) keeps it."""
    root = logging.getLogger()
    root.setLevel(level.upper() if isinstance(level, str) else level)
    if not any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    quiet = logging.WARNING if root.getEffectiveLevel() > logging.DEBUG else logging.DEBUG
    logging.getLogger("rq.worker").setLevel(quiet)  # the workers log one line per job themselves
    logging.getLogger("alembic").setLevel(quiet)  # /readyz's migration check would log its plugins on every start


def safe_path(path: str) -> str:
    return EMAIL.sub("[email]", path)[:300]


def comment_of(response) -> str | None:
    """The comment a request named (its route's `comment_id`) or created (a 202's Location,
    or the article page's redirect to it)."""
    if request.view_args and "comment_id" in request.view_args:
        return str(request.view_args["comment_id"])[:64]
    if response.status_code in (201, 202, 303) and response.location:
        match = CREATED_COMMENT.search(response.location)
        if match:
            return match.group(1) or match.group(2)
    if response.status_code == 202 and response.is_json:
        body = response.get_json(silent=True)
        return body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else None
    return None


def start_request() -> None:
    g.request_started = time.perf_counter()
    sent = request.headers.get("X-Request-Id", "")
    g.request_id = sent if REQUEST_ID.match(sent) else uuid.uuid4().hex


def finish_request(response):
    response.headers["X-Request-Id"] = g.get("request_id", "")
    started = g.get("request_started")
    fields = {
        "method": request.method,
        "path": safe_path(request.path),
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "request_id": g.get("request_id"),
    }
    comment_id = comment_of(response)
    if comment_id:
        fields["comment_id"] = comment_id
    site = (request.view_args or {}).get("site_slug") or (request.view_args or {}).get("slug") or g.get("site_slug")
    if site:
        fields["site"] = safe_path(str(site))[:64]
    level = logging.DEBUG if request.endpoint in PROBES and response.status_code < 400 else logging.INFO
    log.log(level, "%s %s %s", request.method, fields["path"], response.status_code, extra=fields)
    return response


def init_app(app) -> None:
    configure_logging(app.config["SETTINGS"].log_level)
    app.before_request(start_request)
    app.after_request(finish_request)
