"""The injection corpus (tests/payloads.txt: XSS, template, Unicode, SQL, header and path
payloads) through every field a commenter or a site controls: the JSON API, the widget and
the article page's form keep each as data (stored and served back verbatim, SQL never run,
nothing answered with a 500); every URL and query argument that takes an id, a slug or a
filter answers 4xx or an empty result, never a 500 or a file; and the article page, the
widget and the moderators' pages (queue, bulk, audit, ops, sites, account) show each as
text, never as markup, both as the server renders them and in a real headless Chromium with
the Content-Security-Policy on and switched off."""
import json
import re
import socket
import threading
from functools import partial
from http.server import ThreadingHTTPServer
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from rq import Queue
from sqlalchemy import func, select, update

from moderation.db import transaction
from moderation.policy import parse_policy, set_policy
from moderation.sites import create_site, find_site, issue_publishable_key
from moderation.tables import CHECKS, Article, Comment, Site
from moderation.transitions import transition, transition_many
from moderation.widget import widget_snippet
from conftest import statuses
from test_widget_browser import NewsPages, news_page
from test_workspace import csrf_token, log_in

CORPUS = Path(__file__).with_name("payloads.txt")
SHOWN_KINDS = ("xss", "template", "unicode", "header")  # what a page shows as text
URL_SAFE = re.compile(r"\S*")  # what may follow https://host/ in a web address the API takes


def read_corpus() -> list[tuple[str, str]]:
    entries = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, _, raw = line.partition(" ")
            entries.append((kind, json.loads(raw)))
    return entries


PAYLOADS = read_corpus()
SHOWN = [payload for kind, payload in PAYLOADS if kind in SHOWN_KINDS]


def storable(payload: str) -> bool:
    """What the API stores: text without NUL or lone surrogates, and not blank."""
    return bool(payload.strip()) and "\x00" not in payload and not any(0xD800 <= ord(c) <= 0xDFFF for c in payload)


def as_url(payload: str) -> str | None:
    return f"https://x.example/{payload}" if URL_SAFE.fullmatch(payload) else None


def open_policy(app, slug: str = "poros-warta", **policy) -> None:
    """No flood limit (the corpus is many comments from one address), and what else is asked."""
    with transaction(app.extensions["sessions"]) as session:
        site = find_site(session, slug)
        set_policy(session, site, parse_policy({"flood": {"per_site": 0, "per_ip": 0, "per_email": 0}, **policy}),
                   "tests")


def comment_with(payload: str, number: int, article_id: str | None = None) -> dict:
    """A comment carrying the payload in every free-text field (and in the web addresses,
    where the API takes it there)."""
    body = {"article_id": article_id or payload, "author_name": payload, "content": payload,
            "author_email": f"pembaca.{number}@example.co.id", "article_title": payload,
            "user_agent": payload, "referrer": payload}
    if as_url(payload):
        body["author_url"] = body["article_url"] = as_url(payload)
    return body


# -- the JSON API --------------------------------------------------------------------------------

def test_every_payload_in_every_free_text_field_is_stored_and_served_back_verbatim(app, client, site, sessions):
    """Through the JSON API: stored as sent (a name trimmed), shown back by the comment's own
    route and, once published, by its thread's; the SQL payloads changed no table."""
    open_policy(app)
    accepted = {}
    for number, (kind, payload) in enumerate(PAYLOADS):
        response = client.post("/api/v1/comments", json=comment_with(payload, number), headers=site["auth"])
        if storable(payload):
            assert response.status_code == 202, (kind, payload, response.get_json())
            accepted[response.get_json()["id"]] = (payload, response.get_json()["links"]["thread"])
        else:
            assert response.status_code == 422, (kind, payload, response.get_json())
            assert {"article_id", "author_name", "content"} <= set(response.get_json()["fields"]), payload

    for comment_id, (payload, _) in accepted.items():
        shown = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
        assert (shown["author_name"], shown["article_id"]) == (payload.strip(), payload)  # a name is trimmed
    with transaction(sessions) as session:
        comments = session.scalars(select(Comment).where(Comment.public_id.in_(accepted))).all()
        for comment in comments:
            payload = accepted[comment.public_id][0]
            assert (comment.content, comment.author_name, comment.user_agent, comment.referrer,
                    comment.article.title, comment.author_url) == (payload, payload.strip(), payload, payload,
                                                                    payload, as_url(payload))
            transition(session, comment, "approved", actor="tests")

    for comment_id, (payload, thread) in accepted.items():
        listed = client.get(thread)
        assert listed.status_code == 200, (payload, thread)
        [shown] = listed.get_json()["comments"]
        assert (shown["id"], shown["content"], shown["author_name"], shown["author_url"], listed.get_json()[
            "article_id"]) == (comment_id, payload, payload.strip(), as_url(payload), payload)
    with sessions() as session:  # the SQL was data: every table is there, and holds what was sent
        assert session.scalar(select(func.count()).select_from(Comment)) == len(accepted)
        assert session.scalar(select(func.count()).select_from(Site)) == 1
        assert session.scalar(select(func.count()).select_from(Article)) == len(accepted)


