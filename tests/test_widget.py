"""The embeddable widget's endpoints: a publishable key good only from the site's allowed
origins (CORS preflight and headers), the same submission path as the API with its errors
in the reader's language, a status that only the writer can ask about and that says
nothing else, the public thread open to every origin, and the iframe page."""
import pytest
from sqlalchemy import select, update

from moderation.db import transaction
from moderation.i18n import STRINGS
from moderation.policy import FloodLimits, Policy, set_policy
from moderation.sites import create_site, find_site, issue_publishable_key, normalize_origin
from moderation.tables import Article, Ban, Comment
from moderation.transitions import transition
from moderation.widget import receipt_for, widget_snippet

NEWS = "https://poroswarta.example"
URL = "/widget/v1/sites/poros-warta/comments"
THREAD = "/api/v1/sites/poros-warta/articles/rusia-as-dialog/comments"
BENIGN = "Terima kasih atas beritanya. Semoga hubungan kedua negara membaik dan dunia lebih damai."
READER = {
    "article_id": "rusia-as-dialog",
    "content": BENIGN,
    "author_name": "Siti Rahmawati",
    "author_email": "siti.rahma@example.co.id",
    "author_url": "https://siti.example.id",
}


def give_key(app, slug: str, origins: list[str]) -> str:
    with transaction(app.extensions["sessions"]) as session:
        return issue_publishable_key(session, find_site(session, slug), origins)


@pytest.fixture
def key(app, site):
    return give_key(app, "poros-warta", [NEWS, "http://localhost:8080"])


def post(client, key, body=None, origin=NEWS, url=URL, **headers):
    headers = {"X-Saring-Key": key, **({"Origin": origin} if origin else {}), **headers}
    return client.post(url, json=READER if body is None else body, headers=headers)


def stored(app, comment_id: str) -> Comment:
    with app.extensions["sessions"](expire_on_commit=False) as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == comment_id))
        session.refresh(comment, ["article"])
        return comment


def test_a_reader_posts_from_an_allowed_origin(app, client, key, work):
    response = post(client, key, **{"User-Agent": "Firefox/140"})
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "status", "receipt"} and body["status"] == "pending"
    assert response.headers["Access-Control-Allow-Origin"] == NEWS
    assert "Origin" in response.headers["Vary"]
    assert response.headers["Cache-Control"] == "no-store"
    comment = stored(app, body["id"])
    assert (comment.status, comment.author_name, comment.content) == ("pending", "Siti Rahmawati", BENIGN)
    assert comment.referrer == NEWS and comment.user_agent == "Firefox/140" and comment.ip_fingerprint
    work()
    assert stored(app, body["id"]).status == "approved"
    assert [listed["id"] for listed in client.get(THREAD).get_json()["comments"]] == [body["id"]]


def test_the_preflight_is_answered_for_allowed_origins_only(client, key):
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-saring-key"}
    response = client.options(URL, headers={"Origin": NEWS, **asked})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == NEWS
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert {"content-type", "x-saring-key"} <= {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert "Origin" in response.headers["Vary"]
    assert client.options(URL, headers={"Origin": "http://localhost:8080", **asked}).status_code == 204

    for origin in ("https://evil.example", "http://poroswarta.example", "https://poroswarta.example.evil.example",
                   "null", None):
        response = client.options(URL, headers={**asked, **({"Origin": origin} if origin else {})})
        assert response.status_code == 403, origin
        assert "Access-Control-Allow-Origin" not in response.headers
        assert response.get_json()["error"] == "forbidden"
    assert client.options("/widget/v1/sites/tidak-ada/comments", headers={"Origin": NEWS}).status_code == 403


@pytest.mark.parametrize(
    "key_header, origin, status",
    [
        (None, NEWS, 401),
        ("pk_000000000000_bukanKunciYangBenarSama", NEWS, 401),
        ("sk_000000000000_bukanKunciYangBenarSama", NEWS, 401),
        ("valid", None, 403),
        ("valid", "https://evil.example", 403),
        ("valid", "null", 403),
        ("valid", "https://poroswarta.example/berita", 403),  # not an origin
    ],
)
def test_a_post_needs_the_key_and_an_allowed_origin(app, client, key, key_header, origin, status):
    response = post(client, key if key_header == "valid" else key_header or "", origin=origin)
    assert response.status_code == status
    assert response.get_json()["error"] == {401: "unauthorized", 403: "forbidden"}[status]
    assert "Access-Control-Allow-Origin" not in response.headers
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(Comment.id)) is None


