"""schemathesis against the served OpenAPI document, on the Flask app itself (WSGI, no network),
then the cases it found, kept as plain regression tests.

The fuzzer runs on SQLite only: the answers under test do not depend on the database (the
regression test of numbers, which do, runs on both). Every documented operation is sent with the credentials it
documents (a site key, an admin's moderator token, the widget's publishable key from an allowed
origin, the site key as `?key=` on the Perspective-compatible routes, answered by a real toxicity
worker) and gets valid and invalid requests. None may answer 5xx; every answer must match the
document (status code, content type, headers, body); invalid input must be refused; a missing
credential is 401 before anything else (403 on the Perspective routes); an undeclared method is
405 with `Allow`. A fixed seed and a small budget per operation keep CI repeatable and quick:
FUZZ_EXAMPLES=100 hunts longer."""
import os

import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from rq import Queue, Worker
from sqlalchemy import func, select, update

from conftest import statuses
from moderation import create_app
from moderation.db import transaction
from moderation.moderators import issue_token
from moderation.policy import parse_policy, set_policy
from moderation.settings import Settings
from moderation.sites import find_site, issue_publishable_key
from moderation.tables import Article, Comment, Moderator, SuggestedScore
from moderation.transitions import transition
from stack import Processes, compose_env, service_argv, service_env, wait_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
ORIGIN = "https://poroswarta.example"
ADMIN = "fuzz-admin-7f3a9c"  # a name the fuzzer will not guess (changeModerator could lock it out)
APPROVED, FLAGGED = "fuzzApprovedComment01", "fuzzFlaggedComment001"  # public ids it may guess
ARTICLE = "rusia-as-dialog"
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PERSPECTIVE = "/perspective/"


def served_document() -> dict:
    """The document as the service serves it (serving it touches no database or Redis)."""
    app = create_app(Settings(secret_key="fuzz", email_keys=(Fernet.generate_key().decode(),),
                              fingerprint_key="fuzz", database_url="sqlite://", env="test"))
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


class TestedApp:
    """What the fuzzer's requests reach: the running test's app (each operation gets a fresh
    one, on an emptied database)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


TESTED = TestedApp()
CONFIG = schemathesis.Config.from_dict({
    "seed": 20260411,
    "generation": {"max-examples": EXAMPLES, "deterministic": True},
    # Every default check but one: a request the schema allows may still be refused for what a
    # schema cannot say (a deliverable email, an existing site), so a 422 to valid data is no bug.
    "checks": {"positive_data_acceptance": {"enabled": False}},
    # Perspective answers an invalid key 400 (INVALID_ARGUMENT, "API key not valid"), as its clients
    # expect, where this check wants 401 or 403 (test_perspective.py: test_keys_wrong_or_missing).
    "operations": [{"include-path-regex": f"^{PERSPECTIVE}", "checks": {"ignored_auth": {"enabled": False}}}],
    "dictionaries": {name: {"values": values} for name, values in {
        "slugs": ["poros-warta"], "articles": [ARTICLE], "comments": [APPROVED, FLAGGED],
        "usernames": [ADMIN, "mira"], "emails": [f"pembaca{n}@example.co.id" for n in range(20)]}.items()},
    "parameters": {  # existing things, often, so that the fuzzer gets past the 404s and 422s
        "path.site_slug": {"dictionary": "slugs", "probability": 0.7},
        "path.slug": {"dictionary": "slugs", "probability": 0.7},
        "path.article_id": {"dictionary": "articles", "probability": 0.5},
        "path.comment_id": {"dictionary": "comments", "probability": 0.5},
        "path.username": {"dictionary": "usernames", "probability": 0.5},
        "body.author_email": {"dictionary": "emails", "probability": 0.8},
        "body.parent_id": {"dictionary": "comments", "probability": 0.5},
        "body.ids[*]": {"dictionary": "comments", "probability": 0.5},
    },
})
# Loaded at import, not per test: schemathesis.pytest.from_fixture (4.32.5) fails under pytest 9
# (it sets the node's `_nodeid`, which pytest 9 no longer has).
schema = schemathesis.openapi.from_dict(served_document(), config=CONFIG)
schema.app = TESTED


@schema.hook
def filter_query(context, query) -> bool:
    """An empty list goes out as `name=`, an empty value, which the document allows (absent):
    that is no invalid request."""
    return not any(value == [] for value in (query or {}).values())


@pytest.fixture
def credentials(app, site, client, comment_payload):
    """Data for the fuzzer to find (an approved and a flagged comment, the widget's key, an
    admin with a token) and the headers (or, for the Perspective routes, the `?key=`) each
    operation's security scheme asks for."""
    public_ids = []
    for content in ("Semoga dialog kedua negara membawa perdamaian.", "Beritanya kurang lengkap, tolong dicek."):
        response = client.post("/api/v1/comments", json=comment_payload(content=content), headers=site["auth"])
        assert response.status_code == 202, response.get_json()
        public_ids.append(response.get_json()["id"])
    with transaction(app.extensions["sessions"]) as session:
        for public_id, fixed, status in zip(public_ids, (APPROVED, FLAGGED), ("approved", "flagged")):
            session.execute(update(Comment).where(Comment.public_id == public_id).values(public_id=fixed))
            transition(session, session.scalar(select(Comment).where(Comment.public_id == fixed)), status,
                       actor="checks")
        publishable = issue_publishable_key(session, find_site(session, site["slug"]), [ORIGIN])
        admin = Moderator(username=ADMIN, password_hash="!", role="admin")  # no password opens it (and no scrypt)
        session.add(admin)
        session.flush()
        token = issue_token(session, admin, "fuzz")
    TESTED.app = app
    by_scheme = {"siteKey": {"headers": site["auth"]},
                 "moderatorToken": {"headers": {"Authorization": f"Bearer {token}"}},
                 "publishableKey": {"headers": {"X-Saring-Key": publishable, "Origin": ORIGIN}},
                 "perspectiveKey": {"params": {"key": site["key"]}}}

    def credentials_for(operation) -> dict:
        schemes = [name for requirement in operation.definition.raw["security"] for name in requirement]
        return by_scheme[schemes[0]] if schemes else {}

    return credentials_for


