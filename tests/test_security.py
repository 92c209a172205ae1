"""Security checks (SPEC §11), through the real routes: site API keys (a revoked key opens
nothing, a key right but for one character is refused, every secret is compared with
hmac.compare_digest), moderator logins and tokens (logging out, deactivation, revocation,
a forged cookie), CSRF on every form (and no cookie-authenticated route without it), login
throttling per account and per address in every web process, model artifacts holding a type
outside the allow-list refused before anything is loaded, and no secret or email address in
a log line, an error answer or /metrics after a full flow."""
import hmac
import json
import logging
import os
import re
from dataclasses import replace

import pytest
import skops.io
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from models import scoring
from moderation import create_app
from moderation.db import transaction
from moderation.logs import JsonFormatter
from moderation.moderators import FREE_FAILURES, ADDRESS_FAILURES
from moderation.sites import create_site, digest
from moderation.tables import AuditEvent, Comment, Moderator, ModeratorToken, SitePolicy
from moderation.widget import receipt_for
from test_callbacks import Receiver, register
from test_cli import invoke
from test_workspace import csrf_token, log_in, submit

SECRET_KEY = "flask-secret-key-canary-7Hq2"
FINGERPRINT_KEY = "fingerprint-key-canary-Zr9w"
METRICS_TOKEN = "metrics-token-canary-Lp4v"
PASSWORD = "correct horse battery"  # make_moderator's
ADMIN_PASSWORD = "admin password canary 8812"
EMAIL = "Rahasia.Pembaca-77@canary-mail.co.id"
API = "/api/v1/moderation"