def test_saring_s_own_pages_may_post_with_the_key(client, key):
    assert post(client, key, origin="http://localhost").status_code == 202  # the test client's host


def test_a_key_of_site_a_cannot_post_to_site_b(app, client, site, key):
    with transaction(app.extensions["sessions"]) as session:
        create_site(session, "kabar-timur", "Kabar Timur")
    other = give_key(app, "kabar-timur", ["https://kabartimur.example"])
    other_url = "/widget/v1/sites/kabar-timur/comments"

    assert post(client, key, url=other_url).status_code == 403
    assert post(client, key, url=other_url, origin="https://kabartimur.example").status_code == 403
    assert post(client, key, origin="https://kabartimur.example").status_code == 403
    assert client.options(other_url, headers={"Origin": NEWS}).status_code == 403
    assert post(client, other, url=other_url, origin="https://kabartimur.example").status_code == 202
    with app.extensions["sessions"]() as session:
        assert [c.site.slug for c in session.scalars(select(Comment))] == ["kabar-timur"]


def test_a_publishable_key_opens_nothing_else(app, client, key):
    comment_id = post(client, key).get_json()["id"]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-Saring-Key": key, "Origin": NEWS}):
        assert client.get(f"/api/v1/comments/{comment_id}", headers=headers).status_code == 401
        assert client.post("/api/v1/comments", json=READER, headers=headers).status_code == 401
        assert client.get("/api/v1/moderation/queue", headers=headers).status_code == 401
    assert client.get(f"/widget/v1/comments/{comment_id}/status", headers={"X-Saring-Key": key}).status_code == 404


def test_issuing_a_new_key_retires_the_old_one(app, client, key):
    newer = give_key(app, "poros-warta", [NEWS])
    assert post(client, key).status_code == 401
    assert post(client, newer).status_code == 202
    assert post(client, newer, origin="http://localhost:8080").status_code == 403  # no longer listed


def test_the_status_is_told_only_to_the_receipt_holder_and_says_only_that(app, client, site, key, work):
    first = post(client, key).get_json()
    second = post(client, key, {**READER, "content": "Komentar kedua yang berbeda."}).get_json()
    status = f"/widget/v1/comments/{first['id']}/status"

    response = client.get(f"{status}?receipt={first['receipt']}")
    assert response.status_code == 200 and response.get_json() == {"status": "pending"}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "no-store"
    for receipt in ("", "salah", second["receipt"], first["receipt"][:-1], "é" * 24):
        response = client.get(status, query_string={"receipt": receipt})
        assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert client.get("/widget/v1/comments/a%00b/status?receipt=x").status_code == 404

    with transaction(app.extensions["sessions"]) as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == first["id"]))
        transition(session, comment, "flagged", actor="test")
    assert client.get(f"{status}?receipt={first['receipt']}").get_json() == {"status": "pending"}  # held is still waiting
    with transaction(app.extensions["sessions"]) as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == first["id"]))
        transition(session, comment, "rejected", actor="test", reason="spam")
    assert client.get(f"{status}?receipt={first['receipt']}").get_json() == {"status": "rejected"}
    work()
    assert client.get(f"/widget/v1/comments/{second['id']}/status?receipt={second['receipt']}").get_json() == {
        "status": "approved"}


def test_receipts_are_bound_to_the_comment_and_the_secret(app):
    with app.app_context():
        receipt = receipt_for("abc")
        assert receipt == receipt_for("abc") != receipt_for("abd")
        app.config["SECRET_KEY"] = "another-secret"
        assert receipt_for("abc") != receipt


