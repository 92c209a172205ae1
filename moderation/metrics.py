"""/metrics in Prometheus text format (optionally behind `MODERATION_METRICS_TOKEN`).

Two kinds of figures. Per web process, counted here: submissions and HTTP requests; under
gunicorn, with PROMETHEUS_MULTIPROC_DIR set, every worker process writes them there and a
scrape adds them up (gunicorn's child_exit hook calls `forget_process`). Cluster-wide, read
at scrape time from Redis (counters.py, which workers on any host write, and fleet.py's
live state) and from the database: these are the same on every web replica, so aggregate
them with max(), not sum().

| metric | type | labels | what |
|---|---|---|---|
| saring_submissions_total | counter | site, result | per process: submissions by result (below) |
| saring_http_request_duration_seconds | histogram | endpoint, method, status | per process: requests and their duration |
| saring_decisions_total | counter | outcome, reason, decided_by | decisions (approved, flagged, rejected) by the checks or a moderator |
| saring_model_decisions_total | counter | check, model_version, outcome | automated decisions by the model version of each check |
| saring_decision_latency_seconds | histogram | outcome | submission (or edit) to automated decision |
| saring_check_duration_seconds | histogram | check | time a check job ran |
| saring_jobs_total | counter | queue, outcome | job runs: done, retried (failed, retry left), failed |
| saring_callback_deliveries_total | counter | result | delivery attempts: delivered, skipped, retried, failed |
| saring_sweeper_reenqueued_total | counter | kind | lost jobs the sweeper enqueued again (check, callback) |
| saring_sweeper_failed_total | counter | kind | failed jobs the sweeper applied the fail policy to |
| saring_sweeper_last_run_timestamp_seconds | gauge | | when the sweeper last ran |
| saring_queue_depth | gauge | queue | jobs waiting |
| saring_queue_oldest_job_age_seconds | gauge | queue | wait of the oldest waiting job (0: none) |
| saring_queue_started_jobs | gauge | queue | jobs running |
| saring_queue_scheduled_jobs | gauge | queue | jobs waiting for a retry's interval |
| saring_failed_jobs | gauge | queue | jobs in the failed registry |
| saring_live_workers | gauge | queue | workers with a recent heartbeat |
| saring_model_version_workers | gauge | check, version | live workers that loaded this model version |
| saring_moderator_labels | gauge | site, check, model_version | moderator verdicts on a model's calls |
| saring_moderator_overturns | gauge | site, check, model_version | of those, verdicts that overturned the model |
| saring_metrics_source_up | gauge | source | 1 if redis / database answered this scrape |

Submission results: accepted, invalid, duplicate, rate_limited, thread_closed, banned,
parent_not_approved, unauthorized, forbidden, not_found, storage_unavailable, error, and
refused (the article page's form shown again with the reason on it); `site` is "unknown"
until the request proved which site it is. No label carries an email, a key or text.
"""
import hmac
import logging
import os
from time import perf_counter

from flask import Blueprint, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from . import db, fleet
from .counters import count_after_commit, read_counter, read_histogram
from .errors import ApiError, Unauthorized
from .labels import overturn_rates
from .sites import SLUG_PATTERN, authenticated_site, find_site
from .tables import CHECKS

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)

CLUSTER = " Cluster-wide: every web replica reports the same value (aggregate with max, not sum)."
WEB = CollectorRegistry()
SUBMISSIONS = Counter("saring_submissions", "Comment submissions by site and result (this process).",
                      ["site", "result"], registry=WEB)
REQUESTS = Histogram("saring_http_request_duration_seconds", "HTTP requests and their duration (this process).",
                     ["endpoint", "method", "status"], registry=WEB)