def test_every_payload_through_the_widget_and_the_article_form_is_kept_as_data(app, client, site, sessions):
    """The widget's JSON post and the article page's form take the same fields (through the
    same form): each payload is accepted and stored as sent (the form's tidying aside: a name
    trimmed, CR LF made LF), or refused beside its fields; never a 500."""
    open_policy(app)
    with transaction(sessions) as session:
        key = issue_publishable_key(session, find_site(session, "poros-warta"), ["https://poroswarta.example"])
    widget = {"X-Saring-Key": key, "Origin": "https://poroswarta.example"}
    page = "/sites/poros-warta/articles/korpus-formulir?lang=en"
    kept = {}  # comment id: the content, name and web address it must hold
    for number, (kind, payload) in enumerate(PAYLOADS):
        fields = {"content": payload, "author_name": payload, "author_email": f"widget.{number}@example.co.id",
                  "author_url": as_url(payload) or ""}
        posted = client.post("/widget/v1/sites/poros-warta/comments?lang=en", headers=widget,
                             json={**fields, "article_id": "korpus-widget", "article_title": payload})
        assert posted.status_code == (202 if storable(payload) else 422), (payload, posted.get_json())
        if posted.status_code == 202:
            kept[posted.get_json()["id"]] = (payload.replace("\r\n", "\n"), payload.strip(), as_url(payload))
        else:
            assert {"content", "author_name"} <= set(posted.get_json()["fields"]), payload
        if payload.encode("utf-8", "surrogatepass").decode("utf-8", "replace") != payload:
            continue  # a browser sends a lone surrogate as U+FFFD: no form post carries one

        token = csrf_token(client.get(page).text)
        sent = client.post(page, data={**fields, "author_email": f"form.{number}@example.co.id", "csrf_token": token})
        assert sent.status_code == (303 if storable(payload) else 200), (payload, sent.status_code)
        if sent.status_code == 303:
            comment_id = sent.location.rsplit("#comment-", 1)[1]
            kept[comment_id] = (payload.replace("\r\n", "\n"), payload.strip(), as_url(payload))
        else:
            assert_shown_as_text(sent.text, [], f"the form sent back with {payload!r}")
            assert 'class="field-error"' in sent.text
    with sessions() as session:
        stored = session.scalars(select(Comment).where(Comment.public_id.in_(kept))).all()
        assert len(stored) == len(kept)
        for comment in stored:
            assert (comment.content, comment.author_name, comment.author_url) == kept[comment.public_id]


ARTICLE_IDS = ["/2026/11/rusia-as-dialog", "https://poroswarta.example/internasional/rusia", "a//b", "berita/",
               "../../etc/passwd", "baris\nbaru", "baris\r\nbaru", "%2F..%2F"]


