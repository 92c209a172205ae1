"""The demo article page: the article, its approved comments, and the reply form that posts
to Saring itself (Flask-WTF, CSRF), in Indonesian and English."""
import re

import pytest
from sqlalchemy import func, select, update

from moderation.db import transaction
from moderation.forms import ReplyForm
from moderation.pages import KEPT_COMMENTS, linkify, remember_comment, show_errors
from moderation.tables import Comment
from moderation.transitions import transition

PAGE = "/sites/poros-warta/articles/rusia-as-dialog"
BENIGN = "Terima kasih atas beritanya. Semoga hubungan kedua negara membaik dan dunia lebih damai."
READER = {
    "content": BENIGN,
    "author_name": "Siti Rahmawati",
    "author_email": "siti.rahma@example.co.id",
    "author_url": "",
}


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def field_block(html: str, name: str) -> str:
    """The markup of one form field: its label, input and any error beside it."""
    return re.search(rf'<div class="field[^"]*" id="field-{name}">(.*?)</div>', html, re.S).group(1)


def comment_block(html: str, public_id: str) -> str:
    return re.search(rf'<li class="comment[^"]*" id="comment-{public_id}">(.*?)</article>', html, re.S).group(1)


def post_reply(client, url=PAGE, **fields):
    """Fill the form as a reader would (with the CSRF token from the rendered page) and send it."""
    token = csrf_token(client.get(url).get_data(as_text=True))
    return client.post(url, data={**READER, **fields, "csrf_token": token})


def posted_id(response) -> str:
    assert response.status_code == 303
    return re.search(r"#comment-(.+)$", response.headers["Location"]).group(1)


def count_comments(app) -> int:
    with transaction(app.extensions["sessions"]) as session:
        return session.scalar(select(func.count()).select_from(Comment))


def test_page_shows_the_article_and_the_reply_form_in_indonesian(client, site):
    response = client.get(PAGE)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="id">' in html
    assert "Poros Warta" in html
    assert "Rusia dan Amerika Serikat: Upaya Memulihkan Dialog" in html
    assert "Dmitry Peskov" in html
    assert "Belum ada komentar" in html
    assert "Tinggalkan Balasan" in html
    assert "Alamat email Anda tidak akan dipublikasikan. Ruas yang wajib ditandai *" in html
    for name, label in [("content", "Komentar"), ("author_name", "Nama"), ("author_email", "Email")]:
        assert re.search(rf">{label} <span class=\"required\"[^>]*>\*</span></label>", field_block(html, name))
    assert ">Situs Web</label>" in field_block(html, "author_url")
    assert "Kirim Komentar" in html
    assert f'href="{PAGE}?lang=en"' in html


