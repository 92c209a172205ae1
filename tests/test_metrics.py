"""/metrics: what an operator's Prometheus sees move while comments flow — submissions,
decisions, check latency, queues, failed jobs, the sweeper, callbacks, overturns, model
versions — counted across gunicorn processes, behind an optional token."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

import workers.runtime
from moderation import create_app, fleet
from moderation.db import transaction
from moderation.policy import Policy, set_policy
from moderation.receivers import set_callback
from moderation.sites import find_site
from moderation.tables import CHECKS
from workers.__main__ import sweep_once

SPAM = "SLOT GACOR hari ini m4xw1n terus! daftar sekarang di PULAUWIN88, deposit 10rb langsung jp"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scrape(client, headers=None) -> dict:
    """Every sample of /metrics, by (name, sorted labels)."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    return sum(v for (n, sample_labels), v in samples.items()
               if n == name and set(labels.items()) <= set(sample_labels))


@pytest.fixture
def run_workers(redis):
    """Work the queues through the workers' own RQ worker class until they are empty."""

    def run(queues=(*CHECKS,)):
        worker = workers.runtime.Worker([Queue(name, connection=redis) for name in queues], connection=redis)
        worker.work(burst=True, with_scheduler=False)

    return run


def post(client, site, payload, headers=None):
    return client.post("/api/v1/comments", json=payload, headers=headers or site["auth"])


def test_submissions_are_counted_by_site_and_result(client, site, comment_payload):
    before = scrape(client)
    assert post(client, site, comment_payload()).status_code == 202
    assert post(client, site, comment_payload()).status_code == 409
    assert post(client, site, comment_payload(author_email="not an address")).status_code == 422
    assert post(client, site, comment_payload(), {"Authorization": "Bearer sk_000000000000_wrongwrongwrongwrong"}
                ).status_code == 401
    client.patch("/api/v1/articles/closed-one", json={"is_open": False}, headers=site["auth"])
    assert post(client, site, comment_payload(article_id="closed-one")).status_code == 403
    after = scrape(client)
    for result in ("accepted", "duplicate", "invalid", "thread_closed"):
        labels = {"site": "poros-warta", "result": result}
        assert value(after, "saring_submissions_total", **labels) - value(before, "saring_submissions_total",
                                                                         **labels) == 1, result
    unauthorized = {"site": "unknown", "result": "unauthorized"}
    assert value(after, "saring_submissions_total", **unauthorized) - value(
        before, "saring_submissions_total", **unauthorized) == 1
    assert "sk_000000000000" not in str(after) and "budi" not in str(after).lower()
    requests = {"endpoint": "api.post_comment", "method": "POST", "status": "202"}
    assert value(after, "saring_http_request_duration_seconds_count", **requests) > value(
        before, "saring_http_request_duration_seconds_count", **requests)


def test_queues_decisions_and_check_latency_move_as_checks_run(client, site, comment_payload, run_workers):
    post(client, site, comment_payload(content="Semoga banjir cepat surut dan warga mendapat bantuan."))
    post(client, site, comment_payload(content=SPAM, author_email="promo@example.com"))
    waiting = scrape(client)
    assert value(waiting, "saring_queue_depth", queue="spam") == 2
    assert value(waiting, "saring_queue_oldest_job_age_seconds", queue="toxicity") >= 0
    assert total(waiting, "saring_decisions_total") == 0
    run_workers()
    done = scrape(client)
    assert value(done, "saring_queue_depth", queue="spam") == 0
    assert value(done, "saring_jobs_total", queue="spam", outcome="done") == 2
    assert value(done, "saring_check_duration_seconds_count", check="spam") == 2
    assert value(done, "saring_check_duration_seconds_bucket", check="toxicity", le="+Inf") == 2
    assert total(done, "saring_decisions_total", decided_by="checks") == 2
    assert total(done, "saring_decision_latency_seconds_count") == 2
    spam_versions = {dict(labels)["model_version"] for (name, labels) in done
                     if name == "saring_model_decisions_total" and dict(labels)["check"] == "spam"}
    assert len(spam_versions) == 1 and total(done, "saring_model_decisions_total", check="spam") == 2
    assert value(done, "saring_metrics_source_up", source="redis") == 1


