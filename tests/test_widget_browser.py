"""The widget in a real headless Chromium, on a news page of another site: the page is served
from http://localhost:<port> by a tiny static server with a strict Content-Security-Policy
(only Saring's origin besides its own), Saring from http://127.0.0.1:<port> (the live
server). A reader sees the field errors, posts, is told the comment awaits moderation, and
sees it published without a reload; replies nest; English with data-lang="en"; commenter
text never runs; the iframe page works inside the news page. Any script error or CSP
complaint fails a test."""
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from moderation.db import transaction
from moderation.sites import find_site, issue_publishable_key
from moderation.tables import Comment
from moderation.transitions import transition
from moderation.widget import widget_snippet

BENIGN = "Terima kasih atas beritanya. Semoga hubungan kedua negara membaik dan dunia lebih damai."
REPLY = "Setuju sekali, semoga perundingan berjalan lancar."
AWAITING = "Komentar Anda menunggu moderasi."
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
REFUSED = "status of 422"  # Chromium logs every non-2xx fetch; the field errors are one, on purpose


class NewsPages(SimpleHTTPRequestHandler):
    """A news site's static pages, under the policy a careful site would send."""

    def end_headers(self):
        saring = self.server.saring
        self.send_header("Content-Security-Policy",
                         f"default-src 'self'; script-src 'self' {saring}; style-src 'self' {saring}; "
                         f"connect-src {saring}; frame-src {saring}; img-src 'self'; base-uri 'none'")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def news_site(app, live_server, tmp_path):
    """Poros Warta's own pages on another origin, with the widget's script tag; returns the
    news site's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(NewsPages, directory=str(tmp_path)))
    server.saring = live_server
    origin = f"http://localhost:{server.server_port}"
    with transaction(app.extensions["sessions"]) as session:
        key = issue_publishable_key(session, find_site(session, "poros-warta"), [origin])
    for name, lang in (("berita.html", "id"), ("news.html", "en")):
        snippet = widget_snippet(live_server, "poros-warta", "rusia-as-dialog", key, lang)
        (tmp_path / name).write_text(news_page(snippet, lang), encoding="utf-8")
    frame = f'<iframe src="{live_server}/embed/poros-warta/rusia-as-dialog" title="Komentar" width="700" height="900"></iframe>'
    (tmp_path / "bingkai.html").write_text(news_page(frame, "id"), encoding="utf-8")
    (tmp_path / "favicon.ico").write_bytes(b"")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield origin
    server.shutdown()
    server.server_close()
    thread.join(10)


def news_page(comments: str, lang: str) -> str:
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Rusia dan Amerika Serikat – Poros Warta</title>
<link rel="canonical" href="https://poroswarta.example/internasional/rusia-as-dialog"></head>
<body><h1>Rusia dan Amerika Serikat: Upaya Memulihkan Dialog</h1>
<p>Moskow dan Washington kembali memberi isyarat ingin duduk bersama.</p>
{comments}
</body></html>"""


@pytest.fixture
def open_news(browser, news_site):
    """Open a news page in a fresh browser context (`bypass_csp=True` switches the policies
    off, so that an escaping test cannot pass thanks to them alone)."""
    contexts, problems, expected = [], [], []

    def open_tab(name="berita.html", **options):
        context = browser.new_context(viewport={"width": 1000, "height": 900}, **options)
        contexts.append(context)
        context.on("weberror", lambda error: problems.append(str(error.error)))
        context.on("console", lambda message: message.type == "error" and problems.append(message.text))
        tab = context.new_page()
        tab.goto(f"{news_site}/{name}")
        return tab

    open_tab.expect_error = expected.append
    yield open_tab
    for context in contexts:
        context.close()
    assert [problem for problem in problems if not any(text in problem for text in expected)] == []


def fill(page, content=BENIGN, name="Siti Rahmawati", email="siti.rahma@example.co.id", url=""):
    page.fill("#content", content)
    page.fill("#author_name", name)
    page.fill("#author_email", email)
    page.fill("#author_url", url)
    page.click("button.submit")