SUBMIT_ENDPOINTS = ("api.post_comment", "widget.post_comment", "pages.post_reply")
RESULTS = {
    "invalid_fields": "invalid", "malformed_body": "invalid", "unsupported_media_type": "invalid",
    "request_entity_too_large": "invalid", "idempotency_key_reused": "invalid", "duplicate": "duplicate",
    "rate_limited": "rate_limited", "thread_closed": "thread_closed", "author_banned": "banned",
    "parent_not_approved": "parent_not_approved", "unauthorized": "unauthorized", "forbidden": "forbidden",
    "storage_unavailable": "storage_unavailable", "not_found": "not_found",
}
UNVERIFIED = ("unauthorized", "forbidden", "not_found", "storage_unavailable", "error")  # the site may not exist


def submission_result(response) -> str:
    status = response.status_code
    if status in (202, 303):
        return "accepted"
    if request.endpoint == "pages.post_reply":  # the form is shown again, the reason on it
        return {200: "refused", 400: "invalid", 404: "not_found"}.get(status, "error")
    body = response.get_json(silent=True) if response.is_json else None
    return RESULTS.get(body.get("error") if isinstance(body, dict) else None, "error")


def submission_site(result: str) -> str:
    """The submitting site's slug, once the request proved the site exists."""
    if result in UNVERIFIED:
        return "unknown"
    slug = g.get("site_slug") or (request.view_args or {}).get("site_slug")
    try:
        if request.endpoint == "api.post_comment" and slug is None:
            slug = authenticated_site(db.session()).slug  # a good key (not a 401): in this process's cache
        elif request.endpoint == "pages.post_reply" and result != "accepted":
            slug = slug if slug and SLUG_PATTERN.match(slug) and find_site(db.session(), slug) else None
    except (ApiError, SQLAlchemyError):  # a figure is not worth failing the request for
        return "unknown"
    return slug or "unknown"


def observe_request(response):
    started = g.get("request_started")  # set by logs.start_request
    endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
    if started is not None:
        REQUESTS.labels(endpoint, request.method, str(response.status_code)).observe(perf_counter() - started)
    if request.endpoint in SUBMIT_ENDPOINTS and request.method == "POST":
        result = submission_result(response)
        SUBMISSIONS.labels(submission_site(result), result).inc()
    return response


def forget_process(pid: int) -> None:
    """For gunicorn's child_exit hook: drop a dead worker's live gauges from the
    multiprocess directory (its counters stay counted)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def web_registry():
    """This process's figures, or every gunicorn worker's in multiprocess mode."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return WEB
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