def test_every_article_id_the_api_takes_is_its_own_thread_by_url_too(app, client, site):
    """Sites use paths and URLs as article ids: the thread and the article routes reach that
    very article (never one whose id lost a slash to a redirect, never a 404)."""
    open_policy(app)
    for number, article_id in enumerate(ARTICLE_IDS):
        posted = client.post("/api/v1/comments", json=comment_with(f"Komentar {number}.", number, article_id),
                             headers=site["auth"])
        assert posted.status_code == 202, (article_id, posted.get_json())
        thread = client.get(posted.get_json()["links"]["thread"])
        assert thread.status_code == 200 and thread.get_json()["article_id"] == article_id, (article_id, thread.status)
        closed = client.patch(f"/api/v1/articles/{quote(article_id, safe='')}", json={"is_open": False},
                              headers=site["auth"])
        assert closed.status_code == 200 and closed.get_json()["article_id"] == article_id, (article_id, closed.status)
        refused = client.post("/api/v1/comments", json=comment_with(f"Terlambat {number}.", number, article_id),
                              headers=site["auth"])
        assert refused.status_code == 403, article_id  # that very thread is closed now
    with app.extensions["sessions"]() as session:
        assert sorted(session.scalars(select(Article.external_id))) == sorted(ARTICLE_IDS)


STRICT_FIELDS = ("author_email", "author_url", "article_url", "parent_id", "lang", "user_ip")


def test_a_payload_in_a_checked_field_is_a_field_error_never_a_500(app, client, site):
    open_policy(app)
    for number, (kind, payload) in enumerate(PAYLOADS):
        for name in STRICT_FIELDS:
            body = {"article_id": "korpus", "author_name": "Budi", "author_email": f"b{number}@example.co.id",
                    "content": f"Komentar {number} {name}.", name: payload}
            response = client.post("/api/v1/comments", json=body, headers=site["auth"])
            if name in ("author_url", "article_url") and payload.lower().startswith(("http://", "https://")):
                assert response.status_code == 202, (name, payload, response.get_json())  # a web address: data
                continue
            assert response.status_code == 422, (name, payload, response.status_code)
            assert list(response.get_json()["fields"]) == [name], (name, payload)


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Request-Id"])
def test_a_payload_in_a_header_is_refused_or_kept_as_data(app, client, site, comment_payload, header):
    open_policy(app)
    for number, (kind, payload) in enumerate(PAYLOADS):
        if "\n" in payload or "\r" in payload or not payload.isascii():
            continue  # not a header value a client library sends; the raw-socket test below sends them
        response = client.post("/api/v1/comments", json=comment_payload(content=f"Komentar nomor {number}."),
                               headers={**site["auth"], header: payload})
        assert response.status_code in (202, 422), (header, payload)
        if header == "Idempotency-Key" and response.status_code == 422:
            assert list(response.get_json()["fields"]) == ["Idempotency-Key"]
        if header == "X-Request-Id":  # echoed when it is a plain token, else replaced by one of Saring's own
            echoed = response.headers["X-Request-Id"]
            plain = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", payload)
            assert echoed == payload if plain else re.fullmatch(r"[0-9a-f]{32}", echoed), (payload, echoed)


def test_raw_header_injection_reaches_no_response_header(app, site, live_server):
    """CR and LF sent inside request headers (as a raw socket can) never split a response:
    no header the request tried to add comes back, and nothing answers with a 500."""
    port = int(live_server.rsplit(":", 1)[1])
    attempts = [
        ("GET", "/healthz", "X-Request-Id: a\rSet-Cookie: pwned=1"),
        ("GET", "/healthz", "X-Request-Id: %0d%0aSet-Cookie:%20pwned=1"),
        ("GET", "/widget/v1/words", "Origin: http://evil.example\rSet-Cookie: pwned=1"),
        ("OPTIONS", "/widget/v1/sites/poros-warta/comments", "Origin: http://evil.example\rX-Injected: 1"),
        ("POST", "/api/v1/comments", f"Authorization: Bearer {site['key']}\r\nIdempotency-Key: a\rX-Injected: 1"),
        ("GET", "/sites/poros-warta/articles/a%0d%0aSet-Cookie:%20pwned=1", "X-Request-Id: b\rX-Injected: 1"),
        ("GET", "/moderate/login?next=/moderate%0d%0aSet-Cookie:%20pwned=1", "Referer: x\rX-Injected: 1"),
    ]
    for method, path, header in attempts:
        body = b'{"article_id": "a", "author_name": "b", "author_email": "c@example.co.id", "content": "d"}'
        request = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(request.encode("latin-1") + body)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        status = int(head.split(" ", 2)[1])
        assert status < 500, (path, header, head)
        names = [line.split(":", 1)[0].strip().lower() for line in head.split("\r\n")[1:]]
        assert "x-injected" not in names and "pwned" not in head.lower(), (path, header, head)


