"""Tenant isolation over every route of the app: site A (its API key, its publishable key, its
moderator's token and login) cannot read, count, search or act on anything of site B. One
case per route and method (a route without one fails `test_every_route_has_an_isolation_case`):
the moderator API's cases run one test each, the others one test per group (site API, widget
and pages, workspace and ops); after each case, site B's comments, articles, labels, bans,
audit events, callbacks, tokens, moderator and the scores its Perspective client suggested are
exactly as they were."""
import json
import re
import threading
from dataclasses import dataclass, replace

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import func, or_, select, update

from moderation.db import transaction
from moderation.labels import training_rows
from moderation.moderators import issue_token
from moderation.perspective import QUOTA_KEY
from moderation.policy import parse_policy, set_policy
from moderation.receivers import set_callback
from moderation.sites import add_key, create_site, find_site, issue_publishable_key
from moderation.tables import (
    Article, AuditEvent, Ban, CallbackEvent, CallbackSecret, Comment, Label, Moderator, ModeratorToken, Site,
    SitePolicy, SuggestedScore, utcnow,
)
from moderation.widget import receipt_for
from stack import wait_for
from test_workspace import csrf_token, log_in

API = "/api/v1/moderation"
A, B = "poros-warta", "kabar-timur"
A_CONTENT = ["Semoga banjir cepat surut dan warga mendapat bantuan.", "Thank you for the clear flood report.",
             "Jembatan baru itu sudah lama ditunggu warga desa."]
B_CONTENT = ["Warga Timur menolak rencana tambang di bukit.", "Jalan rusak di Timur belum juga diperbaiki.",
             "Pasar Timur sepi sejak harga cabai naik.", "Festival Timur tahun ini meriah sekali."]
B_MARKER = "timur"  # in B's slug, name, author, moderator and every comment; nowhere in A's data