@pytest.fixture
def settings(settings):
    return replace(settings, secret_key=SECRET_KEY, fingerprint_key=FINGERPRINT_KEY, metrics_token=METRICS_TOKEN,
                   callback_timeout=0.5, callback_retries=(0, 0))


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def fill(rule: str, **values) -> str:
    """A route's URL with its placeholders filled in (`x` where no value is given)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(values.get(match.group(1), "x")), rule)


def unsafe_routes(app, blueprints=None) -> set[tuple[str, str, str]]:
    """(rule, method, blueprint) of every route that may change something."""
    return {(plain(rule.rule), method, rule.endpoint.partition(".")[0]) for rule in app.url_map.iter_rules()
            for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
            if blueprints is None or rule.endpoint.partition(".")[0] in blueprints}


# -- site API keys -------------------------------------------------------------------------------

SITE_KEY_BLUEPRINTS = ("api", "authors", "callbacks_api")
PUBLIC_ENDPOINTS = {"api.show_thread"}
BODIES = {  # a valid body for each route, so that nothing but the key can refuse it
    ("/api/v1/comments/<comment_id>", "PATCH"): {"content": "Isi yang baru."},
    ("/api/v1/articles/<article_id>", "PATCH"): {"is_open": False},
    ("/api/v1/site/callbacks", "PUT"): {"url": None},
    ("/api/v1/site/callbacks/rotate-secret", "POST"): {"overlap_hours": 1},
    ("/api/v1/site/callbacks/events/replay", "POST"): {"state": "failed"},
    ("/api/v1/authors/export", "POST"): {"email": EMAIL},
    ("/api/v1/authors/erase", "POST"): {"email": EMAIL},
}
PERSPECTIVE_BODY = {"comment": {"text": "Semoga dialog membawa damai."}, "requestedAttributes": {"TOXICITY": {}},
                    "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}}}  # good for either route


def plain(rule: str) -> str:
    """A rule without its converters: /a/<path:b> is /a/<b>."""
    return re.sub(r"<\w+:(\w+)>", r"<\1>", rule)


def site_key_routes(app) -> list[tuple[str, str]]:
    return sorted({(plain(rule.rule), method) for rule in app.url_map.iter_rules()
                   if rule.endpoint.partition(".")[0] in SITE_KEY_BLUEPRINTS and rule.endpoint not in PUBLIC_ENDPOINTS
                   for method in rule.methods - {"HEAD", "OPTIONS"}})


def test_a_revoked_site_key_opens_no_route(app, client, site, settings, comment_payload):
    posted = client.post("/api/v1/comments", json=comment_payload(author_email=EMAIL), headers=site["auth"])
    comment_id = posted.get_json()["id"]
    result = invoke(app, "rotate-site-key", site["slug"], "--revoke-old")
    assert result.exit_code == 0, result.output
    new_key = result.stdout.strip()
    other_process = create_app(settings).test_client()  # nothing cached: the revocation holds at once
    routes = site_key_routes(app)
    assert len(routes) >= 13
    for rule, method in routes:
        body = BODIES.get((rule, method), comment_payload(content="Kunci lama.") if method == "POST" else None)
        response = other_process.open(fill(rule, comment_id=comment_id, article_id="rusia-as-dialog"), method=method,
                                      headers=bearer(site["key"]), json=body)
        assert (response.status_code, response.get_json()["error"]) == (401, "unauthorized"), (method, rule)
    for path in ("comments:analyze", "comments:suggestscore"):  # the same key as Perspective's `?key=`: its 400
        response = other_process.post(f"/perspective/v1alpha1/{path}", query_string={"key": site["key"]},
                                      json=PERSPECTIVE_BODY)
        assert (response.status_code, response.get_json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), path
    assert other_process.get(f"/api/v1/comments/{comment_id}", headers=bearer(new_key)).status_code == 200
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(Comment.status).where(Comment.public_id == comment_id)) == "pending"


def test_a_site_key_wrong_in_one_character_is_refused_like_an_unknown_one(app, client, site):
    with transaction(app.extensions["sessions"]) as session:
        _, other = create_site(session, "kabar-lain", "Kabar Lain")
    key, prefix = site["key"], site["key"][:16]  # sk_<12 hex>_
    flipped = key[:-1] + ("A" if key[-1] != "A" else "B")
    wrong = [flipped, key[:-1], key + "x", prefix + "x" * (len(key) - 16), prefix + other[16:], other[:16] + key[16:],
             "sk_000000000000_" + key[16:]]
    answers = [client.get("/api/v1/site/policy", headers=bearer(candidate)) for candidate in wrong]
    assert [answer.status_code for answer in answers] == [401] * len(wrong)
    assert {answer.get_json()["message"] for answer in answers} == {"This API key is not valid."}  # no oracle
    for malformed in (key.upper(), key.replace("sk_", "pk_"), "", key[:30], f"{key} {key}"):
        assert client.get("/api/v1/site/policy", headers=bearer(malformed)).status_code == 401
    assert client.get("/api/v1/site/policy", headers=site["auth"]).status_code == 200


def test_keys_tokens_receipts_and_the_metrics_token_are_compared_with_compare_digest(
        app, client, site, make_moderator, token_for, comment_payload, monkeypatch):
    make_moderator()
    token = token_for("mira")["Authorization"].split()[1]
    comment_id = client.post("/api/v1/comments", json=comment_payload(), headers=site["auth"]).get_json()["id"]
    compared = []

    def compare_digest(a, b):
        compared.append((a, b))
        return real(a, b)

    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    wrong_key = site["key"][:-1] + ("A" if site["key"][-1] != "A" else "B")
    wrong_token = token[:-1] + ("A" if token[-1] != "A" else "B")
    checks = [
        (client.get("/api/v1/site/policy", headers=bearer(wrong_key)), 401, (digest(site["key"]), digest(wrong_key))),
        (client.get(f"{API}/me", headers=bearer(wrong_token)), 401, (digest(token), digest(wrong_token))),
        (client.get("/metrics", headers=bearer(METRICS_TOKEN + "x")), 401,
         ((METRICS_TOKEN + "x").encode(), METRICS_TOKEN.encode())),
        (client.get(f"/widget/v1/comments/{comment_id}/status?receipt=palsu"), 404,
         (receipt_for_request(app, comment_id).encode(), b"palsu")),
    ]
    for response, status, pair in checks:
        assert response.status_code == status
        assert pair in compared, (pair, compared)


def receipt_for_request(app, comment_id: str) -> str:
    with app.test_request_context():
        return receipt_for(comment_id)


# -- moderator logins and tokens --------------------------------------------------------------

def test_logging_out_ends_the_login_even_for_a_copy_of_its_cookie(app, client, make_moderator):
    make_moderator()
    assert log_in(client).status_code == 303
    copy = client.get_cookie("session").value  # what a shared computer or a thief keeps
    assert submit(client, "/moderate/logout", {}).status_code == 303
    client.set_cookie("session", copy)
    assert client.get("/moderate").status_code == 302
    assert client.get("/moderate/account").status_code == 302
    assert client.post("/moderate/actions", data={"ids": "x", "action": "approve"},
                       headers={"Accept": "application/json"}).status_code in (400, 401)
    assert log_in(client).status_code == 303 and client.get("/moderate").status_code == 200  # a new login works


def test_a_deactivated_moderator_is_out_at_once_in_the_browser_and_the_api(app, client, make_moderator, token_for):
    mira_id = make_moderator()
    make_moderator("ayu", role="admin", sites=(), password=ADMIN_PASSWORD)
    mira, token = app.test_client(), token_for("mira")
    assert log_in(mira).status_code == 303 and mira.get("/moderate").status_code == 200
    assert client.get(f"{API}/me", headers=token).status_code == 200
    assert log_in(client, "ayu", ADMIN_PASSWORD).status_code == 303

    deactivated = submit(client, f"/moderate/moderators/{mira_id}/deactivate", {}, page="/moderate/moderators")
    assert deactivated.status_code == 303
    assert mira.get("/moderate").status_code == 302
    assert client.get(f"{API}/me", headers=token).status_code == 401
    assert "Wrong username or password." in log_in(app.test_client()).text
    submit(client, f"/moderate/moderators/{mira_id}/reactivate", {}, page="/moderate/moderators")
    assert mira.get("/moderate").status_code == 302  # the old login stays ended

    ayu = token_for("ayu")  # demoted through the API: the browser's admin login ends too
    assert client.patch(f"{API}/moderators/mira", json={"role": "admin"}, headers=ayu).status_code == 200
    assert log_in(mira).status_code == 303 and mira.get("/moderate/moderators").status_code == 200
    assert client.patch(f"{API}/moderators/mira", json={"role": "moderator"}, headers=ayu).status_code == 200
    assert mira.get("/moderate/moderators").status_code == 302


def test_a_revoked_token_stops_at_once_and_only_that_one(app, client, make_moderator, token_for):
    make_moderator()
    first, second, third = token_for("mira"), token_for("mira"), token_for("mira")
    prefixes = [header["Authorization"].split("_")[1] for header in (first, second, third)]
    assert client.delete(f"{API}/tokens/{prefixes[0]}", headers=second).status_code in (200, 204)
    assert client.get(f"{API}/me", headers=first).status_code == 401
    assert client.get(f"{API}/me", headers=second).status_code == 200

    assert log_in(client).status_code == 303  # and from the account page
    with app.extensions["sessions"]() as session:
        token_id = session.scalar(select(ModeratorToken.id).where(ModeratorToken.prefix == prefixes[1]))
    revoked = submit(client, f"/moderate/account/tokens/{token_id}/revoke", {}, page="/moderate/account")
    assert revoked.status_code == 303
    assert client.get(f"{API}/me", headers=second).status_code == 401
    assert client.get(f"{API}/me", headers=third).status_code == 200


def test_a_login_cookie_signed_with_another_key_is_refused(app, client, settings, make_moderator):
    admin_id = make_moderator("ayu", role="admin", sites=(), password=ADMIN_PASSWORD)
    with app.extensions["sessions"]() as session:
        version = session.get(Moderator, admin_id).session_version
    forger = create_app(replace(settings, secret_key="a guess at the secret key")).test_client()
    with forger.session_transaction() as cookie:
        cookie["moderator"] = [admin_id, version]
    client.set_cookie("session", forger.get_cookie("session").value)
    assert client.get("/moderate").status_code == 302
    assert client.get("/ops").status_code == 302


# -- CSRF ------------------------------------------------------------------------------------------

FORM_DATA = {  # every form's fields at once: only the missing token may refuse a post
    "ids": "", "action": "approve", "username": "eve", "password": "a long enough password", "role": "admin",
    "sites": "poros-warta", "name": "eve", "current": ADMIN_PASSWORD, "version": "1", "link_cap": "1",
    "expect": "1", "event_id": "", "content": "Komentar tanpa token.", "author_name": "Eve",
    "author_email": "eve@example.co.id", "next": "/moderate",
}


def state_of(sessions) -> dict:
    """What a forged post could change."""
    with sessions() as session:
        count = lambda table: session.scalar(select(func.count()).select_from(table))
        return {
            "events": count(AuditEvent), "comments": session.execute(select(Comment.public_id, Comment.status)).all(),
            "moderators": session.execute(select(Moderator.username, Moderator.role, Moderator.is_active,
                                                 Moderator.session_version, Moderator.password_hash)).all(),
            "tokens": session.execute(select(ModeratorToken.prefix, ModeratorToken.revoked_at)).all(),
            "policies": count(SitePolicy),
        }


def test_every_form_post_without_its_token_is_refused_and_changes_nothing(app, client, site, make_moderator,
                                                                          flag_comments, token_for):
    mira_id = make_moderator()
    make_moderator("ayu", role="admin", sites=(), password=ADMIN_PASSWORD)
    comment_id = flag_comments(["Semoga banjir cepat surut dan warga mendapat bantuan."])[0]
    token_for("ayu")
    assert log_in(client, "ayu", ADMIN_PASSWORD).status_code == 303
    with app.extensions["sessions"]() as session:
        token_id = session.scalar(select(ModeratorToken.id))
    stranger = app.test_client()  # a token of another browser's session
    foreign = csrf_token(stranger.get("/moderate/login").text)
    values = {"comment_id": comment_id, "moderator_id": mira_id, "token_id": token_id, "slug": "poros-warta",
              "version": 1, "queue": "spam", "job_id": "spam-x", "site_slug": "poros-warta",
              "article_id": "rusia-as-dialog", "unknown": "x"}
    before = state_of(app.extensions["sessions"])
    forms = unsafe_routes(app, ("workspace", "ops", "pages"))
    assert len(forms) >= 20
    for rule, method, _ in sorted(forms):
        url = fill(rule, **values)
        for token in (None, foreign, "palsu"):
            data = {**FORM_DATA, "ids": comment_id, **({"csrf_token": token} if token else {})}
            for accept in ("text/html", "application/json"):
                response = client.open(url, method=method, data=data, headers={"Accept": accept})
                assert response.status_code == 400, (method, url, token, accept, response.status_code)
    assert state_of(app.extensions["sessions"]) == before
    assert client.get("/moderate").status_code == 200  # and the admin is still logged in


def test_every_route_without_csrf_ignores_the_login_cookie(app, client, site, make_moderator, flag_comments):
    """The APIs and the widget are exempt from CSRF because a key or token in a header, which
    a forged cross-site request cannot carry, authenticates them: a logged-in admin's cookie
    alone opens none of them."""
    make_moderator("ayu", role="admin", sites=(), password=ADMIN_PASSWORD)
    comment_id = flag_comments(["Semoga banjir cepat surut dan warga mendapat bantuan."])[0]
    assert log_in(client, "ayu", ADMIN_PASSWORD).status_code == 303
    before = state_of(app.extensions["sessions"])
    exempt = {route for route in unsafe_routes(app) if route[2] not in ("workspace", "ops", "pages")}
    assert {blueprint for _, _, blueprint in exempt} == {"api", "authors", "callbacks_api", "moderator_api",
                                                         "perspective", "widget"}
    for rule, method, blueprint in sorted(exempt):
        url = fill(rule, comment_id=comment_id, username="ayu", slug="poros-warta", site_slug="poros-warta",
                   article_id="rusia-as-dialog", prefix="000000000000")
        body = PERSPECTIVE_BODY if blueprint == "perspective" else BODIES.get((rule, method), {
            "action": "approve", "ids": [comment_id]})
        response = client.open(url, method=method, json=body, headers={"Origin": "https://evil.example"})
        assert response.status_code in (401, 403), (method, url, response.status_code)
    assert state_of(app.extensions["sessions"]) == before


# -- login throttling ----------------------------------------------------------------------------

def test_an_address_that_keeps_failing_waits_even_with_the_right_password(app, client, make_moderator):
    make_moderator()
    sprayer = app.test_client()
    sprayer.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for number in range(ADDRESS_FAILURES):  # password spraying: a few guesses at many accounts
        answer = log_in(sprayer, f"user{number % 7}", "Password123!")
        assert answer.status_code == 200 and "Wrong username or password." in answer.text
    refused = log_in(sprayer)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert sprayer.get("/moderate").status_code == 302
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert log_in(elsewhere).status_code == 303  # mira herself, from her own address


def test_a_locked_account_is_locked_in_every_web_process(app, client, settings, make_moderator):
    make_moderator()
    unknown, wrong = log_in(client, "nobody"), log_in(client, "mira", "not the password")
    assert (unknown.status_code, wrong.status_code) == (200, 200)  # no telling a username from a wrong password
    assert re.findall(r"Wrong username or password\.", unknown.text) == re.findall(r"Wrong username or password\.",
                                                                                   wrong.text)
    for _ in range(FREE_FAILURES - 1):
        log_in(client, "mira", "not the password")
    other_process = create_app(settings).test_client()
    locked = log_in(other_process)
    assert locked.status_code == 429 and "Too many failed logins" in locked.text
    assert other_process.get("/moderate").status_code == 302


# -- model artifacts -------------------------------------------------------------------------------

class Payload:
    """Stands for anything an attacker might pickle into an artifact."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/saring-pwned",))