def test_page_speaks_english_with_lang_en(client, site):
    html = client.get(f"{PAGE}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Leave a Reply" in html
    assert "Your email address will not be published. Required fields are marked *" in html
    assert ">Name <span" in field_block(html, "author_name")
    assert ">Website</label>" in field_block(html, "author_url")
    assert "Post Comment" in html
    assert f'action="{PAGE}?lang=en"' in html
    assert f'href="{PAGE}"' in html  # back to Indonesian


def test_other_articles_show_their_stored_title_or_a_neutral_heading(client, site, comment_payload):
    html = client.get("/sites/poros-warta/articles/berita-lain").get_data(as_text=True)
    assert "<h1 class=\"story-title\">Artikel</h1>" in html
    assert "Dmitry Peskov" not in html
    assert "Tinggalkan Balasan" in html

    payload = comment_payload(article_id="banjir-jakarta", article_title="Banjir Rendam Jakarta <Utara>")
    assert client.post("/api/v1/comments", json=payload, headers=site["auth"]).status_code == 202
    html = client.get("/sites/poros-warta/articles/banjir-jakarta").get_data(as_text=True)
    assert "Banjir Rendam Jakarta &lt;Utara&gt;</h1>" in html


def test_unknown_site_is_a_404_page(client, site):
    response = client.get("/sites/tidak-ada/articles/rusia-as-dialog")
    assert response.status_code == 404
    assert "Halaman tidak ditemukan" in response.get_data(as_text=True)
    assert "Page not found" in client.get("/sites/tidak-ada/articles/x?lang=en").get_data(as_text=True)
    assert client.get("/sites/poros-warta/articles/" + "a" * 201).status_code == 404
    assert client.get("/sites/poros-warta/articles/a%00b").status_code == 404
    assert client.get("/sites/poros%00warta/articles/rusia-as-dialog").status_code == 404
    assert client.get("/sites/poros%00warta/articles/rusia-as-dialog/checking").get_json() == {"checking": 0}


@pytest.mark.parametrize(
    "missing, message",
    [
        ("content", "Silakan tulis komentar Anda."),
        ("author_name", "Silakan isi nama Anda."),
        ("author_email", "Silakan isi alamat email Anda."),
    ],
)
def test_a_missing_field_is_named_beside_it_and_the_rest_is_kept(client, app, site, missing, message):
    response = post_reply(client, **{missing: "   "}, author_url="https://siti.example.id")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in field_block(html, missing)
    assert 'aria-invalid="true"' in field_block(html, missing)
    assert "Komentar Anda belum terkirim" in html
    for name, value in {**READER, "author_url": "https://siti.example.id"}.items():
        if name != missing and name != "content":
            assert f'value="{value}"' in field_block(html, name)
    if missing != "content":
        assert BENIGN in field_block(html, "content")
    assert count_comments(app) == 0


def test_an_empty_form_gets_every_error_and_english_ones_with_lang_en(client, site):
    empty = {"content": "", "author_name": "", "author_email": ""}
    html = post_reply(client, **empty).get_data(as_text=True)
    assert "Silakan tulis komentar Anda." in field_block(html, "content")
    assert "Silakan isi nama Anda." in field_block(html, "author_name")
    assert "Silakan isi alamat email Anda." in field_block(html, "author_email")
    assert "field-error" not in field_block(html, "author_url")

    html = post_reply(client, url=f"{PAGE}?lang=en", **empty).get_data(as_text=True)
    assert "Please type your comment." in field_block(html, "content")
    assert "Please enter your name." in field_block(html, "author_name")
    assert "Please enter your email address." in field_block(html, "author_email")
    assert f'action="{PAGE}?lang=en"' in html


@pytest.mark.parametrize(
    "fields, name, message",
    [
        ({"author_email": "siti.bukan-email"}, "author_email", "Masukkan alamat email yang valid"),
        ({"author_url": "javascript:alert(1)"}, "author_url", "diawali http:// atau https://"),
        ({"author_url": "situs saya"}, "author_url", "diawali http:// atau https://"),
        ({"author_name": "a" * 246}, "author_name", "Paling banyak 245 karakter."),
        ({"author_email": "s" * 90 + "@example.co.id"}, "author_email", "Paling banyak 100 karakter."),
        ({"author_url": "https://contoh.id/" + "a" * 190}, "author_url", "Paling banyak 200 karakter."),
        ({"content": "k" * 65526}, "content", "Paling banyak 65.525 karakter."),
        ({"content": "halo\x00dunia"}, "content", "karakter yang tidak dapat disimpan"),
    ],
)
def test_invalid_and_over_limit_fields_are_refused(client, app, site, fields, name, message):
    html = post_reply(client, **fields).get_data(as_text=True)
    assert message in field_block(html, name)
    assert count_comments(app) == 0


def test_fields_at_the_limits_are_accepted(client, app, site):
    response = post_reply(
        client,
        author_name="n" * 245,
        author_email="s" * 86 + "@example.co.id",
        author_url="https://contoh.id/" + "a" * 182,
        content="k" * 65000 + "\r\n" * 525,  # a browser's line break counts as one character
    )
    assert response.status_code == 303
    assert count_comments(app) == 1


def test_a_post_without_a_csrf_token_is_refused(client, app, site):
    response = client.post(PAGE, data=READER)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert count_comments(app) == 0
    assert "Formulir ini sudah kedaluwarsa" in html
    assert 'value="Siti Rahmawati"' in field_block(html, "author_name")

    response = client.post(PAGE, data={**READER, "csrf_token": "palsu"})
    assert response.status_code == 400
    assert count_comments(app) == 0


@pytest.mark.parametrize(
    "parent_id, message",
    [
        ("tidak-ada", "Komentar yang Anda balas tidak ditemukan."),
        ("tidak\x00ada", "Teks ini berisi karakter yang tidak dapat disimpan."),
        ("x" * 33, "Paling banyak 32 karakter."),
    ],
)
def test_a_reply_to_an_unknown_comment_is_refused_above_the_form(client, app, site, parent_id, message):
    html = post_reply(client, parent_id=parent_id).get_data(as_text=True)
    problems = re.search(r'<div class="form-errors" role="alert">(.*?)</div>', html, re.S).group(1)
    assert message in problems
    assert 'name="parent_id" type="hidden" value=""' in html
    assert count_comments(app) == 0
    assert client.get(f"{PAGE}?reply_to=tidak%00ada").status_code == 200


def test_a_posted_comment_awaits_moderation_for_its_author_only(client, app, site):
    response = post_reply(client)
    comment_id = posted_id(response)
    assert response.headers["Location"] == f"{PAGE}#comment-{comment_id}"

    html = client.get(PAGE).get_data(as_text=True)
    mine = comment_block(html, comment_id)
    assert "Komentar Anda menunggu moderasi." in mine
    assert BENIGN in mine and "Siti Rahmawati" in mine
    assert 'data-checking="1"' in html
    assert client.get(f"{PAGE}/checking").get_json() == {"checking": 1}

    english = client.get(f"{PAGE}?lang=en").get_data(as_text=True)
    assert "Your comment is awaiting moderation." in english

    stranger = app.test_client()
    assert BENIGN not in stranger.get(PAGE).get_data(as_text=True)
    assert stranger.get(f"{PAGE}/checking").get_json() == {"checking": 0}


def test_english_posts_redirect_back_to_the_english_page(client, site):
    response = post_reply(client, url=f"{PAGE}?lang=en")
    assert response.headers["Location"].startswith(f"{PAGE}?lang=en#comment-")


def test_a_benign_comment_is_listed_once_the_checks_approve_it(client, app, site, work):
    comment_id = posted_id(post_reply(client))
    work()

    html = client.get(PAGE).get_data(as_text=True)
    shown = comment_block(html, comment_id)
    assert BENIGN in shown
    assert "menunggu moderasi" not in html
    assert "data-checking" not in html
    assert f"reply_to={comment_id}#respond" in shown
    assert "siti.rahma@example.co.id" not in html
    assert client.get(f"{PAGE}/checking").get_json() == {"checking": 0}
    assert BENIGN in app.test_client().get(PAGE).get_data(as_text=True)


def test_the_form_stores_the_same_comment_as_the_api(client, app, site, work):
    comment_id = posted_id(post_reply(client, author_url="https://siti.example.id"))
    work()

    thread = client.get("/api/v1/sites/poros-warta/articles/rusia-as-dialog/comments").get_json()
    [listed] = thread["comments"]
    assert listed["id"] == comment_id
    assert listed["author_name"] == "Siti Rahmawati"
    assert listed["author_url"] == "https://siti.example.id"
    assert listed["content"] == BENIGN

    described = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
    assert described["status"] == "approved"
    assert described["article_id"] == "rusia-as-dialog"
    assert described["author_email"] == "s***a@e***.co.id"
    assert set(described["scores"]) == {"spam", "toxicity"}


def test_a_reply_is_nested_under_its_parent(client, app, site, work):
    parent_id = posted_id(post_reply(client))
    work()

    html = client.get(f"{PAGE}?reply_to={parent_id}").get_data(as_text=True)
    assert "Balas ke Siti Rahmawati" in html
    assert f'name="parent_id" type="hidden" value="{parent_id}"' in html
    assert "Batalkan balasan" in html

    token = csrf_token(html)
    reply = {**READER, "author_name": "Budi", "content": "Setuju, semoga damai.", "parent_id": parent_id}
    reply_id = posted_id(client.post(PAGE, data={**reply, "csrf_token": token}))
    html = client.get(PAGE).get_data(as_text=True)
    children = re.search(rf'id="comment-{parent_id}">.*?<ol class="children">(.*?)</ol>', html, re.S).group(1)
    assert f'id="comment-{reply_id}"' in children and "menunggu moderasi" in children

    work()
    [listed] = client.get("/api/v1/sites/poros-warta/articles/rusia-as-dialog/comments").get_json()["comments"]
    assert [reply["id"] for reply in listed["replies"]] == [reply_id]
    html = client.get(PAGE).get_data(as_text=True)
    children = re.search(rf'id="comment-{parent_id}">.*?<ol class="children">(.*?)</ol>', html, re.S).group(1)
    assert "Setuju, semoga damai." in children and "menunggu moderasi" not in children


def test_a_rejected_comment_is_said_not_to_be_published(client, app, site):
    comment_id = posted_id(post_reply(client))
    with transaction(app.extensions["sessions"]) as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == comment_id))
        transition(session, comment, "rejected", actor="test", reason="spam")

    html = client.get(PAGE).get_data(as_text=True)
    assert "Komentar Anda tidak diterbitkan." in comment_block(html, comment_id)
    assert "data-checking" not in html
    assert BENIGN not in app.test_client().get(PAGE).get_data(as_text=True)


