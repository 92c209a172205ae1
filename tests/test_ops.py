"""The ops page (/ops), `flask status` and `flask requeue-failed`, driven as an operator
drives them: logged in through the workspace's form, posting the page's own forms with
their CSRF tokens, against jobs that really failed in a real RQ worker. And what a requeued
check does: it decides a comment the fail policy decided, exactly once, and nothing else."""
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import select, update

import workers.runtime
from moderation import create_app, fleet
from moderation.jobs import CheckQueues
from moderation.db import transaction
from moderation.policy import Policy, set_policy
from moderation.receivers import set_callback
from moderation.review import moderate
from moderation.sites import find_site
from moderation.tables import AuditEvent, CallbackEvent, CheckResult, Comment, Moderator, utcnow
from test_callbacks import Receiver, register
from test_checks import BrokenModel
from test_workspace import csrf_token, log_in
from workers.checks import check_spam

BENIGN = "Perundingan seperti ini perlu waktu, semoga kedua pihak tetap berdialog."
EMAIL = "budi.santoso@example.co.id"


@pytest.fixture
def settings(settings):
    return replace(settings, callback_retries=(0,), callback_timeout=0.5)


@pytest.fixture
def ayu(client, make_moderator):
    """An admin, logged in."""
    make_moderator("ayu", role="admin", sites=())
    assert log_in(client, "ayu").status_code == 303
    return client


@pytest.fixture
def broken_spam(settings):
    """The spam model raises until `repair()`: each spam check fails for good."""
    workers.runtime.configure(settings, models={"spam": BrokenModel()})
    return lambda: workers.runtime.configure(settings)


def submit(client, site, comment_payload, content=BENIGN, **overrides) -> str:
    response = client.post("/api/v1/comments", json=comment_payload(content=content, **overrides), headers=site["auth"])
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def comment_state(sessions, comment_id) -> tuple:
    with sessions() as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == comment_id))
        spam = session.scalar(select(CheckResult).where(CheckResult.comment_id == comment.id,
                                                        CheckResult.check == "spam"))
        return comment.status, comment.reason, comment.reasons, spam.error, spam.score


def decisions(sessions, comment_id) -> list[tuple]:
    with sessions() as session:
        return session.execute(
            select(AuditEvent.actor, AuditEvent.from_status, AuditEvent.to_status).join(Comment)
            .where(Comment.public_id == comment_id, AuditEvent.action == "transition").order_by(AuditEvent.id)).all()