# -- every id, slug and filter in a URL --------------------------------------------------------

def url_paths(payload: str) -> list[tuple[str, str, dict]]:
    """Every route with a payload where an id or slug goes, and every filter with it as its value."""
    q = quote(payload.encode("utf-8", "surrogatepass"), safe="")  # a lone surrogate: bytes that are not UTF-8
    return [
        ("get", f"/api/v1/comments/{q}", {}),
        ("delete", f"/api/v1/comments/{q}", {}),
        ("patch", f"/api/v1/comments/{q}", {"json": {"content": "Baru."}}),
        ("patch", f"/api/v1/articles/{q}", {"json": {"is_open": True}}),
        ("get", f"/api/v1/sites/{q}/articles/x/comments", {}),
        ("get", f"/api/v1/sites/poros-warta/articles/{q}/comments", {}),
        ("get", f"/api/v1/sites/poros-warta/articles/x/comments?page={q}&per_page={q}", {}),
        ("get", f"/api/v1/site/callbacks/events?state={q}&page={q}", {}),
        ("get", f"/api/v1/moderation/queue?site={q}&article={q}&reason={q}&status={q}", {"token": True}),
        ("get", f"/api/v1/moderation/queue?article={q}", {"token": True}),
        ("get", f"/api/v1/moderation/audit?site={q}&actor={q}&comment={q}&batch={q}", {"token": True}),
        ("get", f"/api/v1/moderation/audit?actor={q}", {"token": True}),
        ("get", f"/api/v1/moderation/comments/{q}", {"token": True}),
        ("post", f"/api/v1/moderation/comments/{q}/actions", {"token": True, "json": {"action": "approve"}}),
        ("delete", f"/api/v1/moderation/tokens/{q}", {"token": True}),
        ("get", f"/api/v1/moderation/sites/{q}/policy", {"token": True}),
        ("post", "/api/v1/moderation/rules/preview", {"token": True, "json": {"filter": {"article": payload}}}),
        ("post", "/api/v1/moderation/actions", {"token": True, "json": {"ids": [payload], "action": "approve"}}),
        ("get", f"/sites/poros-warta/articles/{q}", {}),
        ("get", f"/sites/{q}/articles/x", {}),
        ("get", f"/sites/poros-warta/articles/{q}/checking", {}),
        ("get", f"/sites/poros-warta/articles/x?reply_to={q}&page={q}&lang={q}", {}),
        ("get", f"/embed/poros-warta/{q}?url={q}&lang={q}", {}),
        ("get", f"/embed/{q}/x", {}),
        ("get", f"/widget/v1/comments/{q}/status?receipt={q}", {}),
        ("get", f"/widget/v1/words?lang={q}", {}),
        ("get", f"/static/{q}", {}),
        ("get", f"/moderate?site={q}&article={q}&reason={q}&status={q}&page={q}", {}),
        ("get", f"/moderate?article={q}&spam_above={q}&toxicity_below={q}&sort={q}", {}),
        ("get", f"/moderate?article={q}", {}),
        ("get", f"/moderate/bulk?article={q}&action=approve", {}),
        ("get", f"/moderate/audit?site={q}&actor={q}&comment={q}&batch={q}&action={q}", {}),
        ("get", f"/moderate/audit?comment={q}", {}),
        ("get", f"/moderate/{q}", {}),
        ("get", f"/moderate/sites/{q}/policy", {}),
        ("get", f"/moderate/login?next={q}", {}),
    ]


@pytest.fixture
def admin(app, client, site, make_moderator, token_for):
    """The test client logged in as an admin; returns the admin's API token headers too."""
    make_moderator("ayu", role="admin", sites=())
    assert log_in(client, "ayu").status_code == 303
    return token_for("ayu")


IN_URLS = [payload for kind, payload in PAYLOADS if kind in ("path", "sql", "header")] + [
    payload for kind, payload in PAYLOADS if kind == "xss"][:6]