def test_commenter_text_is_never_markup(client, app, site):
    content = (
        '<script>window.__xss=1</script> <img src=x onerror="window.__xss=1">\n'
        "Baca https://contoh.id/berita?a=1&b=2. Lalu \"javascript:alert(1)\""
    )
    comment_id = posted_id(
        post_reply(
            client,
            author_name="<b onmouseover=alert(1)>Siti</b>",
            author_url='https://siti.example.id/"><script>alert(1)</script>',
            content=content,
        )
    )
    html = client.get(PAGE).get_data(as_text=True)
    shown = comment_block(html, comment_id)
    assert html.count("<script") == 1  # the page's own script file
    assert "<img" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in shown
    assert "&lt;b onmouseover=alert(1)&gt;Siti&lt;/b&gt;" in shown
    assert (
        '<a class="url" href="https://siti.example.id/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" '
        'rel="nofollow ugc noopener">' in shown
    )
    assert '<a href="https://contoh.id/berita?a=1&amp;b=2" rel="nofollow ugc noopener">' in shown
    assert "<br>" in shown
    assert 'href="javascript' not in html


@pytest.mark.parametrize(
    "text, html",
    [
        ("satu\ndua\r\ntiga", "satu<br>\ndua<br>\ntiga"),
        ("<i>miring</i>", "&lt;i&gt;miring&lt;/i&gt;"),
        (
            "lihat https://contoh.id/a?b=1&c=2.",
            'lihat <a href="https://contoh.id/a?b=1&amp;c=2" rel="nofollow ugc noopener">https://contoh.id/a?b=1&amp;c=2</a>.',
        ),
        (
            "(http://contoh.id/x)",
            '(<a href="http://contoh.id/x" rel="nofollow ugc noopener">http://contoh.id/x</a>)',
        ),
        (
            'https://contoh.id/"onmouseover="x',
            '<a href="https://contoh.id/" rel="nofollow ugc noopener">https://contoh.id/</a>&#34;onmouseover=&#34;x',
        ),
        ("javascript:alert(1) ftp://contoh.id", "javascript:alert(1) ftp://contoh.id"),
    ],
)
def test_linkify_escapes_then_links(text, html):
    assert str(linkify(text)) == html


