"""Tenant isolation in the moderator API: a moderator of site A cannot read, count, search or
act on anything of site B by any route. One case per route (a route without a case fails
`test_every_moderation_route_has_an_isolation_case`); after each case, site B's comments,
labels, bans, audit events, tokens and moderator are exactly as they were."""
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import func, or_, select, update

from moderation.db import transaction
from moderation.moderators import issue_token
from moderation.policy import parse_policy, set_policy
from moderation.sites import create_site
from moderation.tables import Article, AuditEvent, Ban, Comment, Label, Moderator, ModeratorToken, Site, SitePolicy

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

    def call(self, method: str, path: str, headers: dict | None = None, **kwargs):
        """A request as ana; every successful answer is searched for any trace of B."""
        response = getattr(self.client, method)(API + path, headers=headers or self.ana, **kwargs)
        if response.status_code < 300:
            text = response.get_data(as_text=True)
            assert B_MARKER not in text.lower(), text
            for secret in (*self.b_ids, self.b_batch, self.b_prefix):
                assert secret not in text
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
        set_policy(session, b_site, parse_policy({"block_words": ["timur"], "link_cap": 1}), "an-admin")
    with transaction(sessions) as session:
        ana, beni = bearer(session, "ana"), bearer(session, "beni-timur")
    batch = client.post(f"{API}/actions", headers=beni, json={"ids": b_ids[:2], "action": "reject", "reason": "toxic"})
    assert client.post(f"{API}/comments/{b_ids[2]}/actions", headers=beni, json={"action": "spam"}).status_code == 200
    prefix = client.get(f"{API}/tokens", headers=beni).get_json()["tokens"][0]["prefix"]
    return World(client, sessions, ana, beni, a_ids, b_ids, batch.get_json()["batch_id"], prefix)


def site_b_state(sessions) -> dict:
    """Everything of site B the API could change."""
    with sessions() as session:
        b = session.scalar(select(Site.id).where(Site.slug == B))
        beni = session.scalar(select(Moderator).where(Moderator.username == "beni-timur"))
        count = lambda table, *where: session.scalar(select(func.count()).select_from(table).where(*where))
        b_comments = select(Comment.id).where(Comment.site_id == b)
        return {
            "comments": session.execute(
                select(Comment.public_id, Comment.status, Comment.reason, Comment.decided_by, Comment.decided_at)
                .where(Comment.site_id == b).order_by(Comment.id)).all(),
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


def moderation_routes(app) -> set[tuple[str, str]]:
    return {(rule.rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith(API)
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_moderation_route_has_an_isolation_case(app):
    assert moderation_routes(app) == set(CASES)


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