@pytest.mark.parametrize(
    "lang, messages",
    [
        ("id", {"content": "Silakan tulis komentar Anda.", "author_name": "Silakan isi nama Anda.",
                "author_email": "Silakan isi alamat email Anda."}),
        ("en", {"content": "Please type your comment.", "author_name": "Please enter your name.",
                "author_email": "Please enter your email address."}),
    ],
)
def test_missing_fields_are_refused_in_the_reader_s_language(app, client, key, lang, messages):
    body = {**READER, "content": "  ", "author_name": "", "author_email": None, "author_url": ""}
    response = post(client, key, body, url=f"{URL}?lang={lang}")
    assert response.status_code == 422
    answer = response.get_json()
    assert answer == {"error": "invalid_fields", "message": STRINGS[lang]["form_has_errors"], "fields": messages}
    assert response.headers["Access-Control-Allow-Origin"] == NEWS  # the widget can read its errors
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(Comment.id)) is None


@pytest.mark.parametrize(
    "fields, lang, name, message",
    [
        ({"author_email": "siti.bukan-email"}, "id", "author_email", "Masukkan alamat email yang valid"),
        ({"author_email": "siti.bukan-email"}, "en", "author_email", "Enter a valid email address"),
        ({"author_url": "javascript:alert(1)"}, "id", "author_url", "diawali http:// atau https://"),
        ({"author_name": "a" * 246}, "id", "author_name", "Paling banyak 245 karakter."),
        ({"content": "k" * 65526}, "en", "content", "Must be at most 65,525 characters."),
        ({"content": "halo\x00dunia"}, "id", "content", "karakter yang tidak dapat disimpan"),
        ({"parent_id": "tidak-ada"}, "id", "parent_id", "Komentar yang Anda balas tidak ditemukan."),
        ({"parent_id": "tidak-ada"}, "en", "parent_id", "The comment you are replying to was not found."),
        ({"article_id": ""}, "en", "article_id", "Must not be empty."),
        ({"article_id": None}, "id", "article_id", "Isian ini tidak valid."),
        ({"content": 42}, "id", "content", "Isian ini tidak valid."),
        ({"user_ip": "10.0.0.1"}, "en", "user_ip", "This value is not valid."),  # Saring takes it from the request
        ({"author_email_again": "x"}, "id", "author_email_again", "Isian ini tidak valid."),
    ],
)
def test_bad_fields_are_named_in_the_reader_s_language(app, client, key, fields, lang, name, message):
    response = post(client, key, {**READER, **fields}, url=f"{URL}?lang={lang}")
    assert response.status_code == 422
    assert message in response.get_json()["fields"][name]
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(Comment.id)) is None


def test_a_reply_to_an_approved_comment_is_accepted(app, client, key, work):
    parent = post(client, key).get_json()["id"]
    work()
    reply = post(client, key, {**READER, "content": "Setuju, semoga damai.", "parent_id": parent}).get_json()["id"]
    work()
    [listed] = client.get(THREAD).get_json()["comments"]
    assert [child["id"] for child in listed["replies"]] == [reply]


def test_what_the_page_tells_about_itself_is_kept_when_usable(app, client, key):
    page = {"article_url": "https://poroswarta.example/internasional/rusia-as-dialog", "article_title": "Rusia & AS"}
    comment = stored(app, post(client, key, {**READER, **page}).get_json()["id"])
    assert (comment.article.url, comment.article.title) == (page["article_url"], page["article_title"])

    unusable = {"article_id": "lokal", "article_url": "http://localhost:8080/berita", "article_title": "\x00"}
    comment = stored(app, post(client, key, {**READER, **unusable}).get_json()["id"])
    assert (comment.article.url, comment.article.title) == (None, None)