def test_the_session_remembers_a_few_recent_comments(app):
    with app.test_request_context():
        from flask import session

        for number in range(KEPT_COMMENTS + 3):
            remember_comment(f"c{number}")
        assert session["my_comments"] == [f"c{number}" for number in range(3, KEPT_COMMENTS + 3)]


def test_errors_the_schema_finds_land_beside_their_fields(app):
    with app.test_request_context(method="POST"):
        english = ReplyForm(lang="en")
        show_errors(english, {"author_email": "Enter a valid email address.", "user_ip": "Enter an IPv4 address."})
        assert english.author_email.errors == ["Enter a valid email address."]
        assert english.form_errors == ["Enter an IPv4 address."]

        indonesian = ReplyForm()
        show_errors(indonesian, {"author_name": "Must not be blank.", "parent_id": "No comment with this id."})
        assert indonesian.author_name.errors == ["Isian ini tidak valid."]
        assert indonesian.parent_id.errors == ["Komentar yang Anda balas tidak ditemukan."]


def test_pages_forbid_foreign_scripts(client, site):
    response = client.get(PAGE)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_submission_path_s_refusals_are_told_in_the_reader_s_language(client, app, site):
    from moderation.policy import FloodLimits, Policy, set_policy
    from moderation.sites import find_site
    from moderation.tables import Article

    with transaction(app.extensions["sessions"]) as session:
        set_policy(session, find_site(session, "poros-warta"), Policy(flood=FloodLimits(per_email=3)), "test")
    first = posted_id(post_reply(client))

    html = post_reply(client).get_data(as_text=True)  # the same text again
    assert "Anda sudah mengirim komentar yang sama." in field_block(html, "content")
    assert "Komentar Anda belum terkirim" in html

    html = post_reply(client, url=f"{PAGE}?lang=en", content="A reply to a comment not yet published.",
                      parent_id=first).get_data(as_text=True)
    assert "The comment you are replying to was not found." in html

    html = post_reply(client, content="Komentar keempat dalam semenit.").get_data(as_text=True)
    assert re.search(r"Terlalu banyak komentar dalam waktu singkat\. Coba lagi dalam \d+ detik\.", html)
    assert count_comments(app) == 1

    with transaction(app.extensions["sessions"]) as session:
        session.execute(update(Article).values(is_open=False))
    html = post_reply(app.test_client(), url=f"{PAGE}?lang=en", author_email="lain@example.co.id").get_data(as_text=True)
    assert "Comments on this article are closed." in html
    assert count_comments(app) == 1