def test_a_reader_posts_replies_and_sees_both_published_without_a_reload(app, open_news, work):
    from playwright.sync_api import expect

    page = open_news()
    open_news.expect_error(REFUSED)
    expect(page.locator("#reply-title")).to_have_text("Tinggalkan Balasan")
    expect(page.locator("#email-notes")).to_have_text(
        "Alamat email Anda tidak akan dipublikasikan. Ruas yang wajib ditandai *")
    for name, label in [("content", "Komentar *"), ("author_name", "Nama *"), ("author_email", "Email *"),
                        ("author_url", "Situs Web")]:
        expect(page.locator(f'label[for="{name}"]')).to_have_text(label)
    expect(page.locator(".no-comments")).to_have_text("Belum ada komentar. Jadilah yang pertama menanggapi.")
    expect(page.locator("#website_url_confirm")).not_to_be_in_viewport()  # the honeypot

    page.click("button.submit")
    expect(page.locator("#field-content .field-error")).to_have_text("Silakan tulis komentar Anda.")
    expect(page.locator("#field-author_name .field-error")).to_have_text("Silakan isi nama Anda.")
    expect(page.locator("#field-author_email .field-error")).to_have_text("Silakan isi alamat email Anda.")
    expect(page.locator("#field-author_url .field-error")).to_have_count(0)
    expect(page.locator(".form-errors")).to_have_text("Komentar Anda belum terkirim. Periksa isian yang ditandai.")
    expect(page.locator("#content")).to_have_attribute("aria-invalid", "true")

    fill(page, email="siti.bukan-email")
    expect(page.locator("#field-author_email .field-error")).to_contain_text("Masukkan alamat email yang valid")
    expect(page.locator("#field-content .field-error")).to_have_count(0)

    fill(page, url="https://siti.example.id")
    mine = page.locator("li.is-mine")
    expect(mine.locator(".moderation-note")).to_have_text(AWAITING)
    expect(mine.locator(".comment-content")).to_have_text(BENIGN)
    expect(page.locator(".field-error")).to_have_count(0)
    expect(page.locator("#content")).to_have_value("")

    page.reload()  # this browser remembers its comment
    expect(page.locator("li.is-mine .moderation-note")).to_have_text(AWAITING)
    page.evaluate("window.__notReloaded = true")
    work()
    published = page.locator("li.comment:not(.is-mine)")
    expect(published.locator(".comment-content")).to_have_text(BENIGN, timeout=15_000)
    expect(page.locator(".moderation-note")).to_have_count(0)
    expect(published.locator(".comment-author a")).to_have_attribute("rel", "nofollow ugc noopener")
    expect(published.locator(".comment-author a")).to_have_attribute("href", "https://siti.example.id")
    expect(published.locator(".comment-date")).to_contain_text("WIB")

    parent = published.get_attribute("id")
    published.locator(".reply-link").click()
    expect(page.locator("#reply-title")).to_contain_text("Balas ke Siti Rahmawati")
    fill(page, content=REPLY, name="Budi", email="budi@example.co.id")
    expect(page.locator("#reply-title")).to_have_text("Tinggalkan Balasan")
    nested = page.locator(f"#{parent} > ol.children > li")
    expect(nested.locator(".moderation-note")).to_have_text(AWAITING)
    expect(nested.locator(".comment-content")).to_have_text(REPLY)
    work()
    expect(page.locator(f"#{parent} > ol.children > li:not(.is-mine) .comment-content")).to_have_text(
        REPLY, timeout=15_000)
    expect(page.locator(".moderation-note")).to_have_count(0)
    assert page.evaluate("window.__notReloaded") is True

    page.reload()  # the thread as any reader sees it
    expect(page.locator(f"#{parent} > ol.children > li.depth-2 .comment-content")).to_have_text(REPLY)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "widget.png", full_page=True)
    with app.extensions["sessions"]() as session:
        stored = session.scalar(select(Comment).where(Comment.content == BENIGN))
        assert stored.article.url == "https://poroswarta.example/internasional/rusia-as-dialog"
        assert stored.referrer.startswith("http://localhost:")


def test_the_widget_speaks_english_with_data_lang_en(open_news):
    from playwright.sync_api import expect

    page = open_news("news.html")
    open_news.expect_error(REFUSED)
    expect(page.locator("#reply-title")).to_have_text("Leave a Reply")
    expect(page.locator("#email-notes")).to_have_text(
        "Your email address will not be published. Required fields are marked *")
    for name, label in [("content", "Comment *"), ("author_name", "Name *"), ("author_email", "Email *"),
                        ("author_url", "Website")]:
        expect(page.locator(f'label[for="{name}"]')).to_have_text(label)
    expect(page.locator("button.submit")).to_have_text("Post Comment")
    page.fill("#content", BENIGN)
    page.click("button.submit")
    expect(page.locator("#field-author_name .field-error")).to_have_text("Please enter your name.")
    expect(page.locator("#content")).to_have_value(BENIGN)
    fill(page)
    expect(page.locator("li.is-mine .moderation-note")).to_have_text("Your comment is awaiting moderation.")


def test_commenter_text_is_shown_as_text_and_never_runs(app, open_news):
    from playwright.sync_api import expect

    page = open_news(bypass_csp=True)
    content = '<script>window.__xss=1</script> <img src=x onerror="window.__xss=1"> lihat https://contoh.id/a?b=1&c=2.'
    name = '<img src=x onerror="window.__xss=1">'
    url = 'http://x.example/"><script>window.__xss=1</script>'
    fill(page, content=content, name=name, url=url)
    mine = page.locator("li.is-mine")
    expect(mine.locator(".comment-content")).to_have_text(content)
    expect(mine.locator(".comment-author")).to_have_text(name)

    with transaction(app.extensions["sessions"]) as session:  # published, whatever the checks would say
        comment = session.scalar(select(Comment).where(Comment.author_name == name))
        transition(session, comment, "approved", actor="test")
    published = page.locator("li.comment:not(.is-mine)")
    expect(published.locator(".comment-content")).to_have_text(content, timeout=15_000)
    expect(published.locator(".comment-author a")).to_have_attribute("href", url)
    expect(published.locator(".comment-author a")).to_have_text(name)
    expect(published.locator(".comment-content a")).to_have_attribute("href", "https://contoh.id/a?b=1&c=2")
    assert page.locator("#saring-comments img").count() == 0
    assert page.locator("#saring-comments script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_the_iframe_page_works_inside_the_news_page(open_news):
    from playwright.sync_api import expect

    page = open_news("bingkai.html")
    frame = page.frame_locator("iframe")
    expect(frame.locator("#reply-title")).to_have_text("Tinggalkan Balasan")
    frame.locator("#content").fill(BENIGN)
    frame.locator("#author_name").fill("Siti Rahmawati")
    frame.locator("#author_email").fill("siti.rahma@example.co.id")
    frame.locator("button.submit").click()
    expect(frame.locator("li.is-mine .moderation-note")).to_have_text(AWAITING)