def test_moderator_decisions_and_overturns_per_model_version(client, flag_comments, make_moderator, token_for):
    ids = flag_comments(["Semoga banjir cepat surut dan warga mendapat bantuan.", SPAM])
    make_moderator("mira")
    before = scrape(client)
    for comment_id, action in zip(ids, ("spam", "approve")):  # both overrule what the spam model said
        response = client.post(f"/api/v1/moderation/comments/{comment_id}/actions", json={"action": action},
                               headers=token_for("mira"))
        assert response.status_code == 200, response.get_json()
    after = scrape(client)
    assert value(after, "saring_decisions_total", outcome="rejected", reason="spam", decided_by="mira") == 1
    assert total(after, "saring_decisions_total", outcome="approved", decided_by="mira") == 1
    assert total(after, "saring_decisions_total", decided_by="checks") == total(
        before, "saring_decisions_total", decided_by="checks") == 2
    labels = {dict(sample)["check"]: v for (name, sample), v in after.items() if name == "saring_moderator_labels"}
    assert labels == {"spam": 2, "toxicity": 1}
    assert total(after, "saring_moderator_overturns", site="poros-warta", check="spam") == 2


def test_failed_jobs_and_callback_deliveries_are_counted(app, client, site, comment_payload, make_moderator,
                                                         token_for, run_workers, redis):
    settings = replace(app.config["SETTINGS"], callback_retries=())
    workers.runtime.configure(settings)
    answers = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            answers.append(200 if len(answers) == 0 else 500)
            self.send_response(answers[-1])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with app.app_context(), transaction(app.extensions["sessions"]) as session:
            found = find_site(session, "poros-warta")
            set_policy(session, found, Policy(allow_private_callbacks=True), "admin")
            set_callback(session, found, f"http://127.0.0.1:{server.server_port}/hook", "admin")
        for content in ("Semoga banjir cepat surut.", "Terima kasih atas liputannya."):
            post(client, site, comment_payload(content=content))
        run_workers(CHECKS)
        run_workers(["callbacks"])
    finally:
        server.shutdown()
        server.server_close()
    samples = scrape(client)
    assert answers == [200, 500]
    assert value(samples, "saring_callback_deliveries_total", result="delivered") == 1
    assert value(samples, "saring_callback_deliveries_total", result="failed") == 1
    assert value(samples, "saring_jobs_total", queue="callbacks", outcome="failed") == 1
    assert value(samples, "saring_failed_jobs", queue="callbacks") == 1
    assert fleet.queue_states(redis, minutes=1)[-1].failures[-1] == 1


def test_sweeper_reenqueues_and_its_last_run(client, site, comment_payload, redis):
    post(client, site, comment_payload())
    redis.flushdb()  # Redis restarted empty: the comment's jobs are lost
    report = sweep_once()
    assert report.enqueued == 1
    samples = scrape(client)
    assert value(samples, "saring_sweeper_reenqueued_total", kind="check") == 1
    assert value(samples, "saring_sweeper_last_run_timestamp_seconds") > 0
    assert value(samples, "saring_queue_depth", queue="spam") == 1


def test_the_scheduler_process_sweeps_and_records_each_run(client, site, comment_payload, settings, redis, tmp_path):
    post(client, site, comment_payload())
    redis.flushdb()  # the comment's jobs are lost
    env = process_env(settings, MODERATION_SWEEP_INTERVAL="0.2", MODERATION_SWEEP_AFTER="0")
    for role in ("scheduler", "sweeper"):  # the compose service's name, and the older one
        since = time.time()
        process = subprocess.Popen([sys.executable, "-m", "workers", role], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=(tmp_path / f"{role}.log").open("w"))
        try:
            deadline = time.monotonic() + 60
            while (fleet.last_sweep(redis) or {"at": 0})["at"] < since and time.monotonic() < deadline:
                time.sleep(0.1)
            assert fleet.last_sweep(redis)["at"] >= since, (tmp_path / f"{role}.log").read_text()[-2000:]
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
    samples = scrape(client)
    assert value(samples, "saring_sweeper_reenqueued_total", kind="check") == 1  # once: then the job was there
    assert value(samples, "saring_queue_depth", queue="spam") == 1
    assert value(samples, "saring_sweeper_last_run_timestamp_seconds") >= since