def test_a_payload_in_any_id_slug_or_filter_is_never_a_500_or_a_file(app, client, site, admin):
    for payload in IN_URLS:
        for method, url, options in url_paths(payload):
            headers = admin if options.get("token") else site["auth"]
            response = getattr(client, method)(url, headers=headers, json=options.get("json"))
            assert response.status_code < 500, (method, url, response.status_code, response.get_data()[:300])
            text = response.get_data(as_text=True)
            assert "root:x:0:0" not in text and "[fonts]" not in text and "MODERATION_" not in text, url
            if url.startswith("/static/"):  # or a redirect to the same path with slashes merged
                assert response.status_code == 404 or urlsplit(response.location).path.startswith("/static/"), url
            if response.status_code >= 400 and url.startswith(("/api/", "/widget/")):
                assert set(response.get_json()) == {"error", "message", "fields"}, url


def test_a_workspace_filter_holding_nul_is_a_field_error(client, admin):
    """PostgreSQL cannot even compare a string holding NUL: such a filter is refused beside
    its field, on every database, before any query."""
    for url in ("/moderate?article=a%00b", "/moderate/bulk?article=a%00b&action=approve",
                "/moderate/audit?actor=a%00b", "/moderate/audit?comment=%00", "/moderate?site=%00&status=approved"):
        response = client.get(url)
        assert response.status_code == 422, (url, response.status_code)
        assert "Must not contain NUL characters." in response.text, url


def test_static_files_never_leave_the_static_folder(client):
    for path in ("../settings.py", "..%2fsettings.py", "%2e%2e/settings.py", "%2e%2e%2fsettings.py",
                 "..%5csettings.py", "....//settings.py", "/etc/passwd", "%2fetc%2fpasswd", "..%00/settings.py",
                 "../../moderation/settings.py", "..;/settings.py"):
        response = client.get(f"/static/{path}", follow_redirects=True)  # "//" redirects, slashes merged
        assert response.status_code == 404 and response.request.path.startswith("/static/"), path
        assert b"MODERATION_" not in response.data and b"root:x:0:0" not in response.data


# -- the pages, as the server renders them ------------------------------------------------------

