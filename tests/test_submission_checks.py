"""The cheap checks before anything is queued (thread, parent, ban, duplicate,
Idempotency-Key, flood limits, honeypot), and one comment after the fact (DELETE, PATCH)."""
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue
from sqlalchemy import func, select, update

from conftest import free_port
from moderation import create_app
from moderation.submissions import accept_comment, identify_author
from moderation.db import transaction
from moderation.policy import FloodLimits, Policy, set_policy
from moderation.schemas import CommentIn
from moderation.sites import SiteRef, create_site, find_site
from moderation.tables import Article, AuditEvent, Ban, CheckResult, Comment, utcnow

ROOT = Path(__file__).resolve().parent.parent
BENIGN = "Semoga dialog kedua negara membawa perdamaian yang nyata bagi semua."
PROMO = "𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 hari ini m4xw1n terus! daftar sekarang di PULAUWIN88, deposit 10rb langsung jp"
OPEN = Policy(flood=FloodLimits(per_site=0, per_ip=0, per_email=0))


def post(client, site, payload, **headers):
    return client.post("/api/v1/comments", json=payload, headers={**site["auth"], **headers})


def stored(app, **where) -> list[Comment]:
    with app.extensions["sessions"]() as session:
        query = select(Comment).where(*(getattr(Comment, name) == value for name, value in where.items()))
        return session.scalars(query.order_by(Comment.id)).all()


def count_comments(app) -> int:
    with app.extensions["sessions"]() as session:
        return session.scalar(select(func.count()).select_from(Comment))


def use_policy(app, site, policy: Policy) -> None:
    with transaction(app.extensions["sessions"]) as session:
        set_policy(session, find_site(session, site["slug"]), policy, actor="test")


def change_article(app, article_id: str, **values) -> None:
    with transaction(app.extensions["sessions"]) as session:
        session.execute(update(Article).where(Article.external_id == article_id).values(**values))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"] == code and body["message"] and set(body) == {"error", "message", "fields"}
    return body


# -- thread, parent, ban ----------------------------------------------------------------------


def test_reply_to_a_parent_that_is_not_published_is_403(app, client, site, comment_payload, work):
    parent = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    body = assert_error(post(client, site, comment_payload(content="Setuju.", parent_id=parent)), 403,
                        "parent_not_approved")
    assert body["fields"] == {"parent_id": "Not published."}
    assert count_comments(app) == 1
    work()
    assert post(client, site, comment_payload(content="Setuju.", parent_id=parent)).status_code == 202


@pytest.mark.parametrize("closing", [
    {"is_open": False},
    {"closes_at": utcnow() - timedelta(minutes=1)},
    {"created_at": utcnow() - timedelta(days=8)},  # the policy closes threads after 7 days
])
def test_a_closed_thread_refuses_comments_with_403(app, client, site, comment_payload, closing):
    use_policy(app, site, OPEN.model_copy(update={"auto_close_days": 7}))
    assert post(client, site, comment_payload(content=BENIGN)).status_code == 202  # the thread is cached now
    change_article(app, "rusia-as-dialog", **closing)
    body = assert_error(post(client, site, comment_payload(content="Komentar lain.")), 403, "thread_closed")
    assert body["message"] == "This thread is closed to new comments."
    assert count_comments(app) == 1
    change_article(app, "rusia-as-dialog", is_open=True, closes_at=utcnow() + timedelta(days=1), created_at=utcnow())
    assert post(client, site, comment_payload(content="Komentar lain.")).status_code == 202  # reopened at once


def test_a_banned_author_gets_403_with_a_code_only(app, client, site, comment_payload, work):
    post(client, site, comment_payload(content=BENIGN))
    [first] = stored(app)
    with transaction(app.extensions["sessions"]) as session:
        session.add(Ban(site_id=first.site_id, author_fingerprint=first.author_fingerprint, created_by="mira"))
    body = assert_error(post(client, site, comment_payload(content="Saya kembali.")), 403, "author_banned")
    assert body["message"] == "This comment cannot be accepted." and body["fields"] == {}
    assert "ban" not in json.dumps(body).replace("author_banned", "")
    other = post(client, site, comment_payload(content="Saya kembali.", author_email="ani@example.id"))
    assert other.status_code == 202
    assert count_comments(app) == 2