def test_live_workers_and_the_model_versions_they_loaded(client, redis):
    worker = workers.runtime.Worker([Queue("spam", connection=redis)], connection=redis, name="spam.test.1")
    worker.models = {"spam": "spam-test-7"}
    worker.register_birth()
    samples = scrape(client)
    assert value(samples, "saring_live_workers", queue="spam") == 1
    assert value(samples, "saring_live_workers", queue="toxicity") == 0
    assert value(samples, "saring_model_version_workers", check="spam", version="spam-test-7") == 1
    worker.register_death()
    assert value(scrape(client), "saring_model_version_workers", check="spam", version="spam-test-7") == 0


def test_a_token_protects_metrics(settings):
    client = create_app(replace(settings, metrics_token="scrape-secret")).test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "unauthorized" and set(refused.get_json()) == {"error", "message", "fields"}
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, {"Authorization": "Bearer scrape-secret"})


def test_redis_down_loses_figures_not_requests(client, site, comment_payload, redis_server):
    if redis_server.process is None:
        pytest.skip("an external test Redis cannot be stopped")
    redis_server.stop()
    try:
        assert post(client, site, comment_payload()).status_code == 202
        samples = scrape(client)
    finally:
        redis_server.start()
    assert value(samples, "saring_metrics_source_up", source="redis") == 0
    assert value(samples, "saring_metrics_source_up", source="database") == 1
    assert value(samples, "saring_submissions_total", site="poros-warta", result="accepted") >= 1


WRITER = textwrap.dedent("""
    import json, os, sys
    from moderation import create_app
    from moderation.settings import Settings
    app = create_app(Settings.from_env())
    client = app.test_client()
    if sys.argv[1] == "post":
        for n in range(int(sys.argv[2])):
            payload = {"article_id": "multi", "author_name": "Budi", "author_email": f"b{os.getpid()}{n}@example.com",
                       "content": f"komentar {os.getpid()} {n}"}
            assert client.post("/api/v1/comments", json=payload,
                               headers={"Authorization": "Bearer " + os.environ["SITE_KEY"]}).status_code == 202
        print(os.getpid())
    else:
        from moderation.metrics import forget_process
        for pid in sys.argv[2:]:
            forget_process(int(pid))
        print(client.get("/metrics").get_data(as_text=True))
""")


def process_env(settings, **extra) -> dict:
    """The environment that gives a child process the tests' settings."""
    return {**os.environ, "PYTHONPATH": ROOT, "MODERATION_SECRET_KEY": settings.secret_key,
            "MODERATION_EMAIL_KEYS": ",".join(settings.email_keys),
            "MODERATION_FINGERPRINT_KEY": settings.fingerprint_key, "MODERATION_DATABASE_URL": settings.database_url,
            "MODERATION_REDIS_URL": settings.redis_url, "MODERATION_ENV": "test", **extra}


def test_multiprocess_mode_adds_up_every_web_process(settings, site, tmp_path):
    env = process_env(settings, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), SITE_KEY=site["key"])

    def run(*args) -> str:
        done = subprocess.run([sys.executable, "-c", WRITER, *args], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    pids = [run("post", "2").strip(), run("post", "3").strip()]
    exposition = run("scrape", *pids)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(exposition) for s in family.samples}
    assert value(samples, "saring_submissions_total", site="poros-warta", result="accepted") == 5
    assert value(samples, "saring_queue_depth", queue="spam") == 5