@pytest.fixture
def toxicity_worker(app, site, redis, tmp_path):
    """A toxicity worker process, as compose runs it, to answer the analyze requests (without
    one, each is a 503); the site gives it the longest time budget, so that a slow machine
    cannot turn a score into a 503."""
    with transaction(app.extensions["sessions"]) as session:
        set_policy(session, find_site(session, site["slug"]),
                   parse_policy({"perspective": {"time_budget_ms": 4000}}), "fuzz")
    config = app.config["SETTINGS"]
    env = service_env("toxicity", compose_env(MODERATION_DATABASE_URL=config.database_url,
                                              MODERATION_REDIS_URL=config.redis_url), tmp_path)
    toxicity = Queue("toxicity", connection=redis)
    with Processes(tmp_path) as processes:
        processes.start("toxicity", service_argv("toxicity"), env)
        wait_for(lambda: processes.check_alive() or Worker.count(queue=toxicity), 60, processes.logs)
        yield


@SQLITE
@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, credentials, request):
    if case.operation.path.endswith(":analyze"):
        request.getfixturevalue("toxicity_worker")
    case.call_and_validate(**credentials(case.operation))


# What the fuzzer found, each failing case kept: on SQLite, but for the numbers each database
# holds differently.

@pytest.fixture
def admin(make_moderator, token_for):
    make_moderator(username="root", role="admin", sites=())
    return token_for("root")


@SQLITE
@pytest.mark.parametrize(("method", "path"), [("TRACE", "/widget/v1/words"), ("PUT", "/api/v1/comments"),
                                              ("POST", "/api/v1/moderation/me")])
def test_an_undeclared_method_is_405_naming_the_allowed_ones(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"
    assert response.headers["Allow"] and method not in response.headers["Allow"]
    assert {"GET", "POST"} & set(response.headers["Allow"].replace(" ", "").split(","))


@SQLITE
def test_a_null_is_open_is_refused_and_changes_nothing(client, site, sessions):
    """It was a 500: `null` reached a NOT NULL column."""
    title = "0" * 500
    response = client.patch(f"/api/v1/articles/{ARTICLE}", headers=site["auth"],
                            json={"closes_at": None, "is_open": None, "title": title, "url": None})
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"is_open": "Must be true or false."}
    assert client.patch(f"/api/v1/articles/{ARTICLE}", json={"title": title}, headers=site["auth"]).status_code == 200
    with sessions() as session:
        assert session.scalar(select(Article.is_open).where(Article.external_id == ARTICLE)) is True


@SQLITE
@pytest.mark.parametrize("query", ["until=0.5", "since=1700000000", "since=yesterday"])
def test_audit_times_are_iso_8601_not_unix_numbers(client, admin, query):
    """`until=0.5` read as 1970-01-01T00:00:00.5 and answered 200."""
    response = client.get(f"/api/v1/moderation/audit?{query}", headers=admin)
    assert response.status_code == 422
    assert "ISO 8601" in response.get_json()["fields"][query.split("=")[0]]
    assert client.get("/api/v1/moderation/audit?since=2026-01-01T00:00:00%2B07:00", headers=admin).status_code == 200


