"""The site-facing JSON API: submit, read back, the public thread, and every bad input."""
import json

import pytest
from sqlalchemy import func, select

from moderation.db import transaction
from moderation.sites import create_site
from moderation.tables import Article, Comment

BENIGN = "Semoga dialog kedua negara membawa perdamaian yang nyata bagi semua."


def count_comments(app) -> int:
    with app.extensions["sessions"]() as session:
        return session.scalar(select(func.count()).select_from(Comment))


def post(client, site, payload, **kwargs):
    return client.post("/api/v1/comments", json=payload, headers=site["auth"], **kwargs)


def test_submit_is_stored_before_202(app, client, site, comment_payload):
    response = post(client, site, comment_payload())
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["links"]["self"] == f"/api/v1/comments/{body['id']}"
    assert response.headers["Location"] == body["links"]["self"]
    with app.extensions["sessions"]() as session:
        stored = session.scalar(select(Comment).where(Comment.public_id == body["id"]))
        assert stored.status == "pending"
        assert stored.language == "id"
        assert stored.article.title.startswith("Rusia dan Amerika")


def test_comment_is_decided_with_scores_reasons_and_versions(client, site, comment_payload, work):
    comment_id = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    work()
    body = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
    assert body["status"] == "approved"
    assert set(body["scores"]) == {"spam", "toxicity"}
    assert all(0 <= score <= 1 for score in body["scores"].values())
    assert body["model_versions"]["spam"].startswith("spam-")
    assert body["model_versions"]["toxicity"].startswith("toxicity-")
    assert body["reasons"]["rule"] == "below_thresholds"
    assert set(body["reasons"]["checks"]["spam"]["thresholds"]) == {"flag", "reject", "attributes"}
    assert {"abusive", "hate"} <= set(body["reasons"]["checks"]["toxicity"]["thresholds"]["attributes"])
    assert body["author_email"] == "b***o@e***.co.id"
    assert body["created_at"].endswith("+00:00") and body["decided_at"] >= body["created_at"]


def test_gambling_promotion_is_not_published(client, site, comment_payload, work):
    promo = "𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 hari ini m4xw1n terus! daftar sekarang di PULAUWIN88, deposit 10rb langsung jp"
    comment_id = post(client, site, comment_payload(content=promo)).get_json()["id"]
    work()
    body = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
    assert body["status"] in {"rejected", "flagged"}
    assert body["reason"] == "spam"
    assert body["reasons"]["checks"]["spam"]["terms"], "the words that drove the score are stored"


def test_thread_lists_approved_comments_threaded_without_private_fields(client, site, comment_payload, work):
    first = post(client, site, comment_payload(content=BENIGN)).get_json()["id"]
    work()  # only a published comment can be replied to
    reply = post(client, site, comment_payload(content="Setuju, semoga cepat terwujud.", parent_id=first)).get_json()["id"]
    work()
    body = client.get(f"/api/v1/sites/{site['slug']}/articles/rusia-as-dialog/comments").get_json()
    assert body["total"] == 1
    [root] = body["comments"]
    assert root["id"] == first
    assert [r["id"] for r in root["replies"]] == [reply]
    assert root["replies"][0]["parent_id"] == first
    assert set(root) == {"id", "parent_id", "author_name", "author_url", "content", "created_at", "replies"}
    assert "budi" not in json.dumps(body).lower().replace("budi santoso", "")


def test_thread_paginates(client, site, comment_payload, work):
    for n in range(3):
        post(client, site, comment_payload(content=f"{BENIGN} Komentar ke-{n}."))
    work()
    url = f"/api/v1/sites/{site['slug']}/articles/rusia-as-dialog/comments?per_page=2"
    first_page = client.get(url).get_json()
    assert (len(first_page["comments"]), first_page["total"]) == (2, 3)
    second_page = client.get(first_page["next"]).get_json()
    assert len(second_page["comments"]) == 1 and second_page["next"] is None


def test_unknown_article_is_an_empty_thread_and_unknown_site_404(client, site):
    body = client.get(f"/api/v1/sites/{site['slug']}/articles/never-commented/comments").get_json()
    assert body["comments"] == [] and body["total"] == 0
    response = client.get("/api/v1/sites/no-such-site/articles/1/comments")
    assert response.status_code == 404 and response.get_json()["error"] == "site_not_found"


def test_articles_are_scoped_by_site(app, client, site, comment_payload):
    with transaction(app.extensions["sessions"]) as session:
        _, other_key = create_site(session, "kabar-lain", "Kabar Lain")
    post(client, site, comment_payload(article_id="123"))
    client.post("/api/v1/comments", json=comment_payload(article_id="123"), headers={"Authorization": f"Bearer {other_key}"})
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(Article).where(Article.external_id == "123")) == 2