class PageScan(HTMLParser):
    """What a page holds that could run: elements, attributes, and its text."""

    RUNNABLE = {"iframe", "object", "embed", "svg", "math", "img", "base", "style", "video", "audio", "source",
                "noscript", "mglyph", "frame", "frameset", "applet", "template"}
    LINKS = {"href", "src", "action", "formaction", "srcdoc", "data", "xlink:href", "poster", "background"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems, self.text, self.inline_script = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag in self.RUNNABLE:
            self.problems.append(f"<{tag}>")
        if tag == "script":
            source = dict(attrs).get("src") or ""
            if not source.startswith("/static/") and "/static/widget.js" not in source:
                self.problems.append(f"<script src={source!r}>")
            self.inline_script = True
        if tag == "meta" and dict(attrs).get("http-equiv"):
            self.problems.append("<meta http-equiv>")
        if tag == "link" and (dict(attrs).get("rel") or "") == "stylesheet" and \
                not (dict(attrs).get("href") or "").startswith("/static/"):
            self.problems.append(f"<link {attrs}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("autofocus", "srcdoc", "formaction"):
                self.problems.append(f"<{tag} {name}>")
            bare = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name in self.LINKS and bare.startswith(("javascript:", "data:", "vbscript:")):
                self.problems.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        if tag == "script":
            self.inline_script = False

    def handle_data(self, data):
        if self.inline_script and data.strip():
            self.problems.append(f"inline script {data[:60]!r}")
        self.text.append(data)


def scan(html: str) -> PageScan:
    scanner = PageScan()
    scanner.feed(html)
    scanner.close()
    return scanner


def lines(text: str) -> str:
    """Text with its line breaks as HTML parsing leaves them (CR LF and CR become LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def assert_shown_as_text(html: str, payloads, where: str) -> None:
    found = scan(html)
    assert found.problems == [], (where, found.problems[:10])
    text = lines("".join(found.text))
    missing = [payload for payload in payloads if lines(payload) not in text]
    assert missing == [], (where, missing[:5])


PUBLISHED = "korpus-terbit"
CHECKED = 6  # replies that go through the real checks too, so that the queue marks their words


def post(client, site, body: dict) -> str:
    response = client.post("/api/v1/comments", json=body, headers=site["auth"])
    assert response.status_code == 202, (body["content"], response.get_json())
    return response.get_json()["id"]


def decide(sessions, ids: list[str], status: str) -> None:
    """As the checks would decide them (their scores are not needed to show the text)."""
    with transaction(sessions) as session:
        transition_many(session, session.scalars(select(Comment).where(Comment.public_id.in_(ids))).all(), status,
                        actor="checks")


@pytest.fixture
def shown_corpus(app, client, site, work, redis, sessions):
    """Each shown payload in a published comment (in its content and name, its article's
    title and, where the API takes it, the author's web address), in a reply to it held for a
    moderator, and in a held comment on an article whose id is the payload."""
    open_policy(app)
    published = [post(client, site, {**comment_with(payload, number, PUBLISHED), "content": f"{payload} #{number}"})
                 for number, payload in enumerate(SHOWN)]
    decide(sessions, published, "approved")
    own = [post(client, site, {**comment_with(payload, 1000 + number), "content": f"{payload} @{number}"})
           for number, payload in enumerate(SHOWN)]
    replies = [post(client, site, {**comment_with(payload, 2000 + number, PUBLISHED), "parent_id": parent,
                                   "content": f"{payload} ~{number}"})
               for number, (payload, parent) in enumerate(zip(SHOWN, published))]
    for check in CHECKS:
        Queue(check, connection=redis).empty()
    decide(sessions, own + replies[CHECKED:], "flagged")
    with transaction(sessions) as session:
        session.execute(update(Article).values(premoderated=True))
    for comment_id in replies[:CHECKED]:
        app.extensions["checks"].enqueue(comment_id)
    work()
    assert set(statuses(sessions, replies).values()) == {"flagged"}
    return {"published": published, "own": own, "replies": replies}


def test_the_article_page_shows_every_payload_as_text(client, shown_corpus):
    texts = []
    for page in (1, 2):  # 50 comments a page
        answer = client.get(f"/sites/poros-warta/articles/{PUBLISHED}?lang=en&page={page}")
        assert answer.status_code == 200
        assert_shown_as_text(answer.text, [], f"article page {page}")
        texts.append("".join(scan(answer.text).text))
    shown = lines("".join(texts))
    missing = [payload for payload in SHOWN
               if lines(f"{payload} #") not in shown or lines(payload.strip()) not in shown]
    assert missing == []


def test_the_moderators_pages_show_every_payload_as_text(app, client, site, shown_corpus, admin, sessions):
    with transaction(sessions) as session:  # what else the pages show that a person typed
        create_site(session, "kabar-lain", SHOWN[0])
    open_policy(app, block_words=SHOWN[:3], hold_words=SHOWN[3:6])
    for payload in SHOWN[:5]:
        token = csrf_token(client.get("/moderate/account").text)
        assert client.post("/moderate/account", data={"name": payload[:100], "csrf_token": token}).status_code == 200

    seen, page = [], 1
    while True:  # the whole flagged queue, page by page
        html = client.get(f"/moderate?page={page}").text
        assert_shown_as_text(html, [], f"queue page {page}")
        seen.append("".join(scan(html).text))
        if 'rel="next"' not in html:
            break
        page += 1
    queue_text = lines("".join(seen))
    assert [payload for payload in SHOWN if lines(f"{payload} ~") not in queue_text] == [], "a held reply is not shown"

    for payload in SHOWN:  # each payload's own article: filtered, previewed, approved by a rule, audited
        own = client.get("/moderate", query_string={"article": payload})
        assert own.status_code == 200, payload
        assert_shown_as_text(own.text, [payload], f"queue filtered by article {payload!r}")
        preview = client.get("/moderate/bulk", query_string={"article": payload, "action": "approve"})
        assert preview.status_code == 200, payload
        assert_shown_as_text(preview.text, [payload], f"bulk preview of {payload!r}")
        applied = client.post("/moderate/bulk", data={"article": payload, "action": "approve", "expect": "1",
                                                      "csrf_token": csrf_token(preview.text)})
        assert applied.status_code == 200, payload
        assert_shown_as_text(applied.text, [payload], f"bulk outcome of {payload!r}")

    for address in ("/moderate/audit", "/moderate/audit?page=2", "/moderate?status=approved", "/moderate/sites",
                    "/moderate/sites/poros-warta/policy", "/moderate/sites/kabar-lain/policy", "/moderate/account",
                    "/moderate/moderators", "/ops"):
        page = client.get(address)
        assert page.status_code == 200, address
        assert_shown_as_text(page.text, [], address)
    for payload in SHOWN[:10]:  # a job id, a queue or an event id sent in a form comes back in a message
        for url, data in ((f"/ops/queues/spam/jobs/{quote(payload, safe='')}/requeue", {}),
                          (f"/ops/queues/{quote(payload, safe='')}/requeue", {}),
                          ("/ops/callbacks/replay", {"event_id": payload})):
            token = csrf_token(client.get("/ops").text)
            answer = client.post(url, data={**data, "csrf_token": token}, follow_redirects=True)
            assert answer.status_code in (200, 404), (url, answer.status_code)
            assert_shown_as_text(answer.text, [payload] if data else [], url)


# -- in a real browser: nothing runs, with the Content-Security-Policy on or off -----------------

# What runs in a page does not depend on the database: the browser tests run on SQLite only
# (the pages' HTML is checked on both above).
ONE_DATABASE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RUNNABLE_IN_DOM = """() => {
  const found = [];
  const runnable = ["IFRAME", "OBJECT", "EMBED", "SVG", "MATH", "IMG", "BASE", "STYLE", "VIDEO", "AUDIO", "NOSCRIPT"];
  for (const node of document.querySelectorAll("*")) {
    const tag = node.tagName.toUpperCase();
    if (runnable.includes(tag)) found.push(tag);
    if (tag === "SCRIPT" && !(node.getAttribute("src") || "").includes("/static/")) found.push("inline SCRIPT");
    for (const attribute of node.attributes) {
      const value = attribute.value.replace(/[\\x00-\\x20]/g, "").toLowerCase();
      if (attribute.name.startsWith("on") || attribute.name === "srcdoc") found.push(`${tag} ${attribute.name}`);
      if (["href", "src", "action", "formaction", "data"].includes(attribute.name)
          && /^(javascript|data|vbscript):/.test(value)) found.push(`${tag} ${attribute.name}=${value}`);
    }
  }
  return found;
}"""


@pytest.fixture
def browse(browser):
    """Open pages in fresh browser contexts, with the CSP on or (`bypass_csp=True`) off, and
    after each page check that nothing ran: no canary set, no dialog opened, nothing
    runnable in the DOM, and (with the policy on) no script error or CSP complaint, which
    is how an injected inline script or handler would show."""
    contexts, problems = [], []

    def open_page(url: str, bypass_csp: bool, **options):
        context = browser.new_context(bypass_csp=bypass_csp, viewport={"width": 1200, "height": 900}, **options)
        contexts.append(context)
        context.on("weberror", lambda error: problems.append(f"{url}: {error.error}"))
        context.on("console", lambda message: message.type == "error" and not message.location.get(
            "url", "").endswith("/favicon.ico") and problems.append(f"{url}: {message.text}"))  # a page of its own
        page = context.new_page()
        page.on("dialog", lambda dialog: (problems.append(f"{url}: dialog {dialog.message!r}"), dialog.dismiss()))
        page.goto(url)
        return page

    def nothing_ran(page, where: str) -> None:
        assert page.evaluate("typeof window.__pwned") == "undefined", where
        assert page.evaluate(RUNNABLE_IN_DOM) == [], where
        assert problems == [], problems

    open_page.nothing_ran = nothing_ran
    yield open_page
    for context in contexts:
        context.close()
    assert problems == [], problems


@pytest.fixture
def news_page_with_widget(app, live_server, tmp_path):
    """A news site's page on another origin with the widget showing the published corpus."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(NewsPages, directory=str(tmp_path)))
    server.saring = live_server
    origin = f"http://localhost:{server.server_port}"
    with transaction(app.extensions["sessions"]) as session:
        key = issue_publishable_key(session, find_site(session, "poros-warta"), [origin])
    snippet = widget_snippet(live_server, "poros-warta", PUBLISHED, key, "en")
    (tmp_path / "berita.html").write_text(news_page(snippet, "en"), encoding="utf-8")
    (tmp_path / "favicon.ico").write_bytes(b"")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{origin}/berita.html"
    server.shutdown()
    server.server_close()
    thread.join(10)


EMBEDDED = [payload for payload in SHOWN if payload.startswith(("\"", "'", "</script>"))]


@ONE_DATABASE
def test_nothing_a_commenter_sends_runs_in_the_article_page_the_widget_or_the_embed(
        browse, live_server, shown_corpus, news_page_with_widget):
    from playwright.sync_api import expect

    contents = {lines(f"{payload} #{number}") for number, payload in enumerate(SHOWN)}
    for bypass_csp in (True, False):
        for page_number in (1, 2):
            page = browse(f"{live_server}/sites/poros-warta/articles/{PUBLISHED}?page={page_number}", bypass_csp)
            shown = page.locator("li.comment .comment-content")
            expect(shown).to_have_count(50 if page_number == 1 else len(SHOWN) - 50)
            assert {lines(text) for text in shown.all_inner_texts()} <= contents
            page.locator("li.comment a").first.hover()
            browse.nothing_ran(page, f"article page {page_number}, CSP {'off' if bypass_csp else 'on'}")

        page = browse(news_page_with_widget, bypass_csp)
        shown = page.locator("#saring-comments li.comment .comment-content")
        expect(shown).to_have_count(50)
        assert {lines(text) for text in shown.all_inner_texts()} <= contents
        page.click("#saring-comments button.more-comments")
        expect(shown).to_have_count(len(SHOWN))
        browse.nothing_ran(page, f"widget, CSP {'off' if bypass_csp else 'on'}")

        for payload in EMBEDDED:  # the iframe page, with the payload as its article id and its page's address
            page = browse(f"{live_server}/embed/poros-warta/{quote(payload, safe='')}?url={quote(payload, safe='')}",
                          bypass_csp)
            expect(page.locator("#saring-comments form")).to_have_count(1)
            browse.nothing_ran(page, f"embed {payload!r}, CSP {'off' if bypass_csp else 'on'}")


@ONE_DATABASE
def test_nothing_a_commenter_sends_runs_in_the_moderators_pages(browse, live_server, shown_corpus, app, client, admin):
    from playwright.sync_api import expect

    some = SHOWN[::11]
    with transaction(app.extensions["sessions"]) as session:
        create_site(session, "kabar-lain", SHOWN[0])
    open_policy(app, block_words=SHOWN[::5], hold_words=SHOWN[1::5])
    pages = ["/moderate", "/moderate?page=2", "/moderate?page=3", f"/moderate/bulk?article={PUBLISHED}&action=approve",
             "/moderate/audit", "/ops", "/moderate/sites", "/moderate/sites/poros-warta/policy", "/moderate/account"]
    pages += [f"/moderate?article={quote(payload, safe='')}" for payload in some]
    for bypass_csp in (True, False):
        page = browse(f"{live_server}/moderate/login", bypass_csp)
        page.fill("#username", "ayu")
        page.fill("#password", "correct horse battery")
        page.click("#login-submit")
        expect(page.locator("ol#queue")).to_have_attribute("data-status", "flagged")
        for address in pages:
            page.goto(live_server + address)
            for key in "jjjk":  # focus moves through the items
                page.keyboard.press(key)
            browse.nothing_ran(page, f"{address}, CSP {'off' if bypass_csp else 'on'}")
        page.goto(f"{live_server}/moderate?article={quote(some[1], safe='')}")
        page.locator("li.queue-item .btn-approve").first.click()  # in place, by workspace.js
        expect(page.locator("#flash .flash-success")).to_contain_text("Approved 1 comment")
        browse.nothing_ran(page, f"an approval, CSP {'off' if bypass_csp else 'on'}")
        some = some[3:]