def test_a_lifted_expired_or_other_sites_ban_does_not_refuse(app, client, site, comment_payload):
    post(client, site, comment_payload(content=BENIGN))
    [first] = stored(app)
    with transaction(app.extensions["sessions"]) as session:
        other_site, _ = create_site(session, "kabar-lain", "Kabar Lain")
        for values in ({"lifted_at": utcnow()}, {"expires_at": utcnow() - timedelta(hours=1)},
                       {"site_id": other_site.id}):
            session.add(Ban(**{"site_id": first.site_id, "author_fingerprint": first.author_fingerprint,
                               "created_by": "mira", **values}))
    assert post(client, site, comment_payload(content="Saya kembali.")).status_code == 202


# -- duplicates -------------------------------------------------------------------------------


def test_the_same_author_posting_the_same_text_twice_is_409(app, client, site, comment_payload):
    first = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    again = comment_payload(content="  SEMOGA   dialog kedua negara membawa perdamaian yang nyata bagi semua.")
    body = assert_error(post(client, site, again), 409, "duplicate")
    assert body["fields"]["duplicate_of"] == first and f"/api/v1/comments/{first}" in body["message"]
    assert count_comments(app) == 1
    assert post(client, site, comment_payload(content=BENIGN, author_email="ani@example.id")).status_code == 202
    assert post(client, site, comment_payload(content=BENIGN, article_id="banjir-demak")).status_code == 202
    [row] = stored(app, public_id=first)
    assert len(row.content_digest) == 64


def test_a_withdrawn_comment_does_not_block_posting_it_again(app, client, site, comment_payload):
    first = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    assert client.delete(f"/api/v1/comments/{first}", headers=site["auth"]).status_code == 204
    assert stored(app, public_id=first)[0].content_digest is None
    assert post(client, site, comment_payload(content=BENIGN)).status_code == 202


# -- Idempotency-Key ----------------------------------------------------------------------------


def test_a_replayed_idempotency_key_gets_the_first_answer_and_stores_nothing(app, client, site, comment_payload):
    first = post(client, site, comment_payload(content=BENIGN), **{"Idempotency-Key": "order-7f3a"})
    again = post(client, site, comment_payload(content=BENIGN), **{"Idempotency-Key": "order-7f3a"})
    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json() and again.headers["Location"] == first.headers["Location"]
    assert count_comments(app) == 1
    assert stored(app)[0].idempotency_key == "order-7f3a"
    other = post(client, site, comment_payload(content=BENIGN, article_id="banjir-demak"),
                 **{"Idempotency-Key": "order-7f3b"})
    assert other.status_code == 202 and other.get_json()["id"] != first.get_json()["id"]


def test_an_idempotency_key_sent_with_another_comment_is_422(app, client, site, comment_payload):
    post(client, site, comment_payload(content=BENIGN), **{"Idempotency-Key": "k-1"})
    body = assert_error(post(client, site, comment_payload(content="Lain."), **{"Idempotency-Key": "k-1"}), 422,
                        "idempotency_key_reused")
    assert "Idempotency-Key" in body["fields"]
    assert count_comments(app) == 1


@pytest.mark.parametrize("key", ["x" * 201, "kunci-é", "tab\there", ""])
def test_a_bad_idempotency_key_is_422(app, client, site, comment_payload, key):
    body = assert_error(post(client, site, comment_payload(), **{"Idempotency-Key": key}), 422, "invalid_fields")
    assert "Idempotency-Key" in body["fields"]
    assert count_comments(app) == 0


def test_two_racing_requests_with_one_key_store_one_comment(app, site, comment_payload):
    barrier, answers = threading.Barrier(4), []

    def send():
        client = app.test_client()
        barrier.wait()
        answers.append(post(client, site, comment_payload(content=BENIGN), **{"Idempotency-Key": "race"}))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [answer.status_code for answer in answers] == [202] * 4
    assert len({answer.get_json()["id"] for answer in answers}) == 1
    assert count_comments(app) == 1