@pytest.mark.parametrize("hidden, named", [
    ({"pipeline": Payload(), "attributes": {}}, "test_security.Payload"),
    ({"pipeline": os.system, "attributes": {}}, "system"),
    ({"pipeline": None, "attributes": {"insult": eval}}, "eval"),
])
def test_a_model_file_holding_an_untrusted_type_is_refused_before_it_is_loaded(tmp_path, monkeypatch, hidden, named):
    skops.io.dump(hidden, tmp_path / "spam.skops")
    (tmp_path / "spam.json").write_text(json.dumps({"version": "spam-evil", "thresholds": {}}))
    loaded = []
    monkeypatch.setattr(skops.io, "load", lambda *args, **kwargs: loaded.append(args))
    with pytest.raises(scoring.UntrustedArtifact, match=named):
        scoring.load_model("spam", tmp_path)
    assert loaded == [] and not os.path.exists("/tmp/saring-pwned")


def test_the_allow_list_holds_only_the_types_the_committed_models_need():
    for name in ("spam", "toxicity"):
        untrusted = set(skops.io.get_untrusted_types(file=scoring.ARTIFACTS / f"{name}.skops"))
        assert untrusted <= scoring.ALLOWED_TYPES, untrusted - scoring.ALLOWED_TYPES
    assert not any(kind.startswith(("builtins.", "os.", "posix.", "subprocess.", "pickle.", "marshal."))
                   or "FunctionTransformer" in kind for kind in scoring.ALLOWED_TYPES)