@SQLITE
def test_an_empty_filter_is_absent_but_an_unknown_one_is_refused(client, admin):
    """`queue?site=` answers like no filter, as the document now says (allowEmptyValue); an
    empty argument with no name (`&=`) is no filter at all: 422, no longer 200."""
    assert client.get("/api/v1/moderation/queue?site=&reason=", headers=admin).status_code == 200
    refused = client.get("/api/v1/moderation/queue?reason=f&spam_below=&=", headers=admin)
    assert refused.status_code == 422 and refused.get_json()["error"] == "invalid_fields"
    queue = schema["/api/v1/moderation/queue"]["GET"].definition.raw["parameters"]
    assert all(parameter["allowEmptyValue"] for parameter in queue)


@pytest.mark.parametrize("url", [
    "/api/v1/moderation/queue?page=10000000000000000000",
    "/api/v1/moderation/audit?page=10000000000000000000",
    "/api/v1/moderation/sites/poros-warta/policy?version=3000000000",  # PostgreSQL: integer out of range
    "/api/v1/moderation/sites/poros-warta/policy?version=10000000000000000000",  # SQLite: OverflowError
    "/api/v1/sites/poros-warta/articles/x/comments?page=10000000000000000000",
    "/api/v1/sites/poros-warta/articles/x/comments?page=%C2%B2",  # "²".isdigit(), but int("²") raised
    "/api/v1/sites/poros-warta/articles/x/comments?per_page=%C2%B2",
])
def test_numbers_the_database_cannot_hold_are_field_errors(client, site, admin, url):
    response = client.get(url, headers=admin)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"] == "invalid_fields" and len(response.get_json()["fields"]) == 1


@SQLITE
@pytest.mark.parametrize("body", ['{"thresholds": {"\\ud800": {"flag": 0.5}}}', '{"fail": {"\\ud800": "open"}}'])
def test_a_policy_naming_a_broken_check_is_refused(client, admin, body):
    """A lone surrogate in the name of a check: the validator's message naming it made
    pydantic raise UnicodeEncodeError (a 500)."""
    response = client.put("/api/v1/moderation/sites/poros-warta/policy", data=body, headers=admin,
                          content_type="application/json")
    assert response.status_code == 422 and "unknown check" in next(iter(response.get_json()["fields"].values()))


@SQLITE
@pytest.mark.parametrize("lang", ["en", "xx", "null"])
def test_the_widget_words_answer_as_documented(client, lang):
    """`words.months` is a list, which the document did not allow; an unknown `lang` reads as
    `id`, which it now says."""
    response = client.get(f"/widget/v1/words?lang={lang}")
    assert response.status_code == 200 and response.get_json()["lang"] == ("en" if lang == "en" else "id")
    assert len(response.get_json()["words"]["months"]) == 12
    schema["/widget/v1/words"]["GET"].validate_response(response)  # raises on a mismatch


@SQLITE
@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/api/v1/site/callbacks", {"url": 5}),
    ("POST", "/api/v1/site/callbacks/rotate-secret", {"overlap_hours": -1}),
    ("GET", "/api/v1/site/callbacks/events?state=lost", None),
    ("POST", "/api/v1/site/callbacks/events/replay", {"event_ids": None, "state": None}),
])
def test_no_key_is_401_before_the_body_is_read(client, site, method, path, body):
    """The callback routes checked the body first and told a caller without a key what was
    wrong with it (422)."""
    response = client.open(path, method=method, json=body)
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["fields"] == {}


@SQLITE
@pytest.mark.parametrize("content", ["Foto lengkapnya di http://[galeri.poroswarta.example ya",
                                     "lihat www.[x.com dan http://a\u2100b.example/"])
def test_a_comment_with_a_broken_link_is_decided(client, site, sessions, comment_payload, work, content):
    """urlsplit refuses these links; the check job raised on every try, and the comment never
    got past `pending` (on a fail-open site, it would have been published unchecked)."""
    response = client.post("/api/v1/comments", json=comment_payload(content=content), headers=site["auth"])
    assert response.status_code == 202
    work()
    comment_id = response.get_json()["id"]
    assert statuses(sessions, [comment_id])[comment_id] in ("approved", "flagged", "rejected")


@SQLITE
@pytest.mark.parametrize("score", [5, "0.5", [0.5], None])
def test_a_suggested_score_that_is_not_an_object_is_refused(client, site, sessions, score):
    """A `summaryScore` that was not an object raised AttributeError (a 500) before its type was checked."""
    response = client.post("/perspective/v1alpha1/comments:suggestscore", query_string={"key": site["key"]},
                           json={"comment": {"text": "Komentar yang disetujui."},
                                 "attributeScores": {"TOXICITY": {"summaryScore": score}}})
    assert response.status_code == 400 and response.get_json()["error"]["status"] == "INVALID_ARGUMENT"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SuggestedScore)) == 0
