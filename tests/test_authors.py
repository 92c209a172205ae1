"""A site exports and erases an author's data: its own only, found by the email's
fingerprint, decrypted only in the export, audited without the address; after an erasure
nothing of the author is left in the database files or rows."""
import json
import uuid

import pytest
from sqlalchemy import func, or_, select

from moderation import authors_api, create_app, csrf
from moderation.db import transaction
from moderation.policy import Policy, set_policy
from moderation.review import moderate
from moderation.sites import create_site
from moderation.tables import AuditEvent, Ban, CheckResult, Comment, Label, Moderator, Site
from test_privacy import database_blobs

TEXTS = {  # benign, far from every threshold, so the checks approve them
    "parent": "Terima kasih atas liputannya, sangat membantu kami memahami rencana kota.",
    "reply": "Saya setuju, dialog dengan warga perlu dibuka lebih awal.",
    "answer": "Terima kasih, itu maksud saya dalam tulisan tadi.",
    "second": "Semoga pekerjaan ini selesai tepat waktu dan bermanfaat bagi warga.",
    "own_reply": "Komentar saya di situs lain tentang berita yang sama.",
}


@pytest.fixture
def app(settings):
    """The app with the authors API, registered here until create_app does it."""
    app = create_app(settings)
    if "authors" not in app.blueprints:
        csrf.exempt(authors_api.bp)
        app.register_blueprint(authors_api.bp)
    app.config.update(TESTING=True)
    import workers.runtime

    workers.runtime.configure(settings)
    return app


@pytest.fixture
def author():
    """An author nobody else's test leaves traces of."""
    token = uuid.uuid4().hex[:12].translate(str.maketrans("0123456789", "ghijklmnop"))  # digits look like spam
    return {"email": f"Erasure.Canary_{token}@canary-mail.co.id", "name": f"Penulis Kanari {token}", "token": token}


@pytest.fixture
def second_site(app):
    with transaction(app.extensions["sessions"]) as session:
        _, key = create_site(session, "kabar-lain", "Kabar Lain")
    return {"slug": "kabar-lain", "auth": {"Authorization": f"Bearer {key}"}}


def post(client, auth, author, content, parent_id=None, article_id="banjir-dialog", **extra):
    payload = {"article_id": article_id, "author_name": author["name"], "author_email": author["email"],
               "content": content, "parent_id": parent_id, **extra}
    response = client.post("/api/v1/comments", json={k: v for k, v in payload.items() if v is not None},
                           headers=auth)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def approved(client, auth, work, *args, **kwargs) -> str:
    comment_id = post(client, auth, *args, **kwargs)
    work()
    assert client.get(f"/api/v1/comments/{comment_id}", headers=auth).get_json()["status"] == "approved"
    return comment_id


def found_in_database(url: str, *needles: str) -> set[str]:
    found = set()
    for blob in database_blobs(url):
        lowered = blob.lower()
        found |= {needle for needle in needles if needle.lower().encode() in lowered}
    return found


@pytest.fixture
def thread(client, site, author, work, sessions, make_moderator):
    """The author's parent comment with someone else's reply and the author's answer to it,
    a second comment of theirs with their own reply, one of them marked spam by a moderator
    (a label) and the author banned (another label, a ban)."""
    other = {"email": "lain.orang@example.co.id", "name": f"Orang Lain {author['token']}"}
    contents = {name: f"{text} {author['token']}" for name, text in TEXTS.items()}
    ids = {"parent": approved(client, site["auth"], work, author, contents["parent"],
                              user_ip="203.0.113.9", user_agent=f"KanariBrowser/{author['token']}",
                              referrer=f"https://poroswarta.example/ref-{author['token']}")}
    ids["reply"] = approved(client, site["auth"], work, other, contents["reply"], parent_id=ids["parent"])
    ids["answer"] = approved(client, site["auth"], work, author, contents["answer"], parent_id=ids["reply"])
    ids["second"] = approved(client, site["auth"], work, author, contents["second"])
    ids["own_reply"] = approved(client, site["auth"], work, author, contents["own_reply"], parent_id=ids["second"])
    moderator_id = make_moderator()
    with transaction(sessions) as session:
        moderator = session.get(Moderator, moderator_id)
        comments = {c.public_id: c for c in session.scalars(select(Comment).where(Comment.public_id.in_(ids.values())))}
        moderate(session, moderator, [comments[ids["answer"]]], "spam")
        moderate(session, moderator, [comments[ids["second"]]], "ban", reason="spam", ban_days=30)
    mine = [contents[name] for name in ("parent", "answer", "second", "own_reply")]
    return {"ids": ids, "other": other, "contents": mine}


def erase(client, auth, email):
    return client.post("/api/v1/authors/erase", json={"email": email}, headers=auth)


def set_erase_mode(sessions, slug, mode):
    with transaction(sessions) as session:
        site = session.scalar(select(Site).where(Site.slug == slug))
        set_policy(session, site, Policy(erase=mode), "admin")