def test_a_key_that_lost_the_race_to_the_unique_index_is_a_replay(app, site, comment_payload):
    """The path no pre-check covers: both requests passed it, the index refuses the second."""
    data = CommentIn.model_validate(comment_payload(content=BENIGN))
    vault = app.extensions["vault"]
    with app.extensions["sessions"]() as session:
        ref = SiteRef(find_site(session, site["slug"]).id, site["slug"])
    first = accept_comment(app.extensions["engine"], ref, data, vault, {}, idempotency_key="same")
    second = accept_comment(app.extensions["engine"], ref, data, vault, {}, idempotency_key="same")
    assert (second.id, second.replayed, first.replayed) == (first.id, True, False)
    assert second.article_id == data.article_id
    assert count_comments(app) == 1
    assert identify_author(vault, data).fingerprint == stored(app)[0].author_fingerprint


def test_an_idempotent_replay_needs_no_redis(settings, spare_redis, site, comment_payload):
    app = create_app(replace(settings, redis_url=spare_redis.url))
    client = app.test_client()
    first = post(client, site, comment_payload(content=BENIGN), **{"Idempotency-Key": "no-redis"})
    spare_redis.stop()
    again = post(client, site, comment_payload(content=BENIGN), **{"Idempotency-Key": "no-redis"})
    assert first.status_code == again.status_code == 202 and again.get_json() == first.get_json()
    assert count_comments(app) == 1


# -- flood limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("scope, limits, vary", [
    ("email", {"per_email": 2}, {"user_ip": "10.0.0.{n}"}),
    ("ip", {"per_ip": 2}, {"author_email": "pembaca{n}@example.id"}),
    ("site", {"per_site": 2}, {"author_email": "pembaca{n}@example.id", "user_ip": "10.0.0.{n}"}),
])
def test_a_flood_gets_429_with_retry_after_and_stores_nothing(app, client, site, comment_payload, scope, limits,
                                                             vary):
    use_policy(app, site, Policy(flood=FloodLimits(**{"per_site": 0, "per_ip": 0, "per_email": 0, **limits})))

    def payload(n):
        fields = {"user_ip": "10.0.0.1", **{name: value.format(n=n) for name, value in vary.items()}}
        return comment_payload(content=f"{BENIGN} Nomor {n}.", **fields)

    assert [post(client, site, payload(n)).status_code for n in range(2)] == [202, 202]
    refused = post(client, site, payload(2))
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert count_comments(app) == 2
    if scope != "site":  # another author or address is not held back
        assert post(client, site, comment_payload(content="Yang lain.", author_email="lain@example.id",
                                                  user_ip="10.9.9.9")).status_code == 202


def test_zero_means_no_flood_limit(app, client, site, comment_payload):
    use_policy(app, site, OPEN)
    answers = [post(client, site, comment_payload(content=f"{BENIGN} {n}", user_ip="10.0.0.1")).status_code
               for n in range(8)]
    assert answers == [202] * 8


def test_flood_counters_hold_fingerprints_only(app, client, site, comment_payload, redis):
    post(client, site, comment_payload(content=BENIGN, user_ip="10.1.2.3"))
    keys = [key.decode() for key in redis.keys("saring:flood:*")]
    assert len(keys) == 3 and all(redis.ttl(key) > 0 for key in keys)
    assert not any("budi" in key or "10.1.2.3" in key for key in keys)


def test_while_redis_is_down_comments_get_through(settings, spare_redis, site, comment_payload, caplog):
    app = create_app(replace(settings, redis_url=spare_redis.url))
    use_policy(app, site, Policy(flood=FloodLimits(per_site=1, per_ip=1, per_email=1)))
    client = app.test_client()
    assert post(client, site, comment_payload(content=BENIGN)).status_code == 202
    spare_redis.stop()
    answers = [post(client, site, comment_payload(content=f"{BENIGN} {n}")).status_code for n in range(3)]
    assert answers == [202] * 3
    assert [c.status for c in stored(app)] == ["pending"] * 4  # the sweeper enqueues them later
    warnings = [r.getMessage() for r in caplog.records if "flood limits not applied" in r.getMessage()]
    assert warnings and not any("budi" in message or "@" in message for message in warnings)


