"""Signed decision callbacks against a real local HTTP receiver that fails, hangs and
recovers: every decision arrives signed, and once repeats are dropped by event id, exactly
once; exhausted deliveries are failed and replayable; secrets rotate with an overlap; the
SSRF guard refuses private destinations; a Redis outage only delays delivery."""
import hashlib
import hmac
import json
import threading
import time
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry
from sqlalchemy import select, update

import workers.runtime
from moderation import create_app
from moderation.db import transaction
from moderation.policy import Policy, set_policy
from moderation.queue import QueueFilter
from moderation.receivers import RefusedDestination, resolve_destination, rotate_secret, set_callback, signing_secrets
from moderation.review import apply_rule, moderate
from moderation.sites import find_site
from moderation.tables import AuditEvent, CallbackEvent, CallbackSecret, Comment, Moderator
from moderation.transitions import transition
from workers.deliveries import deliver

EMAIL = "budi.santoso@example.co.id"
BENIGN = "Perundingan seperti ini perlu waktu, semoga kedua pihak tetap berdialog."
TIMEOUT = 0.5


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a site runs (the README's snippet)."""
    pairs = [item.split("=", 1) for item in header.split(",")]
    timestamp = next(value for key, value in pairs if key == "t")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= tolerance
    return fresh and any(key == "v1" and hmac.compare_digest(value, expected) for key, value in pairs)


class Receiver:
    """A site's callback endpoint on 127.0.0.1, scripted: each request takes the next
    planned answer ("ok", "fail": 500, "hang": answer after the timeout, "redirect")."""

    def __init__(self):
        self.plan, self.requests, self.lock = [], [], threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    answer = receiver.plan.pop(0) if receiver.plan else "ok"
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "answer": answer})
                if answer == "hang":
                    time.sleep(TIMEOUT + 0.3)
                status = {"ok": 200, "hang": 200, "fail": 500, "redirect": 302}[answer]
                self.send_response(status)
                if answer == "redirect":
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # a hung request's client is gone
        self.url = f"http://127.0.0.1:{self.server.server_port}/saring/hook?token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict]:
        return [request for request in self.requests if request["answer"] == "ok"]

    def events(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.accepted()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def settings(settings):
    return replace(settings, callback_timeout=TIMEOUT, callback_retries=(0, 0))


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def register(app, receiver_url, allow_private=True, slug="poros-warta") -> str:
    """Point the site at the receiver (its policy allows a private address); the secret."""
    with app.app_context(), transaction(app.extensions["sessions"]) as session:
        site = find_site(session, slug)
        set_policy(session, site, Policy(allow_private_callbacks=allow_private), "admin")
        return set_callback(session, site, receiver_url, "admin")


@pytest.fixture
def hooked(app, site, receiver):
    """The site's callback points at the receiver; its signing secret."""
    return register(app, receiver.url)


@pytest.fixture
def deliver_all(redis):
    def run():
        SimpleWorker([Queue("callbacks", connection=redis)], connection=redis).work(burst=True, with_scheduler=False)

    return run


def post(client, site, comment_payload, **overrides) -> str:
    response = client.post("/api/v1/comments", json=comment_payload(**overrides), headers=site["auth"])
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def stored_events(app) -> list[CallbackEvent]:
    with app.extensions["sessions"]() as session:
        return session.scalars(select(CallbackEvent).order_by(CallbackEvent.id)).all()


def comments_by_id(session, ids) -> list[Comment]:
    found = {c.public_id: c for c in session.scalars(select(Comment).where(Comment.public_id.in_(ids)))}
    return [found[i] for i in ids]


def test_every_decision_arrives_signed_and_once_despite_failures_and_a_hang(
        app, client, site, comment_payload, work, flag_comments, make_moderator, redis, receiver, hooked, deliver_all):
    first, second = (post(client, site, comment_payload, content=f"{BENIGN} {n}") for n in range(2))
    held, spam = flag_comments(["Tolong jelaskan sumber data di paragraf kedua.", "Semua pihak harus menahan diri."])
    assert not receiver.requests, "the checks never wait for a receiver"
    assert {job.args for job in Queue("callbacks", connection=redis).get_jobs()} == {
        (event.event_id,) for event in stored_events(app)}, "a delivery job carries the event id only"

    moderator_id = make_moderator()
    with transaction(app.extensions["sessions"]) as session:
        moderator = session.get(Moderator, moderator_id)
        moderate(session, moderator, comments_by_id(session, [held]), "approve")
        moderate(session, moderator, comments_by_id(session, [first]), "reject", reason="off_topic")  # a reversal
        apply_rule(session, moderator, QueueFilter(status="flagged", site="poros-warta"), "spam", expect=1)
        transition(session, comments_by_id(session, [second])[0], "withdrawn", actor="site:poros-warta")
        transition(session, comments_by_id(session, [first])[0], "pending", actor="site:poros-warta")  # edited

    receiver.plan = ["fail", "hang", "fail", "redirect"]
    deliver_all()

    events = stored_events(app)
    assert [(e.payload["comment"]["id"], e.kind) for e in events] == [
        (first, "comment.approved"), (second, "comment.approved"), (held, "comment.flagged"), (spam, "comment.flagged"),
        (held, "comment.approved"), (first, "comment.rejected"), (spam, "comment.rejected"),
        (second, "comment.withdrawn"), (first, "comment.pending"),
    ]
    assert all(e.delivered_at and not e.failed_at for e in events)
    errors = {e.last_error for e in events if e.attempts > 1}
    assert errors == {"HTTP 500", "timed out", "HTTP 302 (redirects are not followed)"}

    assert len(receiver.requests) == len(events) + 4, "each failure was retried"
    for request in receiver.requests:
        headers, body = request["headers"], request["body"]
        assert verify(hooked, headers["Saring-Signature"], body)
        assert headers["Saring-Event-Id"] == json.loads(body)["event"]["id"]
        assert headers["User-Agent"] == "Saring-Callbacks/1" and headers["Content-Type"] == "application/json"
        assert EMAIL.encode() not in body and b"author_email" not in body and b"ip_fingerprint" not in body
    seen = {}
    for event in receiver.events():  # the site drops repeats by event id
        seen.setdefault(event["event"]["id"], event)
    assert sorted(seen) == sorted(e.event_id for e in events)

    approved = seen[events[0].event_id]
    assert approved["event"]["type"] == "comment.approved"
    assert approved["comment"]["content"] == f"{BENIGN} 0" and approved["comment"]["decided_by"] == "checks"
    assert approved["comment"]["site"] == "poros-warta" and approved["comment"]["article_id"] == "rusia-as-dialog"
    assert set(approved["scores"]) == {"spam", "toxicity"} and set(approved["model_versions"]) == {"spam", "toxicity"}
    assert approved["reasons"]["rule"] and approved["policy_version"] == 1
    assert seen[events[5].event_id]["comment"]["decided_by"] == "mira"


def test_exhausted_deliveries_fail_are_listed_and_replayed(
        app, client, site, comment_payload, make_moderator, redis, receiver, hooked, deliver_all):
    comment_id = post(client, site, comment_payload)
    with transaction(app.extensions["sessions"]) as session:
        moderate(session, session.get(Moderator, make_moderator()), comments_by_id(session, [comment_id]), "approve")
    receiver.plan = ["fail", "fail", "fail"]
    deliver_all()
    [event] = stored_events(app)
    assert event.failed_at and not event.delivered_at and event.attempts == 3 and event.last_error == "HTTP 500"
    assert FailedJobRegistry("callbacks", connection=redis).get_job_ids() == [f"deliver-{event.event_id}"]

    listed = client.get("/api/v1/site/callbacks/events?state=failed", headers=site["auth"]).get_json()
    assert [e["id"] for e in listed["events"]] == [event.event_id] and listed["total"] == 1
    assert listed["events"][0]["last_error"] == "HTTP 500" and "content" not in json.dumps(listed)
    assert client.get("/api/v1/site/callbacks", headers=site["auth"]).get_json()["deliveries"] == {
        "pending": 0, "delivered": 0, "failed": 1}

    replayed = client.post("/api/v1/site/callbacks/events/replay", json={"state": "failed"}, headers=site["auth"])
    assert replayed.get_json() == {"replayed": [event.event_id], "skipped": {}}
    deliver_all()
    [event] = stored_events(app)
    assert event.delivered_at and not event.failed_at and event.attempts == 4
    assert [e["event"]["id"] for e in receiver.events()] == [event.event_id]
    assert FailedJobRegistry("callbacks", connection=redis).get_job_ids() == []
    again = client.post("/api/v1/site/callbacks/events/replay", json={"event_ids": [event.event_id, "evt_nope"]},
                        headers=site["auth"]).get_json()
    assert again == {"replayed": [], "skipped": {event.event_id: "already delivered", "evt_nope": "unknown event"}}
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(AuditEvent.details).where(AuditEvent.action == "callback_replay")) == {
            "count": 1, "event_ids": [event.event_id]}


