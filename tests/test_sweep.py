"""Durable 202: a comment accepted while Redis is down is checked after it comes back."""
import time
from dataclasses import replace

from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from sqlalchemy import select

import workers.runtime
from moderation import create_app
from moderation.tables import Comment

BENIGN = "Perundingan seperti ini perlu waktu, semoga kedua pihak tetap berdialog."


def status_of(app, comment_id):
    with app.extensions["sessions"]() as session:
        return session.scalar(select(Comment.status).where(Comment.public_id == comment_id))


def test_redis_down_still_202_and_sweeper_enqueues_after_restart(settings, site, comment_payload, spare_redis):
    settings = replace(settings, redis_url=spare_redis.url)
    app = create_app(settings)
    workers.runtime.configure(settings)
    client = app.test_client()
    spare_redis.stop()

    started = time.monotonic()
    responses = [client.post("/api/v1/comments", json=comment_payload(content=f"{BENIGN} {n}"), headers=site["auth"]) for n in range(3)]
    assert time.monotonic() - started < 5, "an unreachable Redis must not stall submissions"
    assert [r.status_code for r in responses] == [202, 202, 202]
    ids = [r.get_json()["id"] for r in responses]
    assert {status_of(app, i) for i in ids} == {"pending"}

    spare_redis.start()  # back, and empty
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert "pending 3, re-enqueued 3" in result.output
    again = app.test_cli_runner().invoke(args=["sweep"])
    assert "re-enqueued 0" in again.output, "live jobs are not enqueued twice"

    redis = Redis.from_url(spare_redis.url)
    SimpleWorker([Queue("spam", connection=redis), Queue("toxicity", connection=redis)], connection=redis).work(burst=True)
    assert {status_of(app, i) for i in ids} == {"approved"}
    assert "pending 0" in app.test_cli_runner().invoke(args=["sweep"]).output


def test_sweeper_leaves_fresh_and_queued_comments_alone(app, client, site, comment_payload):
    client.post("/api/v1/comments", json=comment_payload(), headers=site["auth"])
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert "pending 1, re-enqueued 0, failed for good 0" in result.output


def test_a_failed_job_is_not_retried_forever_but_follows_the_fail_policy(app, client, site, comment_payload, redis, work):
    comment_id = client.post("/api/v1/comments", json=comment_payload(content=BENIGN), headers=site["auth"]).get_json()["id"]
    job = Job.fetch(f"toxicity-{comment_id}", connection=redis)
    Queue("toxicity", connection=redis).remove(job)
    job.set_status(JobStatus.FAILED)  # as if its worker died and its failure callback never ran
    work()  # the spam check still runs
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert "re-enqueued 0, failed for good 1" in result.output
    body = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
    assert body["status"] == "flagged" and body["reason"] == "check_failed"


def test_a_job_failed_only_because_the_database_was_down_runs_again(app, client, site, comment_payload, redis, work):
    comment_id = client.post("/api/v1/comments", json=comment_payload(content=BENIGN), headers=site["auth"]).get_json()["id"]
    job = Job.fetch(f"toxicity-{comment_id}", connection=redis)
    Queue("toxicity", connection=redis).remove(job)
    job.set_status(JobStatus.FAILED)
    job.failed_job_registry.add(job, ttl=600)
    job.meta["storage_down"] = True  # what the failure callback writes after a last try against a stopped database
    job.save_meta()
    work()
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert "re-enqueued 1, failed for good 0" in result.output
    assert comment_id not in Queue("toxicity", connection=redis).failed_job_registry.get_job_ids()
    work()
    body = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
    assert body["status"] == "approved" and body["reason"] != "check_failed", body