def start_gunicorn(settings, port: int) -> subprocess.Popen:
    env = {**os.environ, "MODERATION_SECRET_KEY": settings.secret_key,
           "MODERATION_EMAIL_KEYS": ",".join(settings.email_keys),
           "MODERATION_FINGERPRINT_KEY": settings.fingerprint_key, "MODERATION_DATABASE_URL": settings.database_url,
           "MODERATION_REDIS_URL": settings.redis_url, "MODERATION_ENV": "test"}
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
                             "moderation:create_app()"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def request(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, json.dumps(body) if body else None,
                           {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def wait_until_serving(process: subprocess.Popen, port: int, site_slug: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited"
        try:
            if request(port, "GET", f"/api/v1/sites/{site_slug}/articles/x/comments")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start")


def test_flood_limits_hold_across_two_web_processes(app, settings, site, comment_payload):
    limit, extra = 6, 4
    use_policy(app, site, Policy(flood=FloodLimits(per_site=limit, per_ip=0, per_email=0)))
    ports = [free_port(), free_port()]
    processes = [start_gunicorn(settings, port) for port in ports]
    try:
        for process, port in zip(processes, ports):
            wait_until_serving(process, port, site["slug"])
        answers = []
        for n in range(limit + extra):  # alternately to each process
            payload = comment_payload(content=f"{BENIGN} Nomor {n}.", author_email=f"pembaca{n}@example.id")
            status, headers, _ = request(ports[n % 2], "POST", "/api/v1/comments", payload, site["auth"])
            answers.append((ports[n % 2], status, headers.get("Retry-After")))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
    accepted = [port for port, status, _ in answers if status == 202]
    refused = [retry for _, status, retry in answers if status == 429]
    assert len(accepted) == limit and set(accepted) == set(ports)
    assert len(refused) == extra and all(1 <= int(retry) <= 60 for retry in refused)
    assert count_comments(app) == limit


# -- honeypot ---------------------------------------------------------------------------------


def test_a_filled_honeypot_is_accepted_like_any_comment_and_rejected_as_spam(app, client, site, comment_payload,
                                                                            redis):
    real = post(client, site, comment_payload(content=BENIGN, honeypot=""))
    bot = post(client, site, comment_payload(content="Promo murah meriah.", honeypot="https://spam.example"))
    assert real.status_code == bot.status_code == 202
    assert set(bot.get_json()) == set(real.get_json()) == {"id", "status", "links"}
    assert bot.get_json()["status"] == "pending"
    [caught] = stored(app, public_id=bot.get_json()["id"])
    assert (caught.status, caught.reason, caught.decided_by) == ("rejected", "spam", "checks")
    assert caught.reasons["rule"] == "honeypot"
    assert [Queue(q, connection=redis).count for q in ("spam", "toxicity")] == [1, 1]  # the real comment's only


# -- DELETE and PATCH -------------------------------------------------------------------------


def test_delete_withdraws_a_comment_from_its_thread(app, client, site, comment_payload, work):
    comment_id = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    work()
    thread = f"/api/v1/sites/{site['slug']}/articles/rusia-as-dialog/comments"
    assert client.get(thread).get_json()["total"] == 1
    assert client.delete(f"/api/v1/comments/{comment_id}", headers=site["auth"]).status_code == 204
    assert client.get(thread).get_json()["total"] == 0
    assert client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()["status"] == "withdrawn"
    assert client.delete(f"/api/v1/comments/{comment_id}", headers=site["auth"]).status_code == 204  # idempotent
    with app.extensions["sessions"]() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.to_status == "withdrawn")).all()
    assert [(e.actor, e.from_status) for e in events] == [("site", "approved")]


def test_delete_and_patch_reach_only_the_sites_own_comments(app, client, site, comment_payload):
    comment_id = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    with transaction(app.extensions["sessions"]) as session:
        _, other_key = create_site(session, "kabar-lain", "Kabar Lain")
    other = {"Authorization": f"Bearer {other_key}"}
    assert_error(client.delete(f"/api/v1/comments/{comment_id}", headers=other), 404, "not_found")
    assert_error(client.patch(f"/api/v1/comments/{comment_id}", json={"content": "x"}, headers=other), 404,
                 "not_found")
    assert_error(client.delete("/api/v1/comments/nope", headers=site["auth"]), 404, "not_found")
    assert client.delete(f"/api/v1/comments/{comment_id}").status_code == 401
    assert stored(app)[0].status == "pending" and stored(app)[0].content == BENIGN


def test_an_edit_that_adds_gambling_spam_is_checked_again(app, client, site, comment_payload, work, redis):
    comment_id = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    work()
    url = f"/api/v1/comments/{comment_id}"
    assert client.get(url, headers=site["auth"]).get_json()["status"] == "approved"
    response = client.patch(url, json={"content": f"{BENIGN} {PROMO}"}, headers=site["auth"])
    assert response.status_code == 202 and response.get_json()["status"] == "pending"
    body = client.get(url, headers=site["auth"]).get_json()
    assert body["status"] == "pending" and body["edited_at"] and body["scores"] == {"spam": None, "toxicity": None}
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(CheckResult)) == 0
        event = session.scalars(select(AuditEvent).where(AuditEvent.to_status == "pending")).one()
    assert (event.actor, event.reason, event.from_status) == ("site", "edited", "approved")
    for check in ("spam", "toxicity"):  # queued afresh, without the finished run's result TTL
        assert redis.ttl(f"rq:job:{check}-{comment_id}") == -1
        assert Queue(check, connection=redis).job_ids == [f"{check}-{comment_id}"]
    work()  # the same job ids as the first run, which finished
    body = client.get(url, headers=site["auth"]).get_json()
    assert body["status"] in {"rejected", "flagged"} and body["reason"] == "spam"
    assert body["scores"]["spam"] is not None and body["scores"]["toxicity"] is not None