@dataclass
class World:
    client: object
    sessions: object
    ana: dict  # headers: a moderator of A only
    beni: dict  # headers: a moderator of B only
    a_ids: dict  # article id -> A's comment ids there
    b_ids: list
    b_batch: str
    b_prefix: str
    a_auth: dict = None  # site A's API key headers
    b_events: list = None  # B's callback event ids (one failed)
    a_publishable: str = None  # site A's widget key (prepare_group)
    b_pending: str = None  # B's comment that no check has seen (prepare_group)

    def call(self, method: str, path: str, headers: dict | None = None, **kwargs):
        """A request as ana; every successful answer is searched for any trace of B."""
        return self.open(method, API + path, headers=headers or self.ana, **kwargs)

    def open(self, method: str, path: str, **kwargs):
        """Any request; every successful answer is searched for any trace of B (but what the
        request itself carries: a filter or an id, shown back)."""
        return self.inspect(getattr(self.client, method)(path, **kwargs), path, **kwargs)

    def inspect(self, response, path: str, **kwargs):
        """A request's answer, searched for any trace of B if it is a successful one."""
        if response.status_code < 300:
            text, sent = response.get_data(as_text=True), f"{path} {kwargs.get('data')} {kwargs.get('json')}"
            assert B_MARKER in sent.lower() or B_MARKER not in text.lower(), (path, text)
            assert not any(content in text for content in B_CONTENT), path
            for secret in (*self.b_ids, self.b_batch, self.b_prefix, *(self.b_events or ())):
                assert secret in sent or secret not in text, (path, secret)
        return response

    def ok(self, method: str, path: str, **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    def refused(self, method: str, path: str, statuses=(404,), **kwargs) -> None:
        response = self.call(method, path, **kwargs)
        assert response.status_code in statuses, response.get_json()

    @property
    def all_a(self) -> list[str]:
        return [comment_id for ids in self.a_ids.values() for comment_id in ids]

    def statuses(self, ids) -> dict:
        with self.sessions() as session:
            rows = session.execute(select(Comment.public_id, Comment.status).where(Comment.public_id.in_(ids)))
            return dict(rows.all())


def post_comment(client, auth, article_id, content, author):
    """Both sites' comments come from one email address, so that its history must be scoped too."""
    payload = {"article_id": article_id, "author_name": author, "author_email": "budi@mail.id", "content": content}
    response = client.post("/api/v1/comments", json=payload, headers=auth)
    assert response.status_code == 202
    return response.get_json()["id"]


def bearer(session, username: str) -> dict:
    moderator = session.scalar(select(Moderator).where(Moderator.username == username))
    return {"Authorization": f"Bearer {issue_token(session, moderator, 'isolation')}"}


@pytest.fixture
def world(app, client, site, make_moderator, work) -> World:
    """Sites A and B with flagged comments, one on an article id both sites use; B's
    moderator has rejected two of B's comments in one batch and marked one spam; B has a
    policy of its own."""
    sessions = app.extensions["sessions"]
    with transaction(sessions) as session:
        _, b_key = create_site(session, B, "Kabar Timur")
    b_auth = {"Authorization": f"Bearer {b_key}"}
    a_ids = {"a-thread": [post_comment(client, site["auth"], "a-thread", text, "Budi Santoso") for text in A_CONTENT[:2]],
             "shared": [post_comment(client, site["auth"], "shared", A_CONTENT[2], "Budi Santoso")]}
    b_ids = [post_comment(client, b_auth, article, text, "Wayan Timur")
             for article, text in zip(("b-thread", "b-thread", "shared", "shared"), B_CONTENT)]
    with transaction(sessions) as session:
        session.execute(update(Article).values(premoderated=True))
    work()
    make_moderator("ana", sites=(A,))
    make_moderator("beni-timur", sites=(B,))
    with transaction(sessions) as session:
        b_site = session.scalar(select(Site).where(Site.slug == B))
        set_policy(session, b_site, parse_policy({"block_words": ["timur"], "link_cap": 1,
                                                  "allow_private_callbacks": True}), "an-admin")
        set_callback(session, b_site, "http://127.0.0.1:9/timur-hook", "an-admin", app.extensions["vault"])
    with transaction(sessions) as session:
        ana, beni = bearer(session, "ana"), bearer(session, "beni-timur")
    batch = client.post(f"{API}/actions", headers=beni, json={"ids": b_ids[:2], "action": "reject", "reason": "toxic"})
    assert client.post(f"{API}/comments/{b_ids[2]}/actions", headers=beni, json={"action": "spam"}).status_code == 200
    prefix = client.get(f"{API}/tokens", headers=beni).get_json()["tokens"][0]["prefix"]
    with transaction(sessions) as session:  # B's decisions are callback events; one failed
        events = session.scalars(select(CallbackEvent).order_by(CallbackEvent.id)).all()
        assert {event.site_id for event in events} == {b_site.id} and len(events) == 3
        events[0].failed_at, events[0].attempts, events[0].last_error = utcnow(), 3, "timur: connection refused"
        b_events = [event.event_id for event in events]
    return World(client, sessions, ana, beni, a_ids, b_ids, batch.get_json()["batch_id"], prefix, site["auth"],
                 b_events)


def site_b_state(sessions) -> dict:
    """Everything of site B the API could change."""
    with sessions() as session:
        b = session.scalar(select(Site.id).where(Site.slug == B))
        beni = session.scalar(select(Moderator).where(Moderator.username == "beni-timur"))
        count = lambda table, *where: session.scalar(select(func.count()).select_from(table).where(*where))
        b_comments = select(Comment.id).where(Comment.site_id == b)
        return {
            "comments": session.execute(
                select(Comment.public_id, Comment.status, Comment.reason, Comment.decided_by, Comment.decided_at,
                       Comment.content, Comment.author_name, Comment.author_email, Comment.parent_id,
                       Comment.edited_at).where(Comment.site_id == b).order_by(Comment.id)).all(),
            "replies": session.scalar(select(func.count()).select_from(Comment).where(
                Comment.site_id != b, Comment.parent_id.in_(b_comments))),
            "articles": session.execute(select(Article.external_id, Article.is_open, Article.closes_at, Article.title,
                                               Article.url).where(Article.site_id == b).order_by(Article.id)).all(),
            "callbacks": session.execute(select(Site.callback_url, Site.publishable_key, Site.allowed_origins)
                                         .where(Site.id == b)).one(),
            "secrets": session.execute(select(CallbackSecret.id, CallbackSecret.expires_at)
                                       .where(CallbackSecret.site_id == b)).all(),
            "deliveries": session.execute(select(CallbackEvent.event_id, CallbackEvent.failed_at,
                                                 CallbackEvent.delivered_at, CallbackEvent.attempts)
                                          .where(CallbackEvent.site_id == b).order_by(CallbackEvent.id)).all(),
            "labels": session.execute(select(Label.comment_id, Label.check, Label.value, Label.created_by)
                                      .where(or_(Label.site_id == b, Label.comment_id.in_(b_comments)))).all(),
            "bans": count(Ban, Ban.site_id == b),
            "events": count(AuditEvent, or_(AuditEvent.site_id == b, AuditEvent.comment_id.in_(b_comments))),
            "beni": (beni.role, beni.is_active, beni.session_version, [site.slug for site in beni.sites]),
            "tokens": session.execute(select(ModeratorToken.prefix, ModeratorToken.revoked_at)
                                      .where(ModeratorToken.moderator_id == beni.id)).all(),
            "policy": session.execute(select(Site.policy, Site.policy_version).where(Site.id == b)).one(),
            "policies": session.execute(select(SitePolicy.version, SitePolicy.policy)
                                        .where(SitePolicy.site_id == b)).all(),
            "suggested": session.execute(select(
                SuggestedScore.id, SuggestedScore.attribute, SuggestedScore.value, SuggestedScore.label,
                SuggestedScore.content, SuggestedScore.external_id, SuggestedScore.url, SuggestedScore.community_id)
                .where(SuggestedScore.site_id == b).order_by(SuggestedScore.id)).all(),
            "training": training_rows(session, "toxicity", B),
        }


def me(w: World):
    assert [site["slug"] for site in w.ok("get", "/me")["sites"]] == [A]


def sites(w: World):
    assert w.ok("get", "/sites")["sites"] == [{"slug": A, "name": "Poros Warta"}]


def queue(w: World):
    every = w.ok("get", "/queue")
    assert sorted(c["id"] for c in every["comments"]) == sorted(w.all_a)
    assert every["counts"] == {"pending": 0, "approved": 0, "flagged": 3, "rejected": 0, "withdrawn": 0}
    for args in (f"site={B}", f"site={B}&status=rejected", "article=b-thread", "status=rejected", "reason=toxic"):
        found = w.ok("get", f"/queue?{args}")
        assert found["total"] == 0 and found["comments"] == [] and found["counts"]["rejected"] == 0, args
    shared = w.ok("get", "/queue?article=shared&per_page=1")
    assert [c["id"] for c in shared["comments"]] == w.a_ids["shared"] and shared["total"] == 1
    assert shared["comments"][0]["author_history"] == {"pending": 0, "approved": 0, "flagged": 3, "rejected": 0, "withdrawn": 0}


def show_comment(w: World):
    for comment_id in w.b_ids:
        w.refused("get", f"/comments/{comment_id}")


def act_on_comment(w: World):
    for comment_id in w.b_ids:
        for body in ({"action": "approve"}, {"action": "ban", "reason": "spam"}):
            w.refused("post", f"/comments/{comment_id}/actions", json=body)


def act_on_selection(w: World):
    mine = w.a_ids["a-thread"][0]
    for ids in (w.b_ids[3:], [mine, w.b_ids[3]], w.b_ids):
        w.refused("post", "/actions", json={"ids": ids, "action": "approve"})
    assert w.statuses([mine]) == {mine: "flagged"}  # nothing of a refused selection changes


def preview_rule(w: World):
    every = w.ok("post", "/rules/preview", json={"filter": {}})
    assert every["count"] == 3 and sorted(c["id"] for c in every["sample"]) == sorted(w.all_a)
    for rule in ({"site": B}, {"article": "b-thread"}, {"status": "rejected"}, {"site": B, "status": "rejected"}):
        assert w.ok("post", "/rules/preview", json={"filter": rule})["count"] == 0, rule
    shared = w.ok("post", "/rules/preview", json={"filter": {"article": "shared"}})
    assert shared["count"] == 1 and [c["id"] for c in shared["sample"]] == w.a_ids["shared"]


def apply_rule(w: World):
    nothing = w.ok("post", "/rules/apply", json={"filter": {"site": B}, "action": "approve", "expect": 0})
    assert nothing["changed"] == [] and nothing["remaining"] == 0
    w.refused("post", "/rules/apply", statuses=(409,), json={"filter": {"article": "shared"}, "action": "spam",
                                                                "expect": 3})  # A's 1 + B's 2 would be 3
    shared = w.ok("post", "/rules/apply", json={"filter": {"article": "shared"}, "action": "spam", "expect": 1})
    assert shared["changed"] == w.a_ids["shared"]
    rest = w.ok("post", "/rules/apply", json={"filter": {}, "action": "ban", "reason": "toxic", "expect": 2})
    assert sorted(rest["changed"]) == sorted(w.a_ids["a-thread"])
    assert w.ok("post", "/rules/apply", json={"filter": {"status": "rejected"}, "action": "approve",
                                               "expect": 3})["remaining"] == 0


def audit(w: World):
    every = w.ok("get", "/audit?per_page=100")["events"]
    assert every and {e["site"] for e in every} == {A} and {e["comment_id"] for e in every} <= set(w.all_a)
    for args in (f"site={B}", f"comment={w.b_ids[0]}", f"batch={w.b_batch}", "actor=beni-timur", "reason=toxic",
                 "to_status=rejected"):
        assert w.ok("get", f"/audit?{args}")["total"] == 0, args


def overturns(w: World):
    assert w.ok("get", "/overturns")["rates"] == []
    w.ok("post", f"/comments/{w.a_ids['a-thread'][0]}/actions", json={"action": "spam"})
    assert {rate["site"] for rate in w.ok("get", "/overturns")["rates"]} == {A}


def reveal_email(w: World):
    for comment_id in w.b_ids:
        w.refused("post", f"/comments/{comment_id}/reveal-email", statuses=(403, 404))


def list_tokens(w: World):
    assert len(w.ok("get", "/tokens")["tokens"]) == 1


def create_token(w: World):
    token = w.ok("post", "/tokens", json={"name": "second"})["token"]
    w.ok("get", "/me", headers={"Authorization": f"Bearer {token}"})
    assert len(w.ok("get", "/tokens")["tokens"]) == 2


def revoke_token(w: World):
    w.refused("delete", f"/tokens/{w.b_prefix}")
    assert w.client.get(f"{API}/me", headers=w.beni).status_code == 200


def list_moderators(w: World):
    w.refused("get", "/moderators", statuses=(403,))


def create_moderator(w: World):
    body = {"username": "ana2", "password": "correct horse battery", "sites": [B]}
    w.refused("post", "/moderators", statuses=(403,), json=body)


def change_moderator(w: World):
    for username, change in (("beni-timur", {"is_active": False}), ("beni-timur", {"sites": [A]}),
                             ("ana", {"sites": [A, B]}), ("ana", {"role": "admin"})):
        w.refused("patch", f"/moderators/{username}", statuses=(403,), json=change)
    assert [site["slug"] for site in w.ok("get", "/me")["sites"]] == [A]


def show_policy(w: World):
    """A site's policy is for admins only: not even a moderator's own site's."""
    for site in (B, A, "no-such-site"):
        for args in ("", "?version=1"):
            w.refused("get", f"/sites/{site}/policy{args}", statuses=(403,))


def change_policy(w: World):
    for site in (B, A):
        w.refused("put", f"/sites/{site}/policy", statuses=(403,), json={"link_cap": 9, "block_words": []})


def list_policy_versions(w: World):
    for site in (B, A):
        w.refused("get", f"/sites/{site}/policy/versions", statuses=(403,))


CASES = {
    (f"{API}/me", "GET"): me,
    (f"{API}/sites", "GET"): sites,
    (f"{API}/queue", "GET"): queue,
    (f"{API}/comments/<comment_id>", "GET"): show_comment,
    (f"{API}/comments/<comment_id>/actions", "POST"): act_on_comment,
    (f"{API}/actions", "POST"): act_on_selection,
    (f"{API}/rules/preview", "POST"): preview_rule,
    (f"{API}/rules/apply", "POST"): apply_rule,
    (f"{API}/audit", "GET"): audit,
    (f"{API}/overturns", "GET"): overturns,
    (f"{API}/comments/<comment_id>/reveal-email", "POST"): reveal_email,
    (f"{API}/tokens", "GET"): list_tokens,
    (f"{API}/tokens", "POST"): create_token,
    (f"{API}/tokens/<prefix>", "DELETE"): revoke_token,
    (f"{API}/moderators", "GET"): list_moderators,
    (f"{API}/moderators", "POST"): create_moderator,
    (f"{API}/moderators/<username>", "PATCH"): change_moderator,
    (f"{API}/sites/<slug>/policy", "GET"): show_policy,
    (f"{API}/sites/<slug>/policy", "PUT"): change_policy,
    (f"{API}/sites/<slug>/policy/versions", "GET"): list_policy_versions,
}


# -- every other route: site A's keys, its readers and its moderator's login --------------------

ORIGIN = "https://poroswarta.example"  # where site A's widget runs
B_SHARED = B_CONTENT[2]  # B's comment on the article id both sites use


def answer(w: World, method: str, path: str, statuses=(200,), **kwargs):
    """A request that must answer one of `statuses`, and never show a trace of B."""
    response = w.open(method, path, **kwargs)
    assert response.status_code in statuses, (method, path, response.status_code, response.get_data()[:300])
    return response


def form_token(w: World) -> str:
    return csrf_token(w.client.get("/moderate/account").text)


def site_post_comment(w: World):
    body = {"article_id": "shared", "author_name": "Ani", "author_email": "ani@mail.id",
            "content": "Balasan untuk komentar situs lain."}
    to_b = answer(w, "post", "/api/v1/comments", (422,), headers=w.a_auth, json={**body, "parent_id": w.b_ids[3]})
    ghost = answer(w, "post", "/api/v1/comments", (422,), headers=w.a_auth, json={**body, "parent_id": GHOST})
    assert same_answer(to_b, ghost, w.b_ids[3]) and list(to_b.get_json()["fields"]) == ["parent_id"]
    replay = answer(w, "post", "/api/v1/comments", (202,), headers={**w.a_auth, "Idempotency-Key": "kunci-timur"},
                    json={**body, "content": "Komentar dengan kunci yang sama."})
    assert replay.get_json()["id"] not in w.b_ids  # B used this key first: A gets a comment of its own


GHOST = "A" * 16  # a comment id nobody has


def same_answer(theirs, nobodys, their_id: str) -> bool:
    """B's comment gets the answer a comment that does not exist gets: no oracle."""
    return theirs.get_data(as_text=True).replace(their_id, GHOST) == nobodys.get_data(as_text=True)


def site_show_comment(w: World):
    ghost = answer(w, "get", f"/api/v1/comments/{GHOST}", (404,), headers=w.a_auth)
    for comment_id in w.b_ids:
        assert same_answer(answer(w, "get", f"/api/v1/comments/{comment_id}", (404,), headers=w.a_auth), ghost,
                           comment_id)


def site_delete_comment(w: World):
    for comment_id in w.b_ids:
        answer(w, "delete", f"/api/v1/comments/{comment_id}", (404,), headers=w.a_auth)


def site_edit_comment(w: World):
    for comment_id in w.b_ids:
        answer(w, "patch", f"/api/v1/comments/{comment_id}", (404,), headers=w.a_auth, json={"content": "Diubah."})


def site_change_article(w: World):
    for article_id in ("b-thread", "shared"):  # A's own thread of that id, never B's
        changed = answer(w, "patch", f"/api/v1/articles/{article_id}", headers=w.a_auth,
                         json={"is_open": False, "title": "Ditutup"}).get_json()
        assert (changed["article_id"], changed["is_open"]) == (article_id, False)


def site_policy(w: World):
    assert "timur" not in answer(w, "get", "/api/v1/site/policy", headers=w.a_auth).get_json()["policy"]["block_words"]


def site_show_callback(w: World):
    shown = answer(w, "get", "/api/v1/site/callbacks", headers=w.a_auth).get_json()
    assert shown["url"] is None and shown["secrets"] == []


def site_change_callback(w: World):
    set_to = answer(w, "put", "/api/v1/site/callbacks", headers=w.a_auth, json={"url": "http://127.0.0.1:9/poros"})
    assert set_to.get_json()["secret"].startswith("whsec_")
    answer(w, "put", "/api/v1/site/callbacks", headers=w.a_auth, json={"url": None})


def site_rotate_secret(w: World):
    answer(w, "post", "/api/v1/site/callbacks/rotate-secret", headers=w.a_auth, json={"overlap_hours": 0})


def site_show_events(w: World):
    for state in ("failed", "pending", "delivered"):
        listed = answer(w, "get", f"/api/v1/site/callbacks/events?state={state}", headers=w.a_auth).get_json()
        assert (listed["total"], listed["events"]) == (0, []), state


def site_replay_events(w: World):
    named = answer(w, "post", "/api/v1/site/callbacks/events/replay", headers=w.a_auth,
                   json={"event_ids": w.b_events}).get_json()
    assert named == {"replayed": [], "skipped": dict.fromkeys(w.b_events, "unknown event")}
    failed = answer(w, "post", "/api/v1/site/callbacks/events/replay", headers=w.a_auth, json={"state": "failed"})
    assert failed.get_json()["replayed"] == []


def site_export_author(w: World):
    """The same address wrote on both sites: A's export holds A's comments only."""
    exported = answer(w, "post", "/api/v1/authors/export", headers=w.a_auth, json={"email": "budi@mail.id"}).get_json()
    assert set(w.all_a) <= {comment["id"] for comment in exported["comments"]}


def site_erase_author(w: World):
    erased = answer(w, "post", "/api/v1/authors/erase", headers=w.a_auth, json={"email": "budi@mail.id"}).get_json()
    assert erased["erased"] >= len(w.all_a)


def public_thread(w: World):
    mine = answer(w, "get", f"/api/v1/sites/{A}/articles/shared/comments").get_json()
    assert mine["comments"] == []  # A's comment there is flagged; B's is not A's
    theirs = w.client.get(f"/api/v1/sites/{B}/articles/shared/comments")  # B's own public thread: none approved
    assert theirs.status_code == 200 and theirs.get_json()["comments"] == [] and B_SHARED not in theirs.text


PERSPECTIVE = "/perspective/v1alpha1"
CORAL_ID, B_URL = "coral-5f1e", "https://kabartimur.example/tambang#coral-5f1e"  # a comment B's Coral moderated
A_TEXT = "Semoga banjir cepat surut dan bantuan segera datang."


def a_key(w: World) -> str:
    return w.a_auth["Authorization"].removeprefix("Bearer ")


def perspective_analyze(w: World):
    """A's key gets the scores of the text it sent, and nothing else: no trace of B, nothing
    counted against B's quota. A real RQ worker (in this thread) answers the request, which
    waits for it in another thread."""
    app = w.client.application
    redis = app.extensions["redis"]
    with transaction(w.sessions) as session:  # time enough to hand the job to this thread's worker
        set_policy(session, find_site(session, A), parse_policy({"allow_private_callbacks": True,
                                                                 "perspective": {"time_budget_ms": 4000}}), "an-admin")
    app.extensions.get("policies", {}).clear()  # no web process trusts its cached policy for long
    path = f"{PERSPECTIVE}/comments:analyze?key={a_key(w)}"
    body = {"comment": {"text": A_TEXT}, "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
            "languages": ["en"], "doNotStore": True, "clientToken": "poros-1"}
    toxicity = Queue("toxicity", connection=redis)
    listening = SimpleWorker([toxicity], connection=redis)
    listening.register_birth()  # a live toxicity worker: the view queues a job only then
    answers = {}
    request = threading.Thread(target=lambda: answers.update(analyzed=w.client.post(path, json=body)))
    request.start()
    try:
        wait_for(lambda: "analyzed" in answers or analysis_queued(toxicity), 10, "no analyze job was queued")
        if analysis_queued(toxicity):  # at the front of the queue: the one job this worker takes
            SimpleWorker([toxicity], connection=redis).work(burst=True, max_jobs=1)
    finally:
        request.join(10)
        listening.register_death()
    analyzed = w.inspect(answers["analyzed"], path, json=body)
    assert analyzed.status_code == 200, analyzed.get_json()
    scores = analyzed.get_json()
    assert set(scores) == {"attributeScores", "languages", "detectedLanguages", "clientToken"}
    assert set(scores["attributeScores"]) == {"TOXICITY", "INSULT"} and scores["detectedLanguages"] == ["id"]
    for attribute in scores["attributeScores"].values():
        assert set(attribute) == {"summaryScore", "spanScores"}
        assert [(span["begin"], span["end"]) for span in attribute["spanScores"]] == [(0, len(A_TEXT))]
    with w.sessions() as session:
        a_id, b_id = (session.scalar(select(Site.id).where(Site.slug == slug)) for slug in (A, B))
    assert redis.keys(f"{QUOTA_KEY}:{a_id}:*") and not redis.keys(f"{QUOTA_KEY}:{b_id}:*")


def analysis_queued(queue: Queue) -> bool:
    return any(job_id.startswith("analyze-") for job_id in queue.job_ids)


def perspective_suggest(w: World):
    """A's key stores its suggestion under A, even for the comment id and URL that B's
    suggestion named: B's label is neither replaced nor joined by A's, and A trains on its own."""
    text = "Komentar Poros yang disetujui moderator."
    body = {"comment": {"text": text}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}},
            "context": {"entries": [{"text": json.dumps({"url": B_URL, "Coral_comment_id": CORAL_ID})}]},
            "communityId": "poros", "clientToken": "poros-2"}
    by_query = answer(w, "post", f"{PERSPECTIVE}/comments:suggestscore?key={a_key(w)}", json=body)
    assert by_query.get_json() == {"clientToken": "poros-2"}
    by_header = answer(w, "post", f"{PERSPECTIVE}/comments:suggestscore", headers=w.a_auth,
                       json={**body, "attributeScores": {"SEVERE_TOXICITY": {"summaryScore": {"value": 1}}}})
    assert by_header.get_json() == {"clientToken": "poros-2"}
    with w.sessions() as session:
        a_id = session.scalar(select(Site.id).where(Site.slug == A))
        stored = session.execute(select(SuggestedScore.site_id, SuggestedScore.attribute, SuggestedScore.external_id)
                                 .where(SuggestedScore.content == text)).all()
        assert sorted(stored) == [(a_id, "SEVERE_TOXICITY", CORAL_ID), (a_id, "TOXICITY", CORAL_ID)]
        assert (text, 0, A) in training_rows(session, "toxicity", A)