def test_export_returns_the_calling_sites_data_only(client, site, second_site, author, work, sessions, thread):
    elsewhere = post(client, second_site["auth"], author, f"{TEXTS['own_reply']} {author['token']}z")
    response = client.post("/api/v1/authors/export", json={"email": author["email"].upper()}, headers=site["auth"])
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"email", "comments", "bans", "exported_at"} and authors_api.AuthorExport.model_validate(body)
    mine = [thread["ids"][name] for name in ("parent", "answer", "second", "own_reply")]
    assert [comment["id"] for comment in body["comments"]] == mine
    assert f"{author['token']}z" not in response.get_data(as_text=True), "another site's comment was exported"
    first = body["comments"][0]
    assert first["author_email"] == author["email"] and first["author_name"] == author["name"]
    assert first["article"] == {"id": "banjir-dialog", "url": None, "title": None}
    assert first["user_agent"] == f"KanariBrowser/{author['token']}" and first["referrer"].endswith(author["token"])
    assert first["ip_address"] is None and "fingerprint" in first["ip_address_note"]
    assert {check["check"] for check in first["checks"]} == {"spam", "toxicity"}
    assert [(e["action"], e["by"], e["to_status"]) for e in first["events"]] == [("transition", "checks", "approved")]
    answer = body["comments"][1]
    assert answer["parent_id"] == thread["ids"]["reply"] and answer["status"] == "rejected"
    assert [(label["check"], label["value"], label["by"]) for label in answer["labels"]] == [("spam", 1, "moderator")]
    assert "mira" not in response.get_data(as_text=True), "a moderator's name was exported"
    assert [(ban["reason"], ban["by"]) for ban in body["bans"]] == [("spam", "moderator")]

    other_site = client.post("/api/v1/authors/export", json={"email": author["email"]}, headers=second_site["auth"])
    assert [comment["id"] for comment in other_site.get_json()["comments"]] == [elsewhere]
    assert other_site.get_json()["bans"] == []
    with sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "author_exported")
                                 .order_by(AuditEvent.id)).all()
        audited = [(event.actor, event.details) for event in events]
        assert audited == [("site", {"comments": 4}), ("site", {"comments": 1})]
    shown = client.get(f"/api/v1/comments/{thread['ids']['parent']}", headers=site["auth"]).get_data(as_text=True)
    assert author["email"].lower() not in shown.lower(), "only the export shows the address"
    assert not found_in_database(sessions.kw["bind"].url.render_as_string(hide_password=False), author["email"])


def test_an_unknown_address_gets_empty_lists(client, site, author):
    response = client.post("/api/v1/authors/export", json={"email": author["email"]}, headers=site["auth"])
    assert response.status_code == 200
    body = response.get_json()
    assert (body["email"], body["comments"], body["bans"]) == (author["email"], [], [])
    erased = erase(client, site["auth"], author["email"]).get_json()
    assert erased == {"erased": 0, "mode": "anonymise", "anonymised": 0, "removed": 0, "bans": 0}


BAD_REQUESTS = [  # query string, body, status, the field blamed
    ("", {}, 422, "email"),
    ("", {"email": "not an address"}, 422, "email"),
    ("", {"email": 42}, 422, "email"),
    ("", {"email": "budi@example.co.id\x00"}, 422, "email"),
    ("", {"email": "budi@example.co.id", "name": "Budi"}, 422, "name"),
    ("?email=budi@example.co.id", {}, 422, "email"),
    ("?email=budi@example.co.id", {"email": "budi@example.co.id"}, 422, "email"),
    ("", "email=budi@example.co.id", 415, None),
    ("", b'{"email": ', 400, None),
    ("", b'["budi@example.co.id"]', 400, None),
]


@pytest.mark.parametrize("endpoint", ["export", "erase"])
def test_bad_requests_are_refused_and_change_nothing(client, site, sessions, endpoint):
    budi = {"email": "budi@example.co.id", "name": "Budi"}
    post(client, site["auth"], budi, TEXTS["parent"])
    for query, body, status, field in BAD_REQUESTS:
        url = f"/api/v1/authors/{endpoint}{query}"
        if isinstance(body, dict):
            response = client.post(url, json=body, headers=site["auth"])
        else:
            kind = "application/json" if isinstance(body, bytes) else "application/x-www-form-urlencoded"
            response = client.post(url, data=body, headers={**site["auth"], "Content-Type": kind})
        assert response.status_code == status, (query, body, response.get_json())
        assert response.get_json()["error"] and (field is None or field in response.get_json()["fields"])
    assert client.post(f"/api/v1/authors/{endpoint}", json=budi).status_code == 401
    assert client.get(f"/api/v1/authors/{endpoint}", headers=site["auth"]).status_code == 405
    with sessions() as session:
        assert not session.scalar(select(func.count()).where(AuditEvent.action.like("author_%")))
        assert session.scalar(select(Comment.author_name)) == "Budi"