def test_a_rotated_secret_signs_alongside_the_new_one_until_the_overlap_ends(
        app, client, site, comment_payload, make_moderator, receiver, hooked, deliver_all):
    rotated = client.post("/api/v1/site/callbacks/rotate-secret", json={"overlap_hours": 1}, headers=site["auth"])
    new = rotated.get_json()["secret"]
    assert new.startswith("whsec_") and new != hooked
    shown = client.get("/api/v1/site/callbacks", headers=site["auth"]).get_json()
    assert [s["prefix"] for s in shown["secrets"]] == [new[:10], hooked[:10]]
    assert shown["secrets"][0]["expires_at"] is None and shown["secrets"][1]["expires_at"]
    assert new not in json.dumps(shown) and hooked not in json.dumps(shown)

    moderator_id = make_moderator()
    ids = [post(client, site, comment_payload, content=f"{BENIGN} {n}") for n in range(2)]

    def approve(comment_id):
        with transaction(app.extensions["sessions"]) as session:
            moderate(session, session.get(Moderator, moderator_id), comments_by_id(session, [comment_id]), "approve")
        deliver_all()
        return receiver.accepted()[-1]

    during = approve(ids[0])
    assert during["headers"]["Saring-Signature"].count("v1=") == 2
    assert verify(new, during["headers"]["Saring-Signature"], during["body"])
    assert verify(hooked, during["headers"]["Saring-Signature"], during["body"])

    with transaction(app.extensions["sessions"]) as session:  # an hour later
        session.execute(update(CallbackSecret).where(CallbackSecret.expires_at.is_not(None))
                        .values(expires_at=CallbackSecret.created_at))
    after = approve(ids[1])
    assert after["headers"]["Saring-Signature"].count("v1=") == 1
    assert verify(new, after["headers"]["Saring-Signature"], after["body"])
    assert not verify(hooked, after["headers"]["Saring-Signature"], after["body"])
    assert not verify(new, after["headers"]["Saring-Signature"].replace("t=", "t=1"), after["body"]), "stale"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "http://192.168.1.1/", "http://169.254.169.254/latest",
    "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook", "http://[fe80::1]/", "http://localhost:8080/hook",
    "http://0.0.0.0/", "http://224.0.0.1/", "http://100.64.0.1/", "http://[64:ff9b::a00:1]/",
])
def test_the_ssrf_guard_refuses_private_destinations(url):
    with pytest.raises(RefusedDestination, match="not a public address"):
        resolve_destination(url)
    assert resolve_destination(url, allow_private=True).addresses


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/hook", "file:///etc/passwd", "gopher://93.184.216.34/",
                                 "http://user:pw@93.184.216.34/", "https:///nohost", "http://93.184.216.34:99999/"])