def test_a_site_cannot_read_another_sites_comment(app, client, site, comment_payload):
    comment_id = post(client, site, comment_payload()).get_json()["id"]
    with transaction(app.extensions["sessions"]) as session:
        _, other_key = create_site(session, "kabar-lain", "Kabar Lain")
    response = client.get(f"/api/v1/comments/{comment_id}", headers={"Authorization": f"Bearer {other_key}"})
    assert response.status_code == 404


def test_replies_must_name_a_parent_in_the_same_article(client, site, comment_payload):
    other = post(client, site, comment_payload(article_id="another-article")).get_json()["id"]
    for parent_id, message in (("nope", "No comment with this id."), (other, "The parent belongs to another article.")):
        response = post(client, site, comment_payload(parent_id=parent_id))
        assert response.status_code == 422
        assert response.get_json()["fields"] == {"parent_id": message}


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"author_name": None}, "author_name", "This field is required."),
        ({"author_email": None}, "author_email", "This field is required."),
        ({"content": None}, "content", "This field is required."),
        ({"article_id": None}, "article_id", "This field is required."),
        ({"content": "   \n "}, "content", "Must not be blank."),
        ({"author_name": ""}, "author_name", "Must not be empty."),
        ({"author_name": "x" * 246}, "author_name", "Must be at most 245 characters."),
        ({"author_email": "a" * 95 + "@b.com"}, "author_email", "Must be at most 100 characters."),
        ({"author_url": "https://e.com/" + "x" * 190}, "author_url", "Must be at most 200 characters."),
        ({"content": "x" * 65526}, "content", "Must be at most 65525 characters."),
        ({"author_email": "not-an-email"}, "author_email", "Enter a valid email address, like name@example.com."),
        ({"author_url": "javascript:alert(1)"}, "author_url", "Enter a full web address starting with http:// or https://."),
        ({"article_id": 123}, "article_id", "Must be a string."),
        ({"content": ["a list"]}, "content", "Must be a string."),
        ({"content": {"nested": "json"}}, "content", "Must be a string."),
        ({"author_name": "Budi\x00"}, "author_name", "Must not contain NUL characters."),
        ({"content": "bad \ud800 surrogate"}, "content", "Must be valid UTF-8 text."),
        ({"user_ip": "999.1.1.1"}, "user_ip", "Enter an IPv4 or IPv6 address."),
        ({"lang": "not a tag"}, "lang", "Use a language tag such as 'id' or 'en-US'."),
        ({"surprise": "field"}, "surprise", "Unknown field."),
    ],
)
def test_field_errors_are_422_per_field_and_store_nothing(app, client, site, comment_payload, overrides, field, message):
    response = post(client, site, comment_payload(**overrides))
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_fields"
    assert body["fields"][field] == message
    assert count_comments(app) == 0