@pytest.mark.parametrize("mode", ["anonymise", "remove"])
def test_erasure_leaves_nothing_of_the_author(client, site, author, sessions, settings, thread, app, mode):
    set_erase_mode(sessions, site["slug"], mode)
    fingerprint = app.extensions["vault"].fingerprint(author["email"])
    ids = thread["ids"]
    response = erase(client, site["auth"], author["email"].lower())
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    kept = 1 if mode == "remove" else 4
    assert response.get_json() == {"erased": 4, "mode": mode, "anonymised": kept, "removed": 4 - kept, "bans": 1}
    assert authors_api.AuthorErased.model_validate(response.get_json())

    token = author["token"]
    needles = [author["email"], fingerprint, author["name"], f"KanariBrowser/{token}", f"ref-{token}"]
    leftovers = found_in_database(settings.database_url, *needles, *thread["contents"], thread["other"]["name"])
    assert thread["other"]["name"] in leftovers, "the search finds what is still there"
    if mode == "remove":
        assert leftovers == {thread["other"]["name"]}, "the removed author's data is still stored"
    else:
        assert leftovers == {thread["other"]["name"], *thread["contents"]}, "the anonymised author is still stored"

    page = client.get(f"/api/v1/sites/{site['slug']}/articles/banjir-dialog/comments").get_json()
    parent = page["comments"][0]
    assert (parent["id"], parent["author_name"], parent["author_url"]) == (ids["parent"], "[dihapus]", None)
    assert parent["replies"][0]["author_name"] == thread["other"]["name"], "someone else's reply stays, in place"
    assert parent["content"] == ("[dihapus]" if mode == "remove" else thread["contents"][0])
    gone = [ids[name] for name in ("answer", "second", "own_reply")]
    statuses = [client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).status_code for comment_id in gone]
    assert statuses == ([404] * 3 if mode == "remove" else [200] * 3)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ban)) == 0
        left = session.scalars(select(Comment).where(Comment.public_id.in_(ids.values()))).all()
        fingerprints = [comment.author_fingerprint for comment in left if comment.public_id != ids["reply"]]
        assert len(set(fingerprints)) == kept and all(fp.startswith("erased:") for fp in fingerprints)
        assert session.scalar(select(func.count()).select_from(Label)) == (0 if mode == "remove" else 2)
        checks = session.scalar(select(func.count()).select_from(CheckResult))
        assert checks == (2 if mode == "remove" else 10), "only the other author's checks are left"
        parent_id = session.scalar(select(Comment.id).where(Comment.public_id == ids["parent"]))
        quoting = [event.details for event in session.scalars(select(AuditEvent).where(
            AuditEvent.action == "transition", or_(AuditEvent.comment_id.is_(None), AuditEvent.comment_id == parent_id)))
            if "terms" in json.dumps(event.details)]
        assert len(quoting) == (0 if mode == "remove" else 1), "the erased words stay quoted in the audit log"
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "author_erased"))
        assert (event.actor, event.details["mode"], event.details["erased"]) == ("site", mode, 4)
    exported = client.post("/api/v1/authors/export", json={"email": author["email"]}, headers=site["auth"])
    assert exported.get_json()["comments"] == [] and exported.get_json()["bans"] == []
    again = post(client, site["auth"], author, thread["contents"][0])  # no longer a duplicate
    assert again and erase(client, site["auth"], author["email"]).get_json()["erased"] == 1


def test_erasure_is_per_site(client, site, second_site, author, sessions):
    post(client, site["auth"], author, f"{TEXTS['parent']} {author['token']}")
    elsewhere = post(client, second_site["auth"], author, f"{TEXTS['second']} {author['token']}")
    assert erase(client, site["auth"], author["email"]).get_json()["erased"] == 1
    exported = client.post("/api/v1/authors/export", json={"email": author["email"]}, headers=second_site["auth"])
    comments = exported.get_json()["comments"]
    assert [(c["id"], c["author_name"], c["author_email"]) for c in comments] == [
        (elsewhere, author["name"], author["email"])]


def test_a_removed_parent_with_only_the_authors_replies_goes_with_them(client, site, author, sessions, work):
    set_erase_mode(sessions, site["slug"], "remove")
    root = approved(client, site["auth"], work, author, f"{TEXTS['parent']} {author['token']}")
    child = approved(client, site["auth"], work, author, f"{TEXTS['reply']} {author['token']}", parent_id=root)
    approved(client, site["auth"], work, author, f"{TEXTS['answer']} {author['token']}", parent_id=child)
    assert erase(client, site["auth"], author["email"]).get_json()["removed"] == 3
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0
        assert session.scalar(select(func.count()).where(AuditEvent.comment_id.is_not(None))) == 0
        assert session.scalar(select(func.count()).where(AuditEvent.action == "transition")) == 3
