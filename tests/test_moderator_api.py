"""The moderator JSON API, /api/v1/moderation: every route's answer (checked against the
schema the OpenAPI document publishes) and its errors, against comments the real checks
decided."""
import re

import pytest
from sqlalchemy import select

from moderation.db import transaction
from moderation.review_schemas import (
    AuditPage, Me, ModeratorComment, ModeratorOut, Moderators, OutcomeOut, OverturnRates, QueuePage, RevealedEmail,
    RulePreview, Sites, TokenIssued, TokenOut, Tokens,
)
from moderation.sites import create_site
from moderation.tables import AuditEvent, Ban, Comment, Label, Moderator

API = "/api/v1/moderation"
CLEAN = "Semoga banjir cepat surut dan warga mendapat bantuan yang layak."
ENGLISH = "Thank you for the clear reporting on the flood relief plan."
LONG = "Pembangunan jembatan baru di kecamatan kami sudah lama ditunggu warga. " * 6
EMAIL = "budi.santoso@example.co.id"
PASSWORD = "correct horse battery"


@pytest.fixture
def mira(make_moderator, token_for):
    """A moderator of poros-warta."""
    make_moderator("mira")
    return token_for("mira")


@pytest.fixture
def root(make_moderator, token_for):
    make_moderator("root", role="admin", sites=())
    return token_for("root")


def answer(response, model, status: int = 200):
    """The body, after checking the status and that it is exactly what the OpenAPI schema says."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    model.model_validate(body)
    return body


def error(response, status: int, code: str) -> dict:
    """The one JSON error shape; returns its per-field messages."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error", "message", "fields"} and body["error"] == code and body["message"]
    return body["fields"]


def statuses(sessions, ids) -> dict:
    with sessions() as session:
        return dict(session.execute(select(Comment.public_id, Comment.status).where(Comment.public_id.in_(ids))).all())


def events(sessions, **where) -> list[AuditEvent]:
    with sessions() as session:
        return session.scalars(select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)).all()


def test_me_and_sites_show_the_callers_sites(app, client, sessions, mira, root):
    with transaction(sessions) as session:
        create_site(session, "kabar-timur", "Kabar Timur")
    me = answer(client.get(f"{API}/me", headers=mira), Me)
    assert me == {"username": "mira", "role": "moderator", "sites": [{"slug": "poros-warta", "name": "Poros Warta"}]}
    assert answer(client.get(f"{API}/sites", headers=mira), Sites)["sites"] == me["sites"]
    everything = answer(client.get(f"{API}/sites", headers=root), Sites)["sites"]
    assert [site["slug"] for site in everything] == ["kabar-timur", "poros-warta"]
    assert answer(client.get(f"{API}/me", headers=root), Me)["role"] == "admin"