def test_a_robot_that_fills_the_honeypot_is_answered_as_usual(client, app, site):
    html = client.get(PAGE).get_data(as_text=True)
    assert 'name="website_url_confirm" tabindex="-1"' in html
    comment_id = posted_id(post_reply(client, website_url_confirm="https://spam.example"))
    with transaction(app.extensions["sessions"]) as session:
        comment = session.scalar(select(Comment).where(Comment.public_id == comment_id))
        assert (comment.status, comment.reason) == ("rejected", "spam")


@pytest.mark.parametrize(("proxy_hops", "fingerprinted"), [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_the_readers_address_comes_from_a_trusted_proxy_only(settings, site, proxy_hops, fingerprinted):
    """Behind nginx (MODERATION_PROXY_HOPS=1) the reader's address is X-Forwarded-For's, so
    flood limits and fingerprints see each reader; without a trusted proxy the header is ignored."""
    from dataclasses import replace

    from moderation import create_app

    app = create_app(replace(settings, proxy_hops=proxy_hops))
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    comment_id = posted_id(post_reply(client))
    with app.extensions["sessions"]() as session:
        stored = session.scalar(select(Comment.ip_fingerprint).where(Comment.public_id == comment_id))
    assert stored == app.extensions["vault"].fingerprint(fingerprinted, "ip")
