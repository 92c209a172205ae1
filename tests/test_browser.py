"""The article page in a real headless Chromium, against the app served by a real server:
the reader's errors, the wait for moderation, the decision arriving without a reload, and
commenter text that never runs as script."""
import re

import pytest


PAGE = "/sites/poros-warta/articles/rusia-as-dialog"
BENIGN = "Terima kasih atas beritanya. Semoga hubungan kedua negara membaik dan dunia lebih damai."
SCREENSHOT = "/tmp/saring-article.png"


@pytest.fixture
def open_page(browser, live_server):
    """Open the demo article in a fresh browser context; the test fails on any script error
    or Content-Security-Policy complaint. `bypass_csp=True` switches the policy off, so
    that an escaping test cannot pass thanks to the policy alone."""
    contexts, problems = [], []

    def open_tab(**options):
        context = browser.new_context(viewport={"width": 1100, "height": 900}, **options)
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda error: problems.append(str(error)))
        tab.on("console", lambda message: message.type == "error" and problems.append(message.text))
        tab.goto(live_server + PAGE)
        return tab

    yield open_tab
    for context in contexts:
        context.close()
    assert problems == []


@pytest.fixture
def page(open_page):
    return open_page()


def fill_reply(page, content=BENIGN, name="Siti Rahmawati", email="siti.rahma@example.co.id"):
    page.fill("#content", content)
    page.fill("#author_name", name)
    page.fill("#author_email", email)
    page.click("button.submit")


def test_a_reader_sees_errors_then_the_wait_then_the_decision(page, work):
    from playwright.sync_api import expect

    expect(page.locator("h1")).to_have_text("Rusia dan Amerika Serikat: Upaya Memulihkan Dialog")
    expect(page.locator("#reply-title")).to_have_text("Tinggalkan Balasan")

    page.click("button.submit")
    expect(page.locator("#field-content .field-error")).to_have_text("Silakan tulis komentar Anda.")
    expect(page.locator("#field-author_name .field-error")).to_have_text("Silakan isi nama Anda.")
    expect(page.locator("#field-author_email .field-error")).to_have_text("Silakan isi alamat email Anda.")
    expect(page.locator("#field-author_url .field-error")).to_have_count(0)

    page.fill("#author_url", "https://siti.example.id")
    fill_reply(page)
    mine = page.locator("li.is-mine")
    expect(mine.locator(".moderation-note")).to_have_text("Komentar Anda menunggu moderasi.")
    expect(mine.locator(".comment-content")).to_have_text(BENIGN)

    page.evaluate("window.__notReloaded = true")
    work()
    published = page.locator("li.comment:not(.is-mine) .comment-content")
    expect(published).to_have_text(BENIGN, timeout=15_000)
    expect(page.locator(".moderation-note")).to_have_count(0)
    expect(page.locator("li.comment:not(.is-mine) .comment-author a")).to_have_attribute("rel", "nofollow ugc noopener")
    assert page.evaluate("window.__notReloaded") is True  # the script refreshed the list in place
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_script_in_a_comment_is_shown_as_text_and_never_runs(open_page, work):
    from playwright.sync_api import expect

    page = open_page(bypass_csp=True)
    payload = '<script>window.__xss=1</script> <img src=x onerror="window.__xss=1">'
    fill_reply(page, content=payload, name='<img src=x onerror="window.__xss=1">')
    mine = page.locator("li.is-mine")
    expect(mine.locator(".comment-content")).to_have_text(payload)
    expect(mine.locator(".comment-author")).to_have_text('<img src=x onerror="window.__xss=1">')
    assert page.evaluate("typeof window.__xss") == "undefined"

    work()  # whatever the checks decide, the refreshed list must not run it either
    expect(page.locator("#comments")).not_to_have_attribute("data-checking", re.compile(".*"), timeout=15_000)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#comments img").count() == 0


def test_the_page_speaks_english_and_keeps_it_through_a_post(page):
    from playwright.sync_api import expect

    page.click("a.language-switch")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#reply-title")).to_have_text("Leave a Reply")
    page.fill("#content", BENIGN)
    page.click("button.submit")
    expect(page.locator("#field-author_name .field-error")).to_have_text("Please enter your name.")
    fill_reply(page)
    expect(page.locator("li.is-mine .moderation-note")).to_have_text("Your comment is awaiting moderation.")