def test_an_edit_of_a_pending_comment_is_checked_once(app, client, site, comment_payload, work):
    comment_id = post(client, site, comment_payload(content=PROMO)).get_json()["id"]
    url = f"/api/v1/comments/{comment_id}"
    assert client.patch(url, json={"content": BENIGN}, headers=site["auth"]).status_code == 202
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(AuditEvent.action).where(AuditEvent.reason == "edited")) == "edited"
    work()
    body = client.get(url, headers=site["auth"]).get_json()
    assert body["status"] == "approved" and body["edited_at"]


def test_a_withdrawn_comment_cannot_be_edited(app, client, site, comment_payload):
    comment_id = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    client.delete(f"/api/v1/comments/{comment_id}", headers=site["auth"])
    assert_error(client.patch(f"/api/v1/comments/{comment_id}", json={"content": "Baru."}, headers=site["auth"]),
                 409, "comment_withdrawn")
    assert stored(app)[0].content == BENIGN


@pytest.mark.parametrize("body, field", [
    ({"content": "  "}, "content"), ({}, "content"), ({"content": "x" * 65526}, "content"),
    ({"content": "ok", "author_name": "x"}, "author_name"), ({"content": 5}, "content"),
])
def test_a_bad_edit_is_422_and_changes_nothing(app, client, site, comment_payload, body, field):
    comment_id = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    response = client.patch(f"/api/v1/comments/{comment_id}", json=body, headers=site["auth"])
    assert field in assert_error(response, 422, "invalid_fields")["fields"]
    assert stored(app)[0].content == BENIGN and stored(app)[0].edited_at is None


def test_an_edit_into_a_duplicate_is_409(app, client, site, comment_payload):
    post(client, site, comment_payload(content=BENIGN))
    second = post(client, site, comment_payload(content="Komentar kedua.")).get_json()["id"]
    response = client.patch(f"/api/v1/comments/{second}", json={"content": BENIGN}, headers=site["auth"])
    assert_error(response, 409, "duplicate")
    assert stored(app, public_id=second)[0].content == "Komentar kedua."