# -- no secret or email in logs, error answers or metrics ----------------------------------------

def test_no_secret_or_email_in_any_log_line_error_answer_or_metric(app, client, site, settings, make_moderator,
                                                                    work, redis, caplog):
    caplog.set_level(logging.DEBUG)
    answers = []

    def call(method, url, **kwargs):
        response = getattr(client, method)(url, **kwargs)
        answers.append((method, url, response))
        return response

    receiver = Receiver()
    receiver.plan = ["fail"]  # the first delivery fails: its error is logged and kept
    try:
        callback_secret = register(app, receiver.url)
        make_moderator()
        make_moderator("ayu", role="admin", sites=(), password=ADMIN_PASSWORD)
        body = {"article_id": "rahasia", "author_name": "Budi", "author_email": EMAIL,
                "content": "Semoga dialog kedua negara membawa perdamaian."}
        posted = call("post", "/api/v1/comments", json=body, headers={**site["auth"], "Idempotency-Key": "k-1"})
        comment_id = posted.get_json()["id"]
        call("post", "/api/v1/comments", json={**body, "content": "Isi lain."},
             headers={**site["auth"], "Idempotency-Key": "k-1"})  # the key reused for another body
        call("post", "/api/v1/comments", json=body, headers=site["auth"])  # a duplicate
        call("post", "/api/v1/comments", json={**body, "author_email": EMAIL + ".", "author_url": "javascript:x"},
             headers=site["auth"])
        call("get", "/api/v1/site/policy", headers=bearer(site["key"] + "Q"))
        call("post", f"/api/v1/authors/export?email={EMAIL}", json={"email": EMAIL}, headers=site["auth"])
        work()
        SimpleWorker([Queue("callbacks", connection=redis)], connection=redis).work(burst=True, with_scheduler=False)

        assert log_in(client, "mira", "not " + PASSWORD).status_code == 200
        assert log_in(client, "ayu", ADMIN_PASSWORD).status_code == 303
        issued = submit(client, "/moderate/account", {"name": "skrip"}, page="/moderate/account")
        token = re.search(r'<code id="issued-token">(mt_[^<]+)</code>', issued.text).group(1)
        call("post", f"{API}/comments/{comment_id}/actions", json={"action": "reject", "reason": "spam"},
             headers=bearer(token))
        call("post", f"{API}/comments/{comment_id}/actions", json={"action": "reject", "reason": "spam"},
             headers=bearer(token))  # not a legal transition any more
        call("get", f"{API}/me", headers=bearer(token + "x"))
        call("post", f"/moderate/comments/{comment_id}/reveal-email", data={})  # no CSRF token
        call("put", "/api/v1/site/callbacks", json={"url": "ftp://x.example/?secret=" + callback_secret},
             headers=site["auth"])  # refused: the message must not repeat it
        SimpleWorker([Queue("callbacks", connection=redis)], connection=redis).work(burst=True, with_scheduler=False)
        call("post", "/api/v1/site/callbacks/events/replay", json={"state": "failed"}, headers=site["auth"])
        SimpleWorker([Queue("callbacks", connection=redis)], connection=redis).work(burst=True, with_scheduler=False)
        call("post", "/api/v1/authors/export", json={"email": EMAIL}, headers=site["auth"])
        for path in ("comments:analyze", "comments:suggestscore"):  # the key in the query string, as Coral sends it
            call("post", f"/perspective/v1alpha1/{path}?key={site['key']}", json=PERSPECTIVE_BODY)  # 503, 200
            call("post", f"/perspective/v1alpha1/{path}?key={site['key']}Q", json=PERSPECTIVE_BODY)  # 400
        call("post", "/api/v1/authors/erase", json={"email": EMAIL}, headers=site["auth"])
        call("get", "/metrics", headers=bearer(METRICS_TOKEN + "x"))
        metrics = call("get", "/metrics", headers=bearer(METRICS_TOKEN))
    finally:
        receiver.close()
    assert metrics.status_code == 200 and "saring_submissions_total" in metrics.text
    assert len(receiver.requests) >= 2, "the callbacks were sent"

    secrets = {"the Flask secret key": SECRET_KEY, "the fingerprint key": FINGERPRINT_KEY,
               "the metrics token": METRICS_TOKEN, "the site API key": site["key"],
               "the site API key's secret part": site["key"][16:], "the moderator token": token,
               "the moderator token's secret part": token[16:], "the callback secret": callback_secret,
               "the callback secret's secret part": callback_secret.removeprefix("whsec_"),
               "a password": PASSWORD, "the admin's password": ADMIN_PASSWORD,
               **{f"email key {number}": key for number, key in enumerate(settings.email_keys)}}
    private = {**secrets, "the email address": EMAIL, "the email address, lower case": EMAIL.lower(),
               "the email's local part": EMAIL.split("@")[0].lower()}
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records).lower()
    assert [name for name, secret in private.items() if secret.lower() in logged] == [], "a log line holds it"
    assert len(caplog.records) > 20
    errors = [(method, url, response) for method, url, response in answers if response.status_code >= 400]
    assert {response.status_code for _, _, response in errors} >= {400, 401, 409, 422, 503}
    for method, url, response in errors:
        text = (response.get_data(as_text=True) + str(response.headers)).lower()
        assert [name for name, secret in private.items() if secret.lower() in text] == [], (method, url)
    for method, url, response in answers:  # headers of every answer, and /metrics
        assert [name for name, secret in private.items() if secret.lower() in str(response.headers).lower()] == []
    assert [name for name, secret in private.items() if secret.lower() in metrics.text.lower()] == []