def test_invalid_utf8_is_a_field_error(app, client, site, comment_payload):
    raw = json.dumps(comment_payload(content="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"caf\xe9 \xff")
    response = client.post("/api/v1/comments", data=raw, content_type="application/json", headers=site["auth"])
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"content": "Must be valid UTF-8 text."}
    assert count_comments(app) == 0


@pytest.mark.parametrize(
    "data, content_type, status, code",
    [
        (b'{"article_id": ', "application/json", 400, "malformed_body"),
        (b"[1, 2]", "application/json", 400, "malformed_body"),
        (b"article_id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_malformed_or_wrong_type_bodies(app, client, site, data, content_type, status, code):
    response = client.post("/api/v1/comments", data=data, content_type=content_type, headers=site["auth"])
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == code and body["message"] and body["fields"] == {}
    assert count_comments(app) == 0


def test_oversized_body_is_413(app, client, site, comment_payload):
    response = post(client, site, comment_payload(content="x" * (2 * 1024 * 1024)))
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    assert count_comments(app) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk_000000000000_wrongwrongwrongwrongwrong"}, {"Authorization": "Basic abc"},
     {"Authorization": "Bearer garbage"}],
)
def test_missing_or_wrong_key_is_401(app, client, site, comment_payload, headers):
    response = client.post("/api/v1/comments", json=comment_payload(), headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert client.get("/api/v1/comments/whatever", headers=headers).status_code == 401
    assert count_comments(app) == 0


def test_unknown_comment_is_404(client, site):
    response = client.get("/api/v1/comments/does-not-exist", headers=site["auth"])
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_bad_page_parameter_is_422(client, site):
    response = client.get(f"/api/v1/sites/{site['slug']}/articles/1/comments?page=0")
    assert response.status_code == 422 and "page" in response.get_json()["fields"]


def test_openapi_document_describes_the_api(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/comments", "/api/v1/comments/{comment_id}", "/api/v1/sites/{site_slug}/articles/{article_id}/comments"} <= set(document["paths"])
    schema = document["components"]["schemas"]["CommentIn"]
    assert schema["properties"]["author_name"]["maxLength"] == 245
    assert set(schema["required"]) == {"article_id", "author_name", "author_email", "content"}
    assert "PublicComment" in document["components"]["schemas"]


@pytest.mark.parametrize("path", ["/api/v1/comments/a%00b", "/api/v1/comments/" + "x" * 40])
def test_ids_that_cannot_exist_are_404(client, site, path):
    response = client.get(path, headers=site["auth"])
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_thread_paths_with_impossible_ids(client, site):
    assert client.get("/api/v1/sites/poros%00warta/articles/x/comments").status_code == 404
    body = client.get(f"/api/v1/sites/{site['slug']}/articles/a%00b/comments").get_json()
    assert body["comments"] == [] and body["total"] == 0


def test_article_ids_may_hold_slashes_and_spaces(client, site, comment_payload, work):
    response = client.post("/api/v1/comments", json=comment_payload(article_id="2026/11/rusia as", content=BENIGN), headers=site["auth"])
    thread = response.get_json()["links"]["thread"]
    assert thread == f"/api/v1/sites/{site['slug']}/articles/2026%2F11%2Frusia%20as/comments"
    work()
    assert client.get(thread).get_json()["total"] == 1
    assert client.get(f"/api/v1/sites/{site['slug']}/articles/2026/11/rusia as/comments").get_json()["total"] == 1


def test_a_failed_reply_leaves_no_article_behind(app, client, site, comment_payload):
    response = post(client, site, comment_payload(article_id="brand-new", parent_id="nope"))
    assert response.status_code == 422
    assert post(client, site, comment_payload(article_id="brand-new")).status_code == 202
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(Article).where(Article.external_id == "brand-new")) == 1


def test_a_site_closes_and_reopens_a_thread(client, site, comment_payload):
    url = "/api/v1/articles/rusia-as-dialog"
    closed = client.patch(url, json={"is_open": False, "title": "Dialog"}, headers=site["auth"])
    assert closed.status_code == 200 and closed.get_json() == {
        "article_id": "rusia-as-dialog", "title": "Dialog", "url": None, "is_open": False, "closes_at": None,
        "premoderated": False}
    refused = post(client, site, comment_payload())
    assert refused.status_code == 403 and refused.get_json()["error"] == "thread_closed"
    assert client.patch(url, json={"is_open": True}, headers=site["auth"]).get_json()["is_open"] is True
    assert post(client, site, comment_payload()).status_code == 202
    past = client.patch(url, json={"closes_at": "2020-01-01T00:00:00+07:00"}, headers=site["auth"])
    assert past.get_json()["closes_at"] == "2019-12-31T17:00:00+00:00"
    assert post(client, site, comment_payload(content="Komentar lain.")).status_code == 403


@pytest.mark.parametrize("body, field", [
    ({"is_open": "no"}, "is_open"), ({"closes_at": "next week"}, "closes_at"), ({"url": "ftp://x"}, "url"),
    ({"colour": "red"}, "colour")])
def test_bad_thread_settings_are_field_errors(client, site, body, field):
    response = client.patch("/api/v1/articles/a-1", json=body, headers=site["auth"])
    assert response.status_code == 422 and field in response.get_json()["fields"]


def test_a_site_reads_only_its_own_policy(app, client, site):
    from moderation.policy import parse_policy, set_policy

    with transaction(app.extensions["sessions"]) as session:
        other, other_key = create_site(session, "kabar-lain", "Kabar Lain")
        set_policy(session, other, parse_policy({"premoderation": True}), "ayu")
    mine = client.get("/api/v1/site/policy", headers=site["auth"]).get_json()
    theirs = client.get("/api/v1/site/policy", headers={"Authorization": f"Bearer {other_key}"}).get_json()
    assert (mine["site"], mine["version"], mine["policy"]["premoderation"]) == ("poros-warta", 0, False)
    assert (theirs["site"], theirs["version"], theirs["policy"]["premoderation"]) == ("kabar-lain", 1, True)
    assert client.get("/api/v1/site/policy").status_code == 401