def test_a_filled_honeypot_is_accepted_like_any_comment(app, client, key, work):
    response = post(client, key, {**READER, "honeypot": "https://spam.example"})
    assert response.status_code == 202  # a robot learns nothing
    comment = stored(app, response.get_json()["id"])
    assert (comment.status, comment.reason) == ("rejected", "spam")
    receipt = response.get_json()["receipt"]
    assert client.get(f"/widget/v1/comments/{comment.public_id}/status?receipt={receipt}").get_json() == {
        "status": "rejected"}


@pytest.mark.parametrize(
    "send, status, error",
    [
        (lambda client, key: client.post(URL, data="content=halo", headers={"X-Saring-Key": key, "Origin": NEWS},
                                         content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type"),
        (lambda client, key: client.post(URL, data="{", headers={"X-Saring-Key": key, "Origin": NEWS},
                                         content_type="application/json"), 400, "malformed_body"),
        (lambda client, key: client.post(URL, data=b"[" * (1024 * 1024 + 10), headers={"X-Saring-Key": key, "Origin": NEWS},
                                         content_type="application/json"), 413, "request_entity_too_large"),
    ],
)
def test_malformed_posts_get_the_api_s_error_shape(client, key, send, status, error):
    response = send(client, key)
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_refusals_of_the_submission_path_are_relayed_in_the_reader_s_language(app, client, key, work):
    with transaction(app.extensions["sessions"]) as session:
        set_policy(session, find_site(session, "poros-warta"), Policy(flood=FloodLimits(per_email=3)), "test")
    first = post(client, key).get_json()["id"]

    response = post(client, key, url=f"{URL}?lang=en")  # the same text again
    assert response.status_code == 409
    assert response.get_json() == {"error": "duplicate", "message": STRINGS["en"]["duplicate"],
                                   "fields": {"content": STRINGS["en"]["duplicate"]}}  # no id of the first one
    assert response.headers["Access-Control-Allow-Origin"] == NEWS

    response = post(client, key, {**READER, "content": "Balasan untuk komentar yang belum terbit.", "parent_id": first})
    assert response.status_code == 403
    assert response.get_json()["fields"] == {"parent_id": "Komentar yang Anda balas tidak ditemukan."}

    response = post(client, key, {**READER, "content": "Komentar keempat dalam semenit."})
    assert response.status_code == 429
    assert response.get_json()["error"] == "rate_limited"
    seconds = response.headers["Retry-After"]
    assert response.get_json()["message"] == STRINGS["id"]["too_many"].format(seconds=seconds)
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    with app.extensions["sessions"]() as session:
        assert [c.public_id for c in session.scalars(select(Comment))] == [first]


def test_a_closed_thread_or_a_banned_author_is_refused(app, client, key):
    post(client, key)
    with transaction(app.extensions["sessions"]) as session:
        session.execute(update(Article).values(is_open=False))
    response = post(client, key, {**READER, "content": "Komentar setelah ditutup."}, url=f"{URL}?lang=en")
    assert response.status_code == 403
    assert response.get_json()["message"] == "Comments on this article are closed."

    with transaction(app.extensions["sessions"]) as session:
        session.execute(update(Article).values(is_open=True))
        site = find_site(session, "poros-warta")
        fingerprint = app.extensions["vault"].fingerprint(READER["author_email"])
        session.add(Ban(site_id=site.id, author_fingerprint=fingerprint, created_by="test"))
    response = post(client, key, {**READER, "content": "Komentar dari penulis yang diblokir."})
    assert response.status_code == 403
    assert response.get_json() == {"error": "author_banned", "message": STRINGS["id"]["not_accepted"], "fields": {}}


@pytest.mark.parametrize("lang", ["id", "en"])
def test_the_widget_s_words_come_from_the_pages_words(client, lang):
    response = client.get(f"/widget/v1/words?lang={lang}")
    answer = response.get_json()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert answer["lang"] == lang
    assert answer["words"] == {name: (list(value) if isinstance(value, tuple) else value)
                               for name, value in STRINGS[lang].items() if name in answer["words"]}
    assert answer["limits"] == {"content": 65525, "author_name": 245, "author_email": 100, "author_url": 200}
    expected = {
        "id": ["Tinggalkan Balasan", "Alamat email Anda tidak akan dipublikasikan. Ruas yang wajib ditandai *",
               "Komentar", "Nama", "Email", "Situs Web", "Komentar Anda menunggu moderasi.", "Balas"],
        "en": ["Leave a Reply", "Your email address will not be published. Required fields are marked *",
               "Comment", "Name", "Email", "Website", "Your comment is awaiting moderation.", "Reply"],
    }[lang]
    assert set(expected) <= {value for value in answer["words"].values() if isinstance(value, str)}
    assert client.get("/widget/v1/words?lang=xx").get_json()["lang"] == "id"


def test_any_page_may_read_the_public_thread(client, site):
    response = client.get(THREAD, headers={"Origin": "https://anywhere.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/comments/x", headers=site["auth"]).headers


def test_the_iframe_page_is_framed_only_by_the_site_s_origins(app, client, site, key):
    response = client.get("/embed/poros-warta/rusia-as-dialog?lang=en&url=https://poroswarta.example/a")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert policy.endswith(f"frame-ancestors 'self' {NEWS} http://localhost:8080")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert f'data-key="{key}"' in html and 'data-lang="en"' in html and "data-embedded" in html
    assert 'data-article-url="https://poroswarta.example/a"' in html
    assert "<script>" not in html  # nothing inline

    with transaction(app.extensions["sessions"]) as session:
        find_site(session, "poros-warta").publishable_key = None
    assert client.get("/embed/poros-warta/rusia-as-dialog").status_code == 404
    response = client.get("/embed/tidak-ada/rusia-as-dialog")
    assert response.status_code == 404 and "Halaman tidak ditemukan" in response.get_data(as_text=True)


def test_the_snippet_escapes_what_it_is_given():
    snippet = str(widget_snippet("https://saring.example/", "poros-warta", 'a"><script>x', "pk_x", "en"))
    assert snippet.startswith('<div id="saring-comments"></div>\n<script src="https://saring.example/static/widget.js"')
    assert 'data-article="a&#34;&gt;&lt;script&gt;x"' in snippet and snippet.endswith(" async></script>")


@pytest.mark.parametrize(
    "origin, normal",
    [
        ("https://PorosWarta.example", "https://poroswarta.example"),
        ("https://poroswarta.example:443/", "https://poroswarta.example"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://Bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_origins_are_compared_as_browsers_send_them(origin, normal):
    assert normalize_origin(origin) == normal


@pytest.mark.parametrize(
    "origin",
    ["poroswarta.example", "ftp://poroswarta.example", "https://poroswarta.example/berita", "https://u:p@x.example",
     "https://x.example?a=1", "https://x..example", "null", "", "https://x.example:99999"],
)
def test_a_bad_origin_is_refused_when_issuing_a_key(app, site, origin):
    with pytest.raises(ValueError):
        normalize_origin(origin)
    with transaction(app.extensions["sessions"]) as session, pytest.raises(ValueError):
        issue_publishable_key(session, find_site(session, "poros-warta"), [NEWS, origin])


def test_a_publishable_key_opens_no_other_route(app, client, key):
    """Every route but the public reads answers a publishable key (as a bearer key, or as the
    widget sends it) as it would answer no key at all."""
    public = {"api.show_thread", "openapi.serve_document", "static"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public or rule.endpoint.startswith(("widget.", "pages.", "health.", "metrics.")) \
                or rule.endpoint.startswith(("workspace", "ops.")):  # probes and metrics are open; pages use logins
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "x").replace(f"<path:{argument}>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            without = client.open(path, method=method, json={}).status_code
            for headers in ({"Authorization": f"Bearer {key}"}, {"X-Saring-Key": key, "Origin": NEWS}):
                status = client.open(path, method=method, json={}, headers=headers).status_code
                if rule.endpoint.startswith("perspective."):  # as Perspective: no key 403, a key it does not know 400
                    assert status in (400, without) and not 200 <= status < 400, (method, path)
                else:
                    assert status == without and not 200 <= status < 400, (method, path)