class ClusterCollector:
    """The cluster-wide figures, read from Redis and the database at each scrape; a source
    that does not answer is reported down and its figures left out."""

    def __init__(self, app):
        self.redis, self.sessions = app.extensions["redis"], app.extensions["sessions"]
        self.heartbeat = app.config["SETTINGS"].worker_heartbeat

    def collect(self):
        up = GaugeMetricFamily("saring_metrics_source_up", "1 if the source answered this scrape." + CLUSTER,
                               labels=["source"])
        for source, read in (("redis", self.read_redis), ("database", self.read_database)):
            try:
                families = read()
            except (RedisError, SQLAlchemyError) as error:
                log.warning("metrics: %s unavailable: %s", source, type(error).__name__)
                families = []
            up.add_metric([source], 1 if families else 0)
            yield from families
        yield up

    def read_redis(self) -> list:
        families = []
        for name, doc, labels, key in (
            ("saring_decisions", "Decisions by outcome, reason and who decided (checks or a moderator).",
             ["outcome", "reason", "decided_by"], "decisions"),
            ("saring_model_decisions", "Automated decisions by each check's model version.",
             ["check", "model_version", "outcome"], "model_decisions"),
            ("saring_jobs", "Job runs by queue and outcome (done, retried, failed).", ["queue", "outcome"], "jobs"),
            ("saring_callback_deliveries", "Callback delivery attempts by result.", ["result"], "deliveries"),
            ("saring_sweeper_reenqueued", "Lost jobs the sweeper enqueued again.", ["kind"], "sweeper_reenqueued"),
            ("saring_sweeper_failed", "Failed jobs the sweeper applied the fail policy to.", ["kind"],
             "sweeper_failed"),
        ):
            family = CounterMetricFamily(name, doc + CLUSTER, labels=labels)
            for values, count in sorted(read_counter(self.redis, key).items()):
                family.add_metric(list(values), count)
            families.append(family)
        for name, doc, label, key in (
            ("saring_check_duration_seconds", "Time a check job ran.", "check", "check_seconds"),
            ("saring_decision_latency_seconds", "Submission (or edit) to automated decision.", "outcome",
             "decision_seconds"),
        ):
            family = HistogramMetricFamily(name, doc + CLUSTER, labels=[label])
            for values, (buckets, total) in sorted(read_histogram(self.redis, key).items()):
                family.add_metric(list(values), buckets, total)
            families.append(family)
        queues = fleet.queue_states(self.redis, minutes=1)
        for name, doc, value in (
            ("saring_queue_depth", "Jobs waiting.", lambda q: q.depth),
            ("saring_queue_oldest_job_age_seconds", "Wait of the oldest waiting job (0: none).",
             lambda q: q.oldest_age or 0.0),
            ("saring_queue_started_jobs", "Jobs running.", lambda q: q.started),
            ("saring_queue_scheduled_jobs", "Jobs waiting for a retry's interval.", lambda q: q.scheduled),
            ("saring_failed_jobs", "Jobs in the failed registry.", lambda q: q.failed),
        ):
            families.append(GaugeMetricFamily(name, doc + CLUSTER, labels=["queue"]))
            for queue in queues:
                families[-1].add_metric([queue.name], value(queue))
        live = [worker for worker in fleet.worker_states(self.redis, self.heartbeat) if worker.alive]
        workers = GaugeMetricFamily("saring_live_workers", "Workers with a recent heartbeat." + CLUSTER,
                                    labels=["queue"])
        for queue in fleet.QUEUES:
            workers.add_metric([queue], sum(queue in worker.queues for worker in live))
        models = GaugeMetricFamily("saring_model_version_workers",
                                   "Live workers that loaded this model version." + CLUSTER,
                                   labels=["check", "version"])
        loaded = [(check, version) for worker in live for check, version in worker.models.items() if check in CHECKS]
        for check, version in sorted(set(loaded)):
            models.add_metric([check, version], loaded.count((check, version)))
        sweep = fleet.last_sweep(self.redis)
        swept = GaugeMetricFamily("saring_sweeper_last_run_timestamp_seconds",
                                  "When the sweeper last ran (Unix time)." + CLUSTER)
        if sweep:
            swept.add_metric([], sweep["at"])
        return [*families, workers, models, swept]

    def read_database(self) -> list:
        with self.sessions() as session:
            rates = overturn_rates(session)
        labels = ["site", "check", "model_version"]
        given = GaugeMetricFamily("saring_moderator_labels", "Moderator verdicts on a model's calls." + CLUSTER,
                                  labels=labels)
        overturned = GaugeMetricFamily("saring_moderator_overturns",
                                       "Moderator verdicts that overturned the model." + CLUSTER, labels=labels)
        for rate in rates:
            values = [rate["site"], rate["check"], rate["model_version"] or "unknown"]
            given.add_metric(values, rate["labels"])
            overturned.add_metric(values, rate["overturned"])
        return [given, overturned]


@bp.get("/metrics")
def expose():
    token = current_app.config["SETTINGS"].metrics_token
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
            raise Unauthorized("Send the metrics token as 'Authorization: Bearer <token>'.")
    body = generate_latest(web_registry()) + generate_latest(ClusterCollector(current_app))
    return current_app.response_class(body, 200, {"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def init_app(app) -> None:
    count_after_commit(app.extensions["sessions"], app.extensions["redis"])
    app.after_request(observe_request)