def openapi_document(w: World):
    answer(w, "get", "/api/v1/openapi.json")


def embed_page(w: World):
    answer(w, "get", f"/embed/{A}/shared")
    answer(w, "get", f"/embed/{B}/shared", (404,))  # B has no widget key: no embed


def widget_status(w: World):
    receipt = receipt_for_app(w, w.all_a[0])
    for comment_id in w.b_ids:
        theirs = receipt_for_app(w, comment_id)
        near = theirs[:-1] + ("B" if theirs[-1] == "A" else "A")  # B's own receipt but for its last character
        for asked in ("", f"?receipt={receipt}", f"?receipt={near}"):
            answer(w, "get", f"/widget/v1/comments/{comment_id}/status{asked}", (404,))


def receipt_for_app(w: World, comment_id: str) -> str:
    with w.client.application.test_request_context():
        return receipt_for(comment_id)


def widget_preflight(w: World):
    answer(w, "options", f"/widget/v1/sites/{B}/comments", (403,), headers={"Origin": ORIGIN})
    allowed = answer(w, "options", f"/widget/v1/sites/{A}/comments", (204,), headers={"Origin": ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN


def widget_post(w: World):
    key = w.a_publishable
    body = {"article_id": "shared", "author_name": "Ani", "author_email": "ani@mail.id", "content": "Lewat widget."}
    answer(w, "post", f"/widget/v1/sites/{B}/comments", (403,), headers={"X-Saring-Key": key, "Origin": ORIGIN},
           json=body)
    answer(w, "post", f"/widget/v1/sites/{A}/comments", (422,), headers={"X-Saring-Key": key, "Origin": ORIGIN},
           json={**body, "parent_id": w.b_ids[3]})


def widget_words(w: World):
    answer(w, "get", "/widget/v1/words")


def static_file(w: World):
    for name in ("widget.js", "workspace.js", "saring.css"):
        answer(w, "get", f"/static/{name}")


def healthz(w: World):
    answer(w, "get", "/healthz")


def readyz(w: World):
    ready = w.client.get("/readyz")  # 503 here: no worker runs
    assert ready.status_code in (200, 503) and B_MARKER not in ready.text.lower()


def metrics(w: World):
    app = w.client.application
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = replace(settings, metrics_token="operators-only-token")
    try:  # neither a site's key nor a moderator's token is the operators' metrics token
        for headers in (w.a_auth, w.ana, {}):
            answer(w, "get", "/metrics", (401,), headers=headers)
    finally:
        app.config["SETTINGS"] = settings


def article_page(w: World):
    mine = answer(w, "get", f"/sites/{A}/articles/shared")
    assert A_CONTENT[2] not in mine.text  # flagged: not shown either
    theirs = w.client.get(f"/sites/{B}/articles/shared")  # B's own page: nothing of B is approved
    assert theirs.status_code == 200 and not any(text in theirs.text for text in B_CONTENT)


def article_reply(w: World):
    page = w.client.get(f"/sites/{A}/articles/shared?reply_to={w.b_ids[3]}")
    assert B_MARKER not in page.text.lower()  # B's comment is not offered as the one replied to
    assert re.search(r'name="parent_id" type="hidden" value=""', page.text)
    form = {"content": "Balasan lewat formulir.", "author_name": "Citra", "author_email": "citra@mail.id",
            "parent_id": w.b_ids[3], "csrf_token": csrf_token(page.text)}
    answer(w, "post", f"/sites/{A}/articles/shared", (200, 303), data=form)


def article_checking(w: World):
    with w.client.session_transaction() as reader:
        reader["my_comments"] = [w.b_pending]  # even if B's comment were this browser's own
    assert answer(w, "get", f"/sites/{A}/articles/shared/checking").get_json() == {"checking": 0}
    with w.client.session_transaction() as reader:
        reader.pop("my_comments")


def workspace_queue(w: World):
    for address in ("/moderate", "/moderate/", f"/moderate?site={B}", "/moderate?status=rejected",
                    "/moderate?article=b-thread", "/moderate?article=shared&status=flagged"):
        answer(w, "get", address, (200, 422))


def workspace_unknown_page(w: World):
    answer(w, "get", f"/moderate/{B}", (404,))


def workspace_unknown_post(w: World):
    answer(w, "post", f"/moderate/{B}", (404,), data={"csrf_token": form_token(w)})


def workspace_account(w: World):
    answer(w, "get", "/moderate/account")


def workspace_issue_token(w: World):
    answer(w, "post", "/moderate/account", data={"name": "isolasi", "csrf_token": form_token(w)})


def workspace_change_password(w: World):
    answer(w, "post", "/moderate/account/password", (303,), data={
        "current": "correct horse battery", "password": "correct horse battery", "csrf_token": form_token(w)})


def workspace_revoke_token(w: World):
    with w.sessions() as session:
        beni_token = session.scalar(select(ModeratorToken.id).join(Moderator).where(Moderator.username == "beni-timur"))
    answer(w, "post", f"/moderate/account/tokens/{beni_token}/revoke", (404,), data={"csrf_token": form_token(w)})


def workspace_act(w: World):
    token = form_token(w)
    for ids in (w.b_ids[3:], [w.a_ids["a-thread"][0], w.b_ids[3]]):
        answer(w, "post", "/moderate/actions", (404,), headers={"Accept": "application/json"},
               data={"ids": ids, "action": "approve", "csrf_token": token})
        answer(w, "post", "/moderate/actions", (303, 404), data={"ids": ids, "action": "approve", "csrf_token": token})
    assert w.statuses(w.a_ids["a-thread"][:1]) == {w.a_ids["a-thread"][0]: "flagged"}


def workspace_audit(w: World):
    for args in (f"site={B}", f"comment={w.b_ids[0]}", f"batch={w.b_batch}", "actor=beni-timur", ""):
        answer(w, "get", f"/moderate/audit?{args}", (200, 422))


def workspace_preview_bulk(w: World):
    for args in (f"site={B}", "article=b-thread", "status=rejected", "article=shared"):
        preview = answer(w, "get", f"/moderate/bulk?{args}&action=approve", (200, 422))
        assert not any(comment_id in preview.text for comment_id in w.b_ids)


def workspace_apply_bulk(w: World):
    token = form_token(w)
    for rule in ({"site": B}, {"article": "b-thread"}, {"status": "rejected"}):
        answer(w, "post", "/moderate/bulk", (200, 409, 422), data={**rule, "action": "approve", "expect": "1",
                                                                   "csrf_token": token})


def workspace_reveal_email(w: World):
    for comment_id in w.b_ids:
        answer(w, "post", f"/moderate/comments/{comment_id}/reveal-email", (403, 404),
               data={"csrf_token": form_token(w)})


def workspace_login_page(w: World):
    answer(w, "get", "/moderate/login", (302,))


def workspace_log_in(w: World):
    w.client.delete_cookie("session")  # a fresh browser
    assert log_in(w.client, "ana").status_code == 303


def workspace_log_out(w: World):
    answer(w, "post", "/moderate/logout", (303,), data={"csrf_token": form_token(w)})
    assert log_in(w.client, "ana").status_code == 303


def admin_only(method: str, path: str):
    """A page or form for admins only: refused to a moderator, whatever it names."""

    def case(w: World):
        with w.sessions() as session:
            beni_id = session.scalar(select(Moderator.id).where(Moderator.username == "beni-timur"))
        values = {"moderator_id": beni_id, "slug": B, "version": 1, "queue": "spam", "job_id": f"spam-{w.b_ids[3]}"}
        url = re.sub(r"<(\w+)>", lambda m: str(values[m.group(1)]), path)
        data = {"csrf_token": form_token(w), "event_id": w.b_events[0], "role": "admin", "sites": A,
                "password": "a new long password", "username": "timur-2"} if method == "post" else None
        answer(w, method, url, (403,), data=data)

    return case


OTHER_CASES = {
    ("/api/v1/comments", "POST"): site_post_comment,
    ("/api/v1/comments/<comment_id>", "GET"): site_show_comment,
    ("/api/v1/comments/<comment_id>", "DELETE"): site_delete_comment,
    ("/api/v1/comments/<comment_id>", "PATCH"): site_edit_comment,
    ("/api/v1/articles/<article_id>", "PATCH"): site_change_article,
    ("/api/v1/site/policy", "GET"): site_policy,
    ("/api/v1/site/callbacks", "GET"): site_show_callback,
    ("/api/v1/site/callbacks", "PUT"): site_change_callback,
    ("/api/v1/site/callbacks/rotate-secret", "POST"): site_rotate_secret,
    ("/api/v1/site/callbacks/events", "GET"): site_show_events,
    ("/api/v1/site/callbacks/events/replay", "POST"): site_replay_events,
    ("/api/v1/authors/export", "POST"): site_export_author,
    ("/api/v1/sites/<site_slug>/articles/<article_id>/comments", "GET"): public_thread,
    ("/api/v1/openapi.json", "GET"): openapi_document,
    ("/embed/<site_slug>/<article_id>", "GET"): embed_page,
    ("/widget/v1/comments/<comment_id>/status", "GET"): widget_status,
    ("/widget/v1/sites/<site_slug>/comments", "OPTIONS"): widget_preflight,
    ("/widget/v1/sites/<site_slug>/comments", "POST"): widget_post,
    ("/widget/v1/words", "GET"): widget_words,
    ("/static/<filename>", "GET"): static_file,
    ("/healthz", "GET"): healthz,
    ("/readyz", "GET"): readyz,
    ("/metrics", "GET"): metrics,
    ("/sites/<site_slug>/articles/<article_id>", "GET"): article_page,
    ("/sites/<site_slug>/articles/<article_id>", "POST"): article_reply,
    ("/sites/<site_slug>/articles/<article_id>/checking", "GET"): article_checking,
    ("/moderate", "GET"): workspace_queue,
    ("/moderate/", "GET"): workspace_queue,
    ("/moderate/<unknown>", "GET"): workspace_unknown_page,
    ("/moderate/<unknown>", "POST"): workspace_unknown_post,
    ("/moderate/account", "GET"): workspace_account,
    ("/moderate/account", "POST"): workspace_issue_token,
    ("/moderate/account/password", "POST"): workspace_change_password,
    ("/moderate/account/tokens/<token_id>/revoke", "POST"): workspace_revoke_token,
    ("/moderate/actions", "POST"): workspace_act,
    ("/moderate/audit", "GET"): workspace_audit,
    ("/moderate/bulk", "GET"): workspace_preview_bulk,
    ("/moderate/bulk", "POST"): workspace_apply_bulk,
    ("/moderate/comments/<comment_id>/reveal-email", "POST"): workspace_reveal_email,
    ("/moderate/login", "GET"): workspace_login_page,
    ("/moderate/login", "POST"): workspace_log_in,
    ("/moderate/logout", "POST"): workspace_log_out,
    **{(path, method.upper()): admin_only(method, path) for path, method in (
        ("/moderate/moderators", "get"), ("/moderate/moderators", "post"),
        ("/moderate/moderators/<moderator_id>", "post"),
        ("/moderate/moderators/<moderator_id>/deactivate", "post"),
        ("/moderate/moderators/<moderator_id>/reactivate", "post"),
        ("/moderate/moderators/<moderator_id>/password", "post"), ("/moderate/sites", "get"),
        ("/moderate/sites/<slug>/policy", "get"), ("/moderate/sites/<slug>/policy", "post"),
        ("/moderate/sites/<slug>/policy/versions/<version>", "get"),
        ("/moderate/sites/<slug>/policy/versions/<version>/restore", "post"), ("/ops", "get"),
        ("/ops/callbacks/replay", "post"), ("/ops/queues/<queue>/requeue", "post"),
        ("/ops/queues/<queue>/jobs/<job_id>/requeue", "post"), ("/ops/queues/<queue>/jobs/<job_id>/delete", "post"))},
    (f"{PERSPECTIVE}/comments:analyze", "POST"): perspective_analyze,
    (f"{PERSPECTIVE}/comments:suggestscore", "POST"): perspective_suggest,
    ("/api/v1/authors/erase", "POST"): site_erase_author,
}
GROUPS = {"site API": ("/api/", "/perspective/"),
          "widget and pages": ("/embed", "/widget", "/static", "/healthz", "/readyz", "/metrics", "/sites/"),
          "workspace and ops": ("/moderate", "/ops")}


def plain(rule: str) -> str:
    """A rule without its converters: /a/<path:b> is /a/<b>."""
    return re.sub(r"<\w+:(\w+)>", r"<\1>", rule)


def every_route(app) -> set[tuple[str, str]]:
    """Each route and method, OPTIONS included where a view answers it itself."""
    return {(plain(rule.rule), method) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD"} - ({"OPTIONS"} if rule.provide_automatic_options else set())}


def moderation_routes(app) -> set[tuple[str, str]]:
    return {(rule.rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith(API)
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_route_has_an_isolation_case(app):
    assert every_route(app) == set(CASES) | set(OTHER_CASES)
    assert not set(CASES) & set(OTHER_CASES)
    assert all(any(rule.startswith(GROUPS[group]) for group in GROUPS) for rule, _ in OTHER_CASES)


def test_site_b_is_really_there_for_its_own_moderator(world):
    """So that the cases below are not vacuous."""
    assert {c["id"] for c in world.client.get(f"{API}/queue", headers=world.beni).get_json()["comments"]} == {
        world.b_ids[3]}
    assert world.client.get(f"{API}/audit?batch={world.b_batch}", headers=world.beni).get_json()["total"] == 2
    assert world.client.get(f"{API}/overturns", headers=world.beni).get_json()["rates"][0]["site"] == B
    b = site_b_state(world.sessions)
    assert b["policy"].policy_version == 1 and b["policy"].policy == b["policies"][0].policy


@pytest.mark.parametrize("route", CASES, ids=[f"{method} {rule.removeprefix(API)}" for rule, method in CASES])
def test_a_moderator_of_site_a_cannot_reach_site_b(world, route):
    before = site_b_state(world.sessions)
    CASES[route](world)
    assert site_b_state(world.sessions) == before


def test_a_site_api_key_opens_no_moderation_route(app, client, site):
    for rule, method in sorted(moderation_routes(app)):
        url = re.sub(r"<(\w+)>", lambda m: {"prefix": "0" * 12}.get(m.group(1), "x"), rule)
        response = client.open(url, method=method, headers=site["auth"], json={})
        assert response.status_code == 401 and response.get_json()["error"] == "unauthorized", (method, url)


def prepare_group(w: World, group: str) -> None:
    """What a group's cases start from: A may take private callbacks and has a widget; B used
    an Idempotency-Key, has a comment still pending and a score its Coral Talk suggested; ana
    is logged in."""
    with transaction(w.sessions) as session:
        a_site = find_site(session, A)
        set_policy(session, a_site, parse_policy({"allow_private_callbacks": True}), "an-admin")
        w.a_publishable = issue_publishable_key(session, a_site, [ORIGIN])
        b_key = add_key(session, find_site(session, B))
    body = {"article_id": "shared", "author_name": "Wayan Timur", "author_email": "budi@mail.id",
            "content": "Komentar Timur dengan kunci idempotensi."}
    posted = w.client.post("/api/v1/comments", json=body, headers={"Authorization": f"Bearer {b_key}",
                                                                     "Idempotency-Key": "kunci-timur"})
    assert posted.status_code == 202
    w.b_pending = posted.get_json()["id"]
    w.b_ids = [*w.b_ids, w.b_pending]
    suggested = w.client.post(f"{PERSPECTIVE}/comments:suggestscore?key={b_key}", json={
        "comment": {"text": B_CONTENT[1]}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
        "context": {"entries": [{"text": json.dumps({"url": B_URL, "Coral_comment_id": CORAL_ID})}]},
        "communityId": "kabar-timur"})
    assert suggested.status_code == 200, suggested.get_json()
    if group == "workspace and ops":
        assert log_in(w.client, "ana").status_code == 303


@pytest.mark.parametrize("group", GROUPS)
def test_site_a_cannot_reach_site_b_by_any_other_route(world, group):
    prepare_group(world, group)
    for route in [route for route in OTHER_CASES if route[0].startswith(GROUPS[group])]:  # erasing comes last
        before = site_b_state(world.sessions)
        OTHER_CASES[route](world)
        assert site_b_state(world.sessions) == before, route