def test_the_ssrf_guard_refuses_other_schemes_and_odd_urls(url):
    with pytest.raises(RefusedDestination):
        resolve_destination(url, allow_private=True)


def test_a_public_address_is_connected_to_as_resolved():
    destination = resolve_destination("https://93.184.216.34/saring?x=1")
    assert (destination.host, destination.port, destination.target, destination.addresses) == (
        "93.184.216.34", 443, "/saring?x=1", ("93.184.216.34",))


def test_the_api_refuses_a_private_url_without_the_policy_and_checks_again_at_delivery(
        app, client, site, comment_payload, make_moderator, receiver, hooked, deliver_all):
    with app.app_context(), transaction(app.extensions["sessions"]) as session:
        set_policy(session, find_site(session, "poros-warta"), Policy(allow_private_callbacks=False), "admin")
    refused = client.put("/api/v1/site/callbacks", json={"url": "http://127.0.0.1:9/hook"}, headers=site["auth"])
    assert refused.status_code == 422 and "not a public address" in refused.get_json()["fields"]["url"]
    scheme = client.put("/api/v1/site/callbacks", json={"url": "javascript:alert(1)"}, headers=site["auth"])
    assert scheme.status_code == 422 and "http and https" in scheme.get_json()["fields"]["url"]

    comment_id = post(client, site, comment_payload)  # the URL registered earlier is private now
    with transaction(app.extensions["sessions"]) as session:
        moderate(session, session.get(Moderator, make_moderator()), comments_by_id(session, [comment_id]), "approve")
    deliver_all()
    [event] = stored_events(app)
    assert event.failed_at and "not a public address" in event.last_error and not receiver.requests