def test_only_a_valid_moderator_token_is_accepted(app, client, sessions, site, mira):
    revoked = client.post(f"{API}/tokens", headers=mira, json={}).get_json()
    client.delete(f"{API}/tokens/{revoked['prefix']}", headers=mira)
    tampered = mira["Authorization"][:-4] + "abcd"
    for headers in ({}, {"Authorization": "Basic bWlyYTp4"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer mt_nonsense"}, {"Authorization": tampered}, site["auth"],
                    {"Authorization": f"Bearer {revoked['token']}"}):
        error(client.get(f"{API}/me", headers=headers), 401, "unauthorized")
        error(client.post(f"{API}/actions", headers=headers, json={"ids": ["x"], "action": "approve"}), 401,
              "unauthorized")
    with transaction(sessions) as session:
        session.scalar(select(Moderator).where(Moderator.username == "mira")).is_active = False
    error(client.get(f"{API}/me", headers=mira), 401, "unauthorized")


def test_the_queue_pages_through_flagged_comments_with_counts(client, flag_comments, mira):
    ids = flag_comments([CLEAN, ENGLISH, LONG])
    first = answer(client.get(f"{API}/queue?per_page=2", headers=mira), QueuePage)
    assert [c["id"] for c in first["comments"]] == ids[:2]
    assert first["total"] == 3 and first["counts"] == {"pending": 0, "approved": 0, "flagged": 3, "rejected": 0, "withdrawn": 0}
    assert first["next"] == f"{API}/queue?page=2&per_page=2"
    second = answer(client.get(first["next"], headers=mira), QueuePage)
    assert [c["id"] for c in second["comments"]] == ids[2:] and second["next"] is None
    item = first["comments"][0]
    assert item["author_email"] == "b***o@e***.co.id" and item["author_history"]["flagged"] == 3
    assert "".join(run for run, _ in item["highlights"]) == CLEAN
    assert set(item["scores"]) == {"spam", "toxicity"} and item["article"]["id"] == "premoderated-thread"
    newest = answer(client.get(f"{API}/queue?sort=newest&status=flagged&site=poros-warta", headers=mira), QueuePage)
    assert [c["id"] for c in newest["comments"]] == ids[::-1]
    assert answer(client.get(f"{API}/queue?status=approved", headers=mira), QueuePage)["total"] == 0
    assert answer(client.get(f"{API}/queue?article=elsewhere", headers=mira), QueuePage)["total"] == 0


@pytest.mark.parametrize("args, field", [
    ("status=deleted", "status"), ("sort=random", "sort"), ("spam_below=2", "spam_below"),
    ("toxicity_at_least=nan", "toxicity_at_least"), ("spam_below=low", "spam_below"), ("per_page=101", "per_page"),
    ("page=0", "page"), ("page=two", "page"), ("colour=red", "colour"), ("site=a%00b", "site"),
])
def test_bad_queue_arguments_are_field_errors(client, mira, args, field):
    assert field in error(client.get(f"{API}/queue?{args}", headers=mira), 422, "invalid_fields")


def test_a_comment_is_shown_in_full_with_a_masked_email(client, flag_comments, mira):
    comment_id = flag_comments([CLEAN])[0]
    body = answer(client.get(f"{API}/comments/{comment_id}", headers=mira), ModeratorComment)
    assert body["id"] == comment_id and body["status"] == "flagged" and body["content"] == CLEAN
    assert body["reasons"]["rules"][0] == "article_premoderated"
    assert EMAIL not in client.get(f"{API}/comments/{comment_id}", headers=mira).get_data(as_text=True)
    for unknown in ("does-not-exist", "a%00b", "x" * 40):
        error(client.get(f"{API}/comments/{unknown}", headers=mira), 404, "not_found")


def test_one_comment_is_approved_rejected_marked_spam_or_its_author_banned(client, sessions, flag_comments, mira):
    ids = flag_comments([CLEAN, ENGLISH, LONG], author_email="ani@example.id")
    act = lambda comment_id, body: client.post(f"{API}/comments/{comment_id}/actions", headers=mira, json=body)
    outcome = answer(act(ids[0], {"action": "approve", "note": "reads fine"}), OutcomeOut)
    assert outcome == {"action": "approve", "batch_id": None, "changed": [ids[0]], "skipped": {}, "remaining": 0}
    assert answer(act(ids[0], {"action": "approve"}), OutcomeOut)["skipped"] == {ids[0]: "already approved"}
    assert answer(act(ids[1], {"action": "reject", "reason": "off_topic"}), OutcomeOut)["changed"] == [ids[1]]
    assert answer(act(ids[0], {"action": "spam"}), OutcomeOut)["changed"] == [ids[0]]  # a change of mind
    assert answer(act(ids[2], {"action": "ban", "reason": "toxic", "ban_days": 7}), OutcomeOut)["changed"] == [ids[2]]
    assert statuses(sessions, ids) == {ids[0]: "rejected", ids[1]: "rejected", ids[2]: "rejected"}
    with sessions() as session:
        reasons = dict(session.execute(select(Comment.public_id, Comment.reason)).all())
        assert [reasons[i] for i in ids] == ["spam", "off_topic", "toxic"]
        [ban] = session.scalars(select(Ban)).all()
        assert ban.created_by == "mira" and ban.expires_at is not None
    assert [e.details.get("note") for e in events(sessions, action="transition", actor="mira")][0] == "reads fine"
    shown = client.get(f"{API}/comments/{ids[2]}", headers=mira).get_json()
    assert shown["author_banned_until"] == ban.expires_at.isoformat() and shown["decided_by"] == "mira"


@pytest.mark.parametrize("body, field", [
    ({"action": "delete"}, "action"),
    ({"action": "reject"}, "reason"),
    ({"action": "reject", "reason": "ugly"}, "reason"),
    ({"action": "ban", "reason": "spam", "ban_days": 0}, "ban_days"),
    ({"action": "ban", "reason": "spam", "ban_days": "7"}, "ban_days"),
    ({"action": "approve", "note": "x" * 501}, "note"),
    ({"action": "approve", "notes": "typo"}, "notes"),
    ({}, "action"),
])
def test_bad_verdicts_are_field_errors_and_change_nothing(client, sessions, flag_comments, mira, body, field):
    comment_id = flag_comments([CLEAN])[0]
    fields = error(client.post(f"{API}/comments/{comment_id}/actions", headers=mira, json=body), 422, "invalid_fields")
    assert field in fields and fields[field]
    assert statuses(sessions, [comment_id]) == {comment_id: "flagged"}
    assert not events(sessions, actor="mira")


def test_bodies_must_be_json_objects(client, flag_comments, mira):
    comment_id = flag_comments([CLEAN])[0]
    url = f"{API}/comments/{comment_id}/actions"
    error(client.post(url, headers=mira, data="action=approve"), 415, "unsupported_media_type")
    error(client.post(url, headers=mira, data="{", content_type="application/json"), 400, "malformed_body")
    error(client.post(url, headers=mira, json=["approve"]), 400, "malformed_body")
    error(client.post(f"{API}/rules/preview", headers=mira, data="x", content_type="text/plain"), 415,
          "unsupported_media_type")


def test_a_selection_is_one_audited_batch(client, sessions, flag_comments, mira):
    ids = flag_comments([CLEAN, ENGLISH, LONG])
    outcome = answer(client.post(f"{API}/actions", headers=mira, json={"ids": ids[:2] + ids[:1], "action": "approve"}),
                     OutcomeOut)
    assert sorted(outcome["changed"]) == sorted(ids[:2]) and re.fullmatch(r"[0-9a-f]{32}", outcome["batch_id"])
    audit = answer(client.get(f"{API}/audit?batch={outcome['batch_id']}", headers=mira), AuditPage)
    assert sorted(e["comment_id"] for e in audit["events"]) == sorted(ids[:2])
    assert {(e["actor"], e["from_status"], e["to_status"]) for e in audit["events"]} == {("mira", "flagged", "approved")}


def test_a_selection_with_an_unknown_comment_changes_nothing(client, sessions, flag_comments, mira):
    ids = flag_comments([CLEAN, ENGLISH])
    error(client.post(f"{API}/actions", headers=mira, json={"ids": [*ids, "nope"], "action": "spam"}), 404, "not_found")
    assert statuses(sessions, ids) == {comment_id: "flagged" for comment_id in ids}
    assert "ids" in error(client.post(f"{API}/actions", headers=mira, json={"ids": [], "action": "spam"}), 422,
                          "invalid_fields")
    assert "ids.0" in error(client.post(f"{API}/actions", headers=mira, json={"ids": [7], "action": "spam"}), 422,
                            "invalid_fields")


def test_a_rule_is_previewed_then_applied_as_one_batch_with_labels(client, sessions, flag_comments, mira, root):
    ids = flag_comments([CLEAN, ENGLISH, LONG], article_id="banjir")
    other = flag_comments([CLEAN], article_id="pemilu")
    rule = {"article": "banjir", "toxicity_below": 0.9}
    dry_run = answer(client.post(f"{API}/rules/preview", headers=mira, json={"filter": rule}), RulePreview)
    assert dry_run["count"] == 3 and dry_run["limit"] >= 3
    assert [c["id"] for c in dry_run["sample"]] == ids
    assert dry_run["sample"][2]["content"] == LONG[:200] and dry_run["sample"][0]["article_id"] == "banjir"
    assert statuses(sessions, ids + other) == {comment_id: "flagged" for comment_id in ids + other}

    stale = client.post(f"{API}/rules/apply", headers=mira, json={"filter": rule, "action": "spam", "expect": 2})
    assert error(stale, 409, "selection_changed") == {"count": "3"}
    assert statuses(sessions, ids) == {comment_id: "flagged" for comment_id in ids}

    outcome = answer(client.post(f"{API}/rules/apply", headers=mira,
                                 json={"filter": rule, "action": "spam", "expect": 3, "note": "promo wave"}), OutcomeOut)
    assert sorted(outcome["changed"]) == sorted(ids) and outcome["remaining"] == 0
    batch = f"{API}/audit?batch={outcome['batch_id']}"
    audit = answer(client.get(batch, headers=mira), AuditPage)["events"]
    assert sorted(e["comment_id"] for e in audit if e["comment_id"]) == sorted(ids)
    assert all(e["batch_id"] == outcome["batch_id"] and e["actor"] == "mira" for e in audit)
    # the batch's own event (with the rule) is read by its author and by admins
    [bulk] = [e for e in audit if e["action"] == "bulk_spam"]
    assert [e for e in answer(client.get(batch, headers=root), AuditPage)["events"] if e["action"] == "bulk_spam"]
    assert bulk["details"]["rule"] == {**rule, "status": "flagged"} and bulk["details"]["count"] == 3
    assert statuses(sessions, ids + other) == {**{i: "rejected" for i in ids}, other[0]: "flagged"}
    with sessions() as session:
        labels = session.execute(select(Comment.public_id, Label.check, Label.value, Label.created_by).join(Comment))
        assert sorted(labels.all()) == sorted((i, "spam", 1, "mira") for i in ids)


@pytest.mark.parametrize("body, field", [
    ({}, "filter"),
    ({"filter": {"toxicity_below": "low"}}, "filter.toxicity_below"),
    ({"filter": {"toxicity_below": 1.5}}, "filter.toxicity_below"),
    ({"filter": {"toxicty_below": 0.2}}, "filter.toxicty_below"),
    ({"filter": {"status": "gone"}}, "filter.status"),
    ({"filter": [], "expect": 1}, "filter"),
])
def test_bad_rules_are_field_errors(client, mira, body, field):
    preview = {key: value for key, value in body.items() if key == "filter"}
    assert field in error(client.post(f"{API}/rules/preview", headers=mira, json=preview), 422, "invalid_fields")
    apply = {"action": "approve", "expect": 0, **body}
    assert field in error(client.post(f"{API}/rules/apply", headers=mira, json=apply), 422, "invalid_fields")


def test_apply_needs_the_count_and_a_valid_verdict(client, flag_comments, mira):
    flag_comments([CLEAN])
    url = f"{API}/rules/apply"
    assert "expect" in error(client.post(url, headers=mira, json={"filter": {}, "action": "spam"}), 422, "invalid_fields")
    assert "expect" in error(client.post(url, headers=mira, json={"filter": {}, "action": "spam", "expect": -1}), 422,
                             "invalid_fields")
    fields = error(client.post(url, headers=mira, json={"filter": {}, "action": "reject", "expect": 1}), 422,
                   "invalid_fields")
    assert "reason" in fields


def test_the_audit_log_filters_and_pages(client, sessions, flag_comments, mira):
    ids = flag_comments([CLEAN, ENGLISH])
    client.post(f"{API}/comments/{ids[0]}/actions", headers=mira, json={"action": "reject", "reason": "other"})
    everything = answer(client.get(f"{API}/audit?per_page=1", headers=mira), AuditPage)
    assert everything["total"] == 3 and everything["events"][0]["actor"] == "mira"  # newest first
    assert everything["next"] == f"{API}/audit?page=2&per_page=1"
    automated = answer(client.get(f"{API}/audit?actor=checks", headers=mira), AuditPage)["events"]
    assert len(automated) == 2 and all(e["automated"] and e["model_versions"] for e in automated)
    mine = answer(client.get(f"{API}/audit?comment={ids[0]}&to_status=rejected&since=2000-01-01", headers=mira),
                  AuditPage)
    assert [(e["actor"], e["reason"]) for e in mine["events"]] == [("mira", "other")]
    assert answer(client.get(f"{API}/audit?until=2000-01-01T00:00:00%2B07:00", headers=mira), AuditPage)["total"] == 0
    for args, field in (("since=yesterday", "since"), ("from_status=gone", "from_status"), ("who=me", "who")):
        assert field in error(client.get(f"{API}/audit?{args}", headers=mira), 422, "invalid_fields")


def test_overturn_rates_count_moderators_reversing_the_model(client, flag_comments, mira):
    ids = flag_comments([CLEAN, ENGLISH])
    assert answer(client.get(f"{API}/overturns", headers=mira), OverturnRates) == {"rates": []}
    client.post(f"{API}/comments/{ids[0]}/actions", headers=mira, json={"action": "spam"})  # the model called it ham
    [rate] = answer(client.get(f"{API}/overturns", headers=mira), OverturnRates)["rates"]
    assert (rate["site"], rate["check"], rate["labels"], rate["overturned"], rate["rate"]) == (
        "poros-warta", "spam", 1, 1, 1.0)
    assert rate["model_version"].startswith("spam-")


def test_revealing_an_email_is_for_admins_and_audited(client, sessions, flag_comments, mira, root):
    comment_id = flag_comments([CLEAN])[0]
    url = f"{API}/comments/{comment_id}/reveal-email"
    error(client.post(url, headers=mira), 403, "forbidden")
    assert not events(sessions, action="reveal_email")
    response = client.post(url, headers=root)
    assert answer(response, RevealedEmail) == {"email": EMAIL}
    assert response.headers["Cache-Control"] == "no-store"
    [event] = answer(client.get(f"{API}/audit?action=reveal_email", headers=root), AuditPage)["events"]
    assert (event["actor"], event["comment_id"]) == ("root", comment_id)
    error(client.post(f"{API}/comments/nope/reveal-email", headers=root), 404, "not_found")


def test_tokens_are_issued_once_listed_without_secrets_and_revoked(client, sessions, mira, root):
    issued = client.post(f"{API}/tokens", headers=mira, json={"name": "laptop"})
    token = answer(issued, TokenIssued, 201)
    assert issued.headers["Cache-Control"] == "no-store" and token["name"] == "laptop"
    assert token["token"].startswith(f"mt_{token['prefix']}_")
    laptop = {"Authorization": f"Bearer {token['token']}"}
    assert answer(client.get(f"{API}/me", headers=laptop), Me)["username"] == "mira"
    unnamed = answer(client.post(f"{API}/tokens", headers=mira), TokenIssued, 201)  # the body is optional
    assert unnamed["name"] is None
    listed = answer(client.get(f"{API}/tokens", headers=mira), Tokens)["tokens"]
    assert [t["prefix"] for t in listed][1:] == [token["prefix"], unnamed["prefix"]] and len(listed) == 3
    assert token["token"] not in client.get(f"{API}/tokens", headers=mira).get_data(as_text=True)

    revoked = answer(client.delete(f"{API}/tokens/{token['prefix']}", headers=mira), TokenOut)
    assert revoked["revoked_at"] is not None
    error(client.get(f"{API}/me", headers=laptop), 401, "unauthorized")
    assert answer(client.delete(f"{API}/tokens/{token['prefix']}", headers=mira), TokenOut) == revoked
    error(client.delete(f"{API}/tokens/{unnamed['prefix']}", headers=root), 404, "not_found")  # not root's
    error(client.delete(f"{API}/tokens/not-a-prefix", headers=mira), 404, "not_found")
    assert answer(client.get(f"{API}/me", headers={"Authorization": f"Bearer {unnamed['token']}"}), Me)
    assert [e.details["prefix"] for e in events(sessions, action="token_revoked")] == [token["prefix"]]
    for body, field in (({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({"label": "x"}, "label")):
        assert field in error(client.post(f"{API}/tokens", headers=mira, json=body), 422, "invalid_fields")


@pytest.mark.parametrize("method, path", [
    ("get", "/moderators"), ("post", "/moderators"), ("patch", "/moderators/mira"),
    ("post", "/comments/anything/reveal-email"),
])
def test_admin_routes_are_forbidden_to_moderators(client, sessions, mira, method, path):
    body = {"username": "eve", "password": PASSWORD, "role": "admin"} if method == "post" else {"role": "admin"}
    error(getattr(client, method)(f"{API}{path}", headers=mira, json=body), 403, "forbidden")
    with sessions() as session:
        assert session.scalar(select(Moderator).where(Moderator.username == "mira")).role == "moderator"
        assert session.scalar(select(Moderator).where(Moderator.username == "eve")) is None


def test_admins_create_and_change_moderators_audited(client, sessions, site, root):
    created = client.post(f"{API}/moderators", headers=root,
                          json={"username": "sari", "password": PASSWORD, "sites": ["poros-warta"]})
    assert answer(created, ModeratorOut, 201) | {"created_at": None} == {
        "username": "sari", "role": "moderator", "sites": ["poros-warta"], "is_active": True, "created_at": None,
        "locked_until": None}
    listed = answer(client.get(f"{API}/moderators", headers=root), Moderators)["moderators"]
    assert [m["username"] for m in listed] == ["root", "sari"]

    url = f"{API}/moderators/sari"
    changed = answer(client.patch(url, headers=root, json={"role": "admin", "sites": [], "password": "another long one"}),
                     ModeratorOut)
    assert changed["role"] == "admin" and changed["sites"] == []
    answer(client.patch(url, headers=root, json={"is_active": False}), ModeratorOut)
    with sessions() as session:
        sari = session.scalar(select(Moderator).where(Moderator.username == "sari"))
        assert not sari.is_active and sari.session_version == 4  # the new password, the new role, the deactivation: each ends her sessions
    audit = events(sessions, actor="root")
    assert [(e.action, e.details) for e in audit] == [
        ("moderator_created", {"moderator": "sari", "role": "moderator", "sites": ["poros-warta"]}),
        ("moderator_changed", {"moderator": "sari", "role": "admin", "sites": [], "password_changed": True}),
        ("moderator_changed", {"moderator": "sari", "is_active": False}),
    ]
    assert all(e.site_id is None for e in audit)
    log = client.get(f"{API}/audit?action=moderator_changed", headers=root).get_data(as_text=True)
    assert "another long one" not in log and PASSWORD not in log


@pytest.mark.parametrize("body, field", [
    ({"username": "root", "password": PASSWORD}, "username"),
    ({"username": "Sari Dewi", "password": PASSWORD}, "username"),
    ({"username": "sari", "password": "short"}, "password"),
    ({"username": "sari", "password": PASSWORD, "role": "owner"}, "role"),
    ({"username": "sari", "password": PASSWORD, "sites": ["nowhere"]}, "sites"),
    ({"username": "sari", "password": PASSWORD, "is_admin": True}, "is_admin"),
    ({"password": PASSWORD}, "username"),
])
def test_bad_new_moderators_are_field_errors(client, sessions, site, root, body, field):
    fields = error(client.post(f"{API}/moderators", headers=root, json=body), 422, "invalid_fields")
    assert fields[field] and "short" not in str(fields) and PASSWORD not in str(fields)
    with sessions() as session:
        assert session.scalar(select(Moderator).where(Moderator.username == "sari")) is None


def test_a_failed_change_writes_nothing_and_the_last_admin_stays(client, sessions, make_moderator, root, mira):
    url = f"{API}/moderators/mira"
    assert "sites" in error(client.patch(url, headers=root, json={"role": "admin", "sites": ["nowhere"]}), 422,
                            "invalid_fields")
    assert "password" in error(client.patch(url, headers=root, json={"password": "short"}), 422, "invalid_fields")
    with sessions() as session:
        assert session.scalar(select(Moderator).where(Moderator.username == "mira")).role == "moderator"
    assert "role" in error(client.patch(f"{API}/moderators/root", headers=root, json={"role": "moderator"}), 422,
                           "invalid_fields")
    assert "is_active" in error(client.patch(f"{API}/moderators/root", headers=root, json={"is_active": False}), 422,
                                "invalid_fields")
    error(client.patch(f"{API}/moderators/nobody", headers=root, json={"role": "admin"}), 404, "not_found")
    error(client.patch(f"{API}/moderators/NO%00BODY", headers=root, json={"role": "admin"}), 404, "not_found")
    assert not events(sessions, actor="root")
    make_moderator("second", role="admin", sites=())
    assert answer(client.patch(f"{API}/moderators/root", headers=root, json={"role": "moderator"}), ModeratorOut)
    error(client.get(f"{API}/moderators", headers=root), 403, "forbidden")  # the change took effect at once


def test_the_openapi_document_describes_every_moderation_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["moderatorToken"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]
        ["moderatorToken"]["description"]}
    schemas = document["components"]["schemas"]
    routes = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(API)]
    assert routes
    for rule in routes:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][path][method.lower()]
            assert operation["tags"] == ["moderation"] and operation["security"] == [{"moderatorToken": []}]
            assert {"401", "503"} <= set(operation["responses"])
            for parameter in re.findall(r"{(\w+)}", path):
                assert {"name": parameter, "in": "path", "required": True}.items() <= operation["parameters"][0].items()
            refs = re.findall(r'"#/components/schemas/(\w+)"', str(operation).replace("'", '"'))
            assert refs and all(ref in schemas for ref in refs)
    apply = document["paths"][f"{API}/rules/apply"]["post"]
    assert apply["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RuleApplyIn"}
    assert "409" in apply["responses"] and set(schemas["RuleApplyIn"]["required"]) == {"action", "filter", "expect"}
    assert schemas["ActionIn"]["properties"]["action"]["enum"] == ["approve", "reject", "spam", "ban"]
    queue = {p["name"]: p for p in document["paths"][f"{API}/queue"]["get"]["parameters"]}
    assert queue["per_page"]["schema"]["maximum"] == 100 and queue["toxicity_below"]["schema"]["type"] == "number"
    assert set(queue) == {"status", "site", "article", "reason", "language", "spam_below", "spam_at_least",
                          "toxicity_below", "toxicity_at_least", "sort", "page", "per_page"}