def post_form(client, url, data=None):
    """Post one of the ops page's forms with the page's CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client.get("/ops").text)})


def start_workers(redis, queues=fleet.QUEUES):
    """Workers that RQ sees as alive (registered, fresh heartbeat), each reporting its models."""
    for queue in queues:
        worker = Worker([Queue(queue, connection=redis)], connection=redis, name=f"{queue}-worker.test")
        worker.register_birth()
        worker.heartbeat()
        fleet.report_models(redis, worker.name, {queue: f"{queue}-v9"} if queue != "callbacks" else {})


def failed_ids(redis, queue="spam") -> list[str]:
    return FailedJobRegistry(queue, connection=redis).get_job_ids()


# -- who may see it --------------------------------------------------------------------------

def test_the_ops_page_is_for_admins_only(client, make_moderator):
    anonymous = client.get("/ops")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/moderate/login?next=/ops")
    make_moderator()
    log_in(client)
    refused = client.get("/ops")
    assert refused.status_code == 403 and "Only an admin" in refused.text
    assert post_form(client, "/ops/queues/spam/requeue").status_code == 403
    assert "Ops</a>" not in client.get("/moderate").text

    client.post("/moderate/logout", data={"csrf_token": csrf_token(client.get("/moderate").text)})
    make_moderator("ayu", role="admin", sites=())
    log_in(client, "ayu")
    page = client.get("/ops")
    assert page.status_code == 200 and '<h1>Ops</h1>' in page.text and 'aria-current="page">Ops</a>' in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"] and page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.text and "style=" not in page.text


# -- what it shows -------------------------------------------------------------------------------

def test_the_page_shows_queues_workers_failed_jobs_and_the_sweeper(ayu, site, comment_payload, work, redis, broken_spam):
    comment_id = submit(ayu, site, comment_payload)
    work()
    start_workers(redis, ["spam", "toxicity"])
    for _ in range(3):
        fleet.count_job(redis, "toxicity", "done")
    page = ayu.get("/ops").text

    spam_row = re.search(r'<tr id="queue-spam">.*?</tr>', page, re.S).group(0)
    assert re.search(r'class="num failed-count">1<', spam_row) and "Requeue all 1" in spam_row
    assert "· 3 done, 0 failed tries" in re.search(r'<tr id="queue-toxicity">.*?</tr>', page, re.S).group(0)
    assert "spam-worker.test" in page and "spam spam-v9" in page and "alive" in page
    assert "no live worker for the callbacks queue" in page and "1 failed job(s)" in page

    job = re.search(rf'<tr class="failed-job" id="job-spam-{comment_id}">.*?</tr>', page, re.S).group(0)
    assert "<summary class=\"error\">RuntimeError: model exploded</summary>" in job
    assert "Traceback (most recent call last)" in job and "<details>" in job
    assert "Last run: <strong>never</strong>" in page

    fleet.record_sweep(redis, {"pending": 2, "enqueued": 1})
    swept = ayu.get("/ops").text
    assert "never" not in re.search(r'<section id="sweeper">.*?</section>', swept, re.S).group(0)
    assert "enqueued 1" in swept


def test_stuck_comments_and_undelivered_callbacks_are_listed_and_replayed(
        app, ayu, site, comment_payload, work, redis, sessions):
    receiver = Receiver()
    try:
        register(app, receiver.url)
        stuck = submit(ayu, site, comment_payload, content="Kapan jembatan ini selesai dibangun?")
        with transaction(sessions) as session:
            session.execute(update(Comment).where(Comment.public_id == stuck)
                            .values(created_at=utcnow() - timedelta(minutes=5)))
        Queue("spam", connection=redis).empty()
        Queue("toxicity", connection=redis).empty()  # its jobs are lost: it stays pending
        decided = submit(ayu, site, comment_payload)
        work()
        receiver.plan = ["fail", "fail"]
        deliver = Worker([Queue("callbacks", connection=redis)], connection=redis)
        deliver.work(burst=True, with_scheduler=False)
        [event] = [e for e in all_events(sessions) if e.failed_at]

        page = ayu.get("/ops").text
        row = re.search(r'<tr class="stuck-comment">.*?</tr>', page, re.S).group(0)
        assert stuck in row and "poros-warta" in row and "5 min" in row
        assert decided not in re.search(r'<section id="stuck">.*?</section>', page, re.S).group(0)
        assert EMAIL not in page
        listed = re.search(rf'<tr class="callback-event" id="event-{event.event_id}">.*?</tr>', page, re.S).group(0)
        assert "HTTP 500" in listed and "poros-warta" in listed and decided in listed
        assert "1 comment(s) stuck in pending" in page and "1 callback(s) failed" in page

        replayed = post_form(ayu, "/ops/callbacks/replay", {"event_id": event.event_id})
        assert replayed.status_code == 303
        assert "Replayed 1 callback(s)." in ayu.get("/ops").text
        deliver.work(burst=True, with_scheduler=False)
        assert all(e.delivered_at and not e.failed_at for e in all_events(sessions))
        assert [e["comment"]["id"] for e in receiver.events()] == [decided]
        with sessions() as session:
            assert session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "callback_replay")) == "ayu"
    finally:
        receiver.close()


def all_events(sessions) -> list[CallbackEvent]:
    with sessions() as session:
        return session.scalars(select(CallbackEvent)).all()


def test_with_redis_down_the_page_says_so_and_still_shows_the_database(settings, site, make_moderator, spare_redis):
    app = create_app(replace(settings, redis_url=spare_redis.url))
    client = app.test_client()
    make_moderator("ayu", role="admin", sites=())
    log_in(client, "ayu")
    spare_redis.stop()
    page = client.get("/ops")
    assert page.status_code == 200
    assert "Redis is unreachable" in page.text and '<section id="stuck">' in page.text
    assert '<section id="callbacks">' in page.text
    refused = post_form(client, "/ops/queues/spam/requeue")
    assert refused.status_code == 503 and "nothing was changed" in refused.text
    status = app.test_cli_runner().invoke(args=["status"])
    assert status.exit_code == 1 and "Redis is unreachable" in status.output and "Stuck in pending: 0" in status.output


# -- requeue and delete ----------------------------------------------------------------------------

def test_a_requeued_check_decides_the_comment_by_its_scores_exactly_once(
        ayu, site, comment_payload, work, redis, sessions, broken_spam):
    comment_id = submit(ayu, site, comment_payload)
    work()
    status, reason, reasons, error, _ = comment_state(sessions, comment_id)
    assert (status, reason, error) == ("flagged", "check_failed", "RuntimeError after retries")
    assert failed_ids(redis) == [f"spam-{comment_id}"]

    assert ayu.post(f"/ops/queues/spam/jobs/spam-{comment_id}/requeue").status_code == 400, "no CSRF token"
    assert failed_ids(redis) == [f"spam-{comment_id}"]
    broken_spam()  # the fault is gone
    assert post_form(ayu, f"/ops/queues/spam/jobs/spam-{comment_id}/requeue").status_code == 303
    assert f"Requeued spam-{comment_id}." in ayu.get("/ops").text
    assert failed_ids(redis) == [] and Queue("spam", connection=redis).job_ids == [f"spam-{comment_id}"]
    work()

    status, reason, reasons, error, score = comment_state(sessions, comment_id)
    assert (status, reason, error) == ("approved", None, None) and score < reasons["checks"]["spam"]["thresholds"]["flag"]
    assert set(reasons["model_versions"]) == {"spam", "toxicity"}
    assert decisions(sessions, comment_id) == [("checks", "pending", "flagged"), ("checks", "flagged", "approved")]
    assert check_spam(comment_id) == {"skipped": "approved"}, "a retry changes nothing"
    again = post_form(ayu, f"/ops/queues/spam/jobs/spam-{comment_id}/requeue")
    assert again.status_code == 303 and "is no longer a failed job" in ayu.get("/ops").text
    assert len(decisions(sessions, comment_id)) == 2
    with sessions() as session:
        assert session.scalar(select(AuditEvent.details).where(AuditEvent.action == "jobs_requeued")) == {
            "queue": "spam", "count": 1, "job_ids": [f"spam-{comment_id}"]}


def test_requeue_all_and_delete_from_the_page(ayu, site, comment_payload, work, redis, sessions, broken_spam):
    kept, dropped = (submit(ayu, site, comment_payload, content=f"{BENIGN} {n}") for n in range(2))
    work()
    assert sorted(failed_ids(redis)) == sorted([f"spam-{kept}", f"spam-{dropped}"])
    broken_spam()
    assert post_form(ayu, f"/ops/queues/spam/jobs/spam-{dropped}/delete").status_code == 303
    assert failed_ids(redis) == [f"spam-{kept}"] and not Job.exists(f"spam-{dropped}", connection=redis)
    assert post_form(ayu, "/ops/queues/spam/requeue").status_code == 303
    assert "Requeued 1 failed spam job(s)." in ayu.get("/ops").text
    work()
    assert comment_state(sessions, kept)[0] == "approved"
    assert comment_state(sessions, dropped)[:2] == ("flagged", "check_failed"), "a deleted job decides nothing"
    assert post_form(ayu, "/ops/queues/nope/requeue").status_code == 404
    with sessions() as session:
        assert session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "ayu")
                               .order_by(AuditEvent.id)).all() == ["job_deleted", "jobs_requeued"]


def test_a_requeued_check_changes_nothing_once_a_moderator_acted(
        app, site, comment_payload, client, work, redis, sessions, make_moderator, broken_spam):
    comment_id = submit(client, site, comment_payload)
    work()
    with transaction(sessions) as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == comment_id))
        moderate(session, session.get(Moderator, make_moderator()), [comment], "reject", reason="off_topic")
    broken_spam()
    assert fleet.requeue_failed(redis, "spam") == 1
    work()
    status, reason, _, error, score = comment_state(sessions, comment_id)
    assert (status, reason, error, score) == ("rejected", "off_topic", "RuntimeError after retries", None)
    assert decisions(sessions, comment_id)[-1] == ("mira", "flagged", "rejected")
    assert failed_ids(redis) == [], "the job ran and did nothing"


def test_a_check_that_failed_open_is_scored_in_place_and_no_longer_degraded(
        app, site, comment_payload, client, work, redis, sessions, broken_spam):
    with app.app_context(), transaction(sessions) as session:
        poros = find_site(session, "poros-warta")
        set_policy(session, poros, Policy(fail={"spam": "open"}, allow_private_callbacks=True), "admin")
        set_callback(session, poros, "http://127.0.0.1:9/hook", "admin")
    comment_id = submit(client, site, comment_payload)
    work()
    status, _, reasons, error, _ = comment_state(sessions, comment_id)
    assert (status, reasons["degraded"], error) == ("approved", ["spam"], "RuntimeError after retries")
    broken_spam()
    assert fleet.requeue_failed(redis, "spam") == 1
    work()
    status, _, reasons, error, score = comment_state(sessions, comment_id)
    assert (status, error) == ("approved", None) and "degraded" not in reasons and score is not None
    assert reasons["checks"]["spam"]["score"] == round(score, 4)
    assert decisions(sessions, comment_id) == [("checks", "pending", "approved"), ("checks", "approved", "approved")]
    first, second = [event.payload for event in all_events(sessions)]
    assert (first["event"]["type"], second["event"]["type"]) == ("comment.approved", "comment.approved")
    assert first["scores"]["spam"] is None and second["scores"]["spam"] == score, "the site learns the late score"


def test_a_comment_published_while_its_check_was_down_is_held_when_the_late_score_says_so(
        site, comment_payload, client, work, redis, sessions, broken_spam):
    """Failing open publishes the comment unchecked; once the check runs after all and its
    score asks for a moderator, the comment is held (approved -> flagged, by the checks)."""
    with transaction(sessions) as session:
        policy = Policy(fail={"spam": "open"}, thresholds={"spam": {"flag": 0.0, "reject": 1.0}})
        set_policy(session, find_site(session, "poros-warta"), policy, "admin")
    comment_id = submit(client, site, comment_payload)
    work()
    broken_spam()
    assert fleet.requeue_failed(redis, "spam") == 1
    work()
    status, _, reasons, error, score = comment_state(sessions, comment_id)
    assert (status, error) == ("flagged", None) and "degraded" not in reasons and score is not None
    assert decisions(sessions, comment_id) == [("checks", "pending", "approved"), ("checks", "approved", "flagged")]
    assert failed_ids(redis) == []


def test_a_failure_recorded_while_the_comment_waits_for_its_other_check_is_replaced(
        app, site, comment_payload, client, work, redis, sessions, broken_spam):
    comment_id = submit(client, site, comment_payload)
    Queue("toxicity", connection=redis).empty()  # the toxicity check comes later
    work()
    assert comment_state(sessions, comment_id)[0::3] == ("pending", "RuntimeError after retries")
    broken_spam()
    assert fleet.requeue_failed(redis, "spam") == 1
    work()
    status, _, _, error, score = comment_state(sessions, comment_id)
    assert (status, error) == ("pending", None) and score is not None
    CheckQueues(redis, app.config["SETTINGS"]).enqueue(comment_id, ["toxicity"])  # as the sweeper does
    work()
    status, _, reasons, _, _ = comment_state(sessions, comment_id)
    assert status == "approved" and all("error" not in check for check in reasons["checks"].values())
    assert decisions(sessions, comment_id) == [("checks", "pending", "approved")]


def test_a_promotion_held_because_its_spam_check_failed_is_rejected_once_scored(
        site, comment_payload, client, work, redis, sessions, broken_spam):
    promo = "SLOT GACOR hari ini m4xw1n terus! daftar sekarang di PULAUWIN88, deposit 10rb langsung jp"
    comment_id = submit(client, site, comment_payload, content=promo)
    work()
    assert comment_state(sessions, comment_id)[:2] == ("flagged", "check_failed")
    broken_spam()
    assert fleet.requeue_failed(redis, "spam") == 1
    work()
    assert comment_state(sessions, comment_id)[:2] == ("rejected", "spam")
    assert decisions(sessions, comment_id) == [("checks", "pending", "flagged"), ("checks", "flagged", "rejected")]


# -- the commands --------------------------------------------------------------------------------

def test_requeue_failed_requeues_all_or_the_named_jobs(app, client, site, comment_payload, work, redis, sessions,
                                                      broken_spam):
    comment_id = submit(client, site, comment_payload)
    work()
    broken_spam()
    cli = app.test_cli_runner()
    missing = cli.invoke(args=["requeue-failed", "spam-nope"])
    assert missing.exit_code == 1 and "requeued 0 failed job(s)" in missing.output
    assert "not a failed job: spam-nope" in missing.output
    assert cli.invoke(args=["requeue-failed", "--queue", "toxicity"]).output == "requeued 0 failed job(s)\n"
    named = cli.invoke(args=["requeue-failed", f"spam-{comment_id}"])
    assert named.exit_code == 0 and named.output == "requeued 1 failed job(s)\n"
    work()
    assert comment_state(sessions, comment_id)[0] == "approved"
    assert cli.invoke(args=["requeue-failed"]).output == "requeued 0 failed job(s)\n"
    assert "--queue [spam|toxicity|callbacks]" in cli.invoke(args=["requeue-failed", "--help"]).output


def test_status_prints_the_ops_page_and_exits_1_when_something_needs_attention(
        app, client, site, comment_payload, work, redis, sessions, broken_spam):
    cli = app.test_cli_runner()
    start_workers(redis)
    healthy = cli.invoke(args=["status"])
    assert healthy.exit_code == 0, healthy.output
    assert healthy.output.rstrip().endswith("All is well.") and "spam-worker.test [spam] alive" in healthy.output
    assert "Sweeper's last run: never" in healthy.output and "Failed jobs: 0" in healthy.output

    comment_id = submit(client, site, comment_payload)
    work()
    stuck = submit(client, site, comment_payload, content="Kapan jembatan ini selesai dibangun?")
    with transaction(sessions) as session:
        session.execute(update(Comment).where(Comment.public_id == stuck)
                        .values(created_at=utcnow() - timedelta(minutes=2)))
    redis.delete("rq:worker:toxicity-worker.test")  # its key expired: gone
    sick = cli.invoke(args=["status"])
    assert sick.exit_code == 1
    assert f"spam       spam-{comment_id}: RuntimeError: model exploded" in sick.output
    assert f"{stuck} (poros-warta), pending 2 min" in sick.output and EMAIL not in sick.output
    assert sick.output.splitlines()[-1] == (
        "Needs attention: no live worker for the toxicity queue; 1 failed job(s); 1 comment(s) stuck in pending")
    assert "Exits 0 when all is well and 1 when something needs attention" in " ".join(
        cli.invoke(args=["status", "--help"]).output.split())