def test_a_site_manages_its_callback_through_the_api(app, client, site, receiver):
    with app.app_context(), transaction(app.extensions["sessions"]) as session:
        set_policy(session, find_site(session, "poros-warta"), Policy(allow_private_callbacks=True), "admin")
    first = client.put("/api/v1/site/callbacks", json={"url": receiver.url}, headers=site["auth"]).get_json()
    assert first["url"] == receiver.url and first["secret"].startswith("whsec_")
    again = client.put("/api/v1/site/callbacks", json={"url": receiver.url + "&v=2"}, headers=site["auth"]).get_json()
    assert "secret" not in again and [s["prefix"] for s in again["secrets"]] == [first["secret"][:10]]
    assert client.put("/api/v1/site/callbacks", json={"url": None}, headers=site["auth"]).get_json()["url"] is None
    assert client.get("/api/v1/site/callbacks").status_code == 401
    assert client.post("/api/v1/site/callbacks/events/replay", json={}, headers=site["auth"]).status_code == 422
    assert client.get("/api/v1/site/callbacks/events?state=lost", headers=site["auth"]).status_code == 422
    with app.extensions["sessions"]() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("callback%"))
                                 .order_by(AuditEvent.id)).all()
        details = session.scalars(select(AuditEvent.details).where(AuditEvent.action == "callback_url_set")).all()
    assert actions == ["callback_url_set", "callback_secret_rotated", "callback_url_set", "callback_url_removed"]
    assert details == [{"host": "127.0.0.1"}] * 2 and first["secret"] not in json.dumps(details)


def test_redis_down_at_decision_time_the_sweeper_delivers_later(
        settings, site, client, comment_payload, make_moderator, receiver, spare_redis):
    comment_id = post(client, site, comment_payload)
    settings = replace(settings, redis_url=spare_redis.url)
    app = create_app(settings)
    workers.runtime.configure(settings)
    secret = register(app, receiver.url)
    moderator_id = make_moderator()

    spare_redis.stop()
    started = time.monotonic()
    with transaction(app.extensions["sessions"]) as session:
        moderate(session, session.get(Moderator, moderator_id), comments_by_id(session, [comment_id]), "approve")
    assert time.monotonic() - started < 5, "an unreachable Redis must not stall a decision"
    [event] = stored_events(app)
    assert not event.delivered_at

    spare_redis.start()  # back, and empty
    assert "pending 0" in app.test_cli_runner().invoke(args=["sweep"]).output
    assert callbacks_enqueued(spare_redis) == [f"deliver-{event.event_id}"]
    app.test_cli_runner().invoke(args=["sweep"])
    assert callbacks_enqueued(spare_redis) == [f"deliver-{event.event_id}"], "a live job is not enqueued twice"

    redis = Redis.from_url(spare_redis.url)
    SimpleWorker([Queue("callbacks", connection=redis)], connection=redis).work(burst=True)
    [request] = receiver.accepted()
    assert verify(secret, request["headers"]["Saring-Signature"], request["body"])
    assert json.loads(request["body"])["event"]["id"] == event.event_id and stored_events(app)[0].delivered_at


def callbacks_enqueued(server) -> list[str]:
    return Queue("callbacks", connection=Redis.from_url(server.url)).get_job_ids()


def test_a_delivered_or_unknown_event_is_not_sent_again(app, client, site, comment_payload, make_moderator,
                                                        receiver, hooked, deliver_all):
    comment_id = post(client, site, comment_payload)
    with transaction(app.extensions["sessions"]) as session:
        moderate(session, session.get(Moderator, make_moderator()), comments_by_id(session, [comment_id]), "approve")
    deliver_all()
    [event] = stored_events(app)
    assert deliver(event.event_id) == {"skipped": "delivered"}
    assert deliver("evt_unknown") == {"skipped": "unknown event"}
    assert len(receiver.requests) == 1


def test_a_site_without_a_callback_url_gets_no_events(app, client, site, comment_payload, work):
    post(client, site, comment_payload, content=BENIGN)
    work()
    assert stored_events(app) == []


def test_rotating_without_overlap_retires_the_old_secret_at_once(app, site):
    with app.app_context(), transaction(app.extensions["sessions"]) as session:
        site_row = find_site(session, "poros-warta")
        set_policy(session, site_row, Policy(allow_private_callbacks=True), "admin")
        old = set_callback(session, site_row, "http://127.0.0.1:9/hook", "admin")
        new = rotate_secret(session, site_row, timedelta(0), "admin")
    with app.app_context(), app.extensions["sessions"]() as session:
        assert signing_secrets(session, find_site(session, "poros-warta").id) == [new] and old != new
