"""The moderator workspace pages (/moderate), driven like a moderator drives them: through
the real login form and the real forms, CSRF tokens taken from the rendered HTML, against
comments decided by the real checks."""
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import select, update

from moderation import queue_pages
from moderation.db import transaction
from moderation.errors import Unauthorized
from moderation.moderators import moderator_for_token
from moderation.sites import create_site
from moderation.tables import Article, AuditEvent, Ban, Comment, Label, Moderator, ModeratorToken, utcnow

PASSWORD = "correct horse battery"
CLEAN = "Semoga banjir cepat surut dan warga mendapat bantuan yang layak."
CALM = "Terima kasih atas liputannya, semoga pemerintah segera membantu warga."
ENGLISH = "Thank you for the clear reporting on the flood relief plan."
PROMO = "SLOT GACOR hari ini m4xw1n terus! daftar sekarang di PULAUWIN88, deposit 10rb langsung jp"
EMAIL = "budi.santoso@example.co.id"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


# -- helpers: a moderator's browser ------------------------------------------------------------

def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html).group(1)


def log_in(client, username="mira", password=PASSWORD, next_page=None):
    """Fill the login form as a person would, with the token from the rendered form."""
    page = client.get("/moderate/login" + (f"?next={next_page}" if next_page else ""))
    return client.post("/moderate/login", data={"username": username, "password": password,
                                                "next": next_page or "", "csrf_token": csrf_token(page.text)})


def submit(client, url, data, page="/moderate", **kwargs):
    """Post a workspace form with the CSRF token of the page it is on."""
    return client.post(url, data={**data, "csrf_token": csrf_token(client.get(page).text)}, **kwargs)


def queue_ids(html: str) -> list[str]:
    return re.findall(r'<li class="queue-item[^"]*" id="item-([^"]+)"', html)


def item_html(html: str, public_id: str) -> str:
    return re.search(rf'<li class="queue-item[^"]*" id="item-{public_id}".*?</li>', html, re.S).group(0)


def tab_count(html: str, status: str) -> int:
    return int(re.search(rf'data-count-for="{status}">(\d+)<', html).group(1))


def statuses(app, ids) -> dict[str, str]:
    with app.extensions["sessions"]() as session:
        return dict(session.execute(select(Comment.public_id, Comment.status).where(Comment.public_id.in_(ids))).all())


def events(app, **where) -> list[AuditEvent]:
    with app.extensions["sessions"]() as session:
        query = select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
        return session.scalars(query).all()


@pytest.fixture
def mira(client, make_moderator):
    """A moderator of poros-warta, logged in."""
    make_moderator()
    assert log_in(client).status_code == 303
    return client


@pytest.fixture
def other_site(app, flag_comments):
    """A second site with one flagged comment, which poros-warta's moderators must never see."""
    with transaction(app.extensions["sessions"]) as session:
        _, key = create_site(session, "kabar-lain", "Kabar Lain")
    ids = flag_comments([ENGLISH], auth={"Authorization": f"Bearer {key}"}, article_id="their-thread",
                        author_email="other.reader@example.org")
    return {"slug": "kabar-lain", "id": ids[0], "auth": {"Authorization": f"Bearer {key}"}}


# -- logging in ----------------------------------------------------------------------------------

def test_a_moderator_logs_in_and_out(client, make_moderator):
    make_moderator()
    response = client.get("/moderate")
    assert response.status_code == 302 and response.headers["Location"] == "/moderate/login?next=/moderate"
    login_page = client.get("/moderate/login")
    assert 'id="username"' in login_page.text and 'id="password"' in login_page.text
    response = log_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/moderate"
    assert "HttpOnly" in response.headers["Set-Cookie"] and "SameSite=Lax" in response.headers["Set-Cookie"]
    queue = client.get("/moderate")
    assert queue.status_code == 200 and ">mira<" in queue.text
    response = submit(client, "/moderate/logout", {})
    assert response.status_code == 303 and response.headers["Location"] == "/moderate/login"
    assert "You are logged out." in client.get("/moderate/login").text
    assert client.get("/moderate").status_code == 302


def test_login_goes_back_to_the_page_asked_for_but_never_off_site(client, make_moderator):
    make_moderator()
    assert log_in(client, next_page="/moderate/audit?actor=checks").headers["Location"] == "/moderate/audit?actor=checks"
    for elsewhere in ("https://evil.example/", "//evil.example/moderate", "/sites/x", "/moderateevil",
                      "javascript:alert(1)", "/moderate\\@evil.example"):
        submit(client, "/moderate/logout", {})
        assert log_in(client, next_page=elsewhere).headers["Location"] == "/moderate"


def test_login_starts_a_fresh_session(client, make_moderator):
    make_moderator()
    with client.session_transaction() as cookie:
        cookie["planted"] = "by an attacker"
    log_in(client)
    with client.session_transaction() as cookie:
        assert "planted" not in cookie and cookie["moderator"][0] > 0


def test_wrong_passwords_are_refused_then_the_account_is_locked(app, client, make_moderator):
    make_moderator()
    unknown = log_in(client, username="nobody")
    assert unknown.status_code == 200 and "Wrong username or password." in unknown.text
    for _ in range(5):
        response = log_in(client, password="not the password")
        assert response.status_code == 200 and "Wrong username or password." in response.text
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(Moderator.failed_logins).where(Moderator.username == "mira")) == 5
    locked = log_in(client)  # even the right password waits now
    assert locked.status_code == 429 and "Too many failed logins. Try again later." in locked.text
    assert int(locked.headers["Retry-After"]) > 0
    assert client.get("/moderate").status_code == 302


def test_every_page_needs_a_login(client, make_moderator):
    for path in ("/moderate", "/moderate/audit", "/moderate/bulk?action=approve", "/moderate/moderators",
                 "/moderate/account"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert urlsplit(response.headers["Location"]).path == "/moderate/login"
        assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == [path]
    response = submit(client, "/moderate/actions", {"ids": "x", "action": "approve"}, page="/moderate/login")
    assert response.status_code == 302 and response.headers["Location"].startswith("/moderate/login")
    response = submit(client, "/moderate/actions", {"ids": "x", "action": "approve"}, page="/moderate/login",
                      headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"


# -- the queue -----------------------------------------------------------------------------------

def test_the_queue_shows_why_each_comment_was_held(app, client, site, mira, flag_comments, comment_payload, work):
    parent = client.post("/api/v1/comments", json=comment_payload(article_id="banjir", content=CALM),
                         headers=site["auth"]).get_json()["id"]
    work()
    assert statuses(app, [parent]) == {parent: "approved"}
    promo = flag_comments([PROMO], article_id="banjir", parent_id=None)[0]
    reply = flag_comments([CLEAN], article_id="banjir", parent_id=parent, author_url="https://budi.example/blog")[0]
    html = mira.get("/moderate").text
    assert queue_ids(html) == [promo, reply]
    item = item_html(html, promo)
    assert re.search(r'<mark class="strong" title="weight [0-9.]+">GACOR</mark>', item)
    assert "b***o@e***.co.id" in item and EMAIL not in html
    assert re.search(r'class="h-flagged">\d+ flagged<', item)
    assert re.search(r'score-name">spam</span>\s*<span class="score-value">[01]\.\d\d<', item)
    assert 'score-name">toxicity</span>' in item and 'score-name">insult</span>' in item
    assert "article premoderated" in item and "spam-" in item and "toxicity-" in item
    assert re.search(r"spam flag 0\.\d\d / reject 0\.\d\d", item)
    assert re.search(r'class="waited"[^>]*>\d+ s<', item)
    assert 'href="https://poroswarta.example/rusia-as-dialog" rel="nofollow ugc noopener noreferrer"' in item
    replied = item_html(html, reply)
    assert "reply to Budi Santoso" in replied and CALM in replied
    assert '<a class="author-url" href="https://budi.example/blog" rel="nofollow ugc noopener noreferrer">' in replied
    assert 'id="overturns"' in html


def test_tabs_counts_filters_sorting_and_pages(app, mira, flag_comments, monkeypatch):
    clean = flag_comments([CLEAN, ENGLISH], article_id="thread-a")
    promo = flag_comments([PROMO], article_id="thread-b")
    html = mira.get("/moderate").text
    assert queue_ids(html) == clean + promo
    assert [tab_count(html, status) for status in ("flagged", "pending", "approved", "rejected")] == [3, 0, 0, 0]
    assert queue_ids(mira.get("/moderate?article=thread-a").text) == clean
    assert queue_ids(mira.get("/moderate?language=en").text) == [clean[1]]
    assert queue_ids(mira.get("/moderate?sort=priority").text)[0] == promo[0]
    assert queue_ids(mira.get("/moderate?sort=newest").text) == list(reversed(clean + promo))
    assert queue_ids(mira.get("/moderate?spam_at_least=0.9").text) == promo
    filtered = mira.get("/moderate?article=thread-a").text
    assert tab_count(filtered, "flagged") == 2
    assert 'href="/moderate?article=thread-a&amp;status=approved"' in filtered  # tabs keep the filter
    approved = mira.get("/moderate?status=approved").text
    assert queue_ids(approved) == [] and "Nothing approved here" in approved
    bad = mira.get("/moderate?toxicity_below=lots")
    assert bad.status_code == 422 and "A score between 0 and 1." in bad.text
    monkeypatch.setattr(queue_pages, "PER_PAGE", 2)
    first, second = mira.get("/moderate").text, mira.get("/moderate?page=2").text
    assert queue_ids(first) == clean and queue_ids(second) == promo
    assert 'href="/moderate?page=2"' in first and "Page 2 of 2" in second


def test_approve_reject_and_spam_one_comment_each(app, mira, flag_comments):
    first, second, third = flag_comments([CLEAN, ENGLISH, PROMO])
    response = submit(mira, "/moderate/actions", {"ids": first, "action": "approve", "next": "/moderate?sort=newest"})
    assert response.status_code == 303 and response.headers["Location"] == "/moderate?sort=newest"
    assert "Approved 1 comment." in mira.get("/moderate").text
    submit(mira, "/moderate/actions", {"ids": second, "action": "reject", "reason": "personal_attack"})
    submit(mira, "/moderate/actions", {"ids": third, "action": "spam"})
    assert statuses(app, [first, second, third]) == {first: "approved", second: "rejected", third: "rejected"}
    with app.extensions["sessions"]() as session:
        comments = {c.public_id: c for c in session.scalars(select(Comment))}
        assert (comments[second].reason, comments[third].reason, comments[first].decided_by) == (
            "personal_attack", "spam", "mira")
        labels = {(label.comment_id, label.check): label.value for label in session.scalars(select(Label))}
        assert labels == {(comments[first].id, "spam"): 0, (comments[first].id, "toxicity"): 0,
                          (comments[second].id, "toxicity"): 1, (comments[third].id, "spam"): 1}
    moved = events(app, actor="mira", action="transition")
    assert [(e.from_status, e.to_status, e.reason, e.batch_id) for e in moved] == [
        ("flagged", "approved", None, None), ("flagged", "rejected", "personal_attack", None),
        ("flagged", "rejected", "spam", None)]
    html = mira.get("/moderate").text
    assert queue_ids(html) == [] and tab_count(html, "approved") == 1 and tab_count(html, "rejected") == 2
    assert re.search(r"<td>poros-warta</td><td>spam</td>", html)  # the overturn table has the verdicts


def test_a_rejection_without_a_reason_changes_nothing(app, mira, flag_comments):
    comment_id = flag_comments([CLEAN])[0]
    response = submit(mira, "/moderate/actions", {"ids": comment_id, "action": "reject"}, follow_redirects=True)
    assert "A rejection needs a reason." in response.text
    assert statuses(app, [comment_id]) == {comment_id: "flagged"}


def test_a_selection_is_one_batch(app, mira, flag_comments):
    ids = flag_comments([CLEAN, ENGLISH, CALM])
    response = submit(mira, "/moderate/actions", {"ids": ids[:2], "action": "reject", "reason": "off_topic",
                                                  "next": "/moderate?article=premoderated-thread"})
    assert response.headers["Location"] == "/moderate?article=premoderated-thread"
    assert "Rejected 2 comments." in mira.get("/moderate").text
    assert statuses(app, ids) == {ids[0]: "rejected", ids[1]: "rejected", ids[2]: "flagged"}
    batch = {event.batch_id for event in events(app, actor="mira")}
    assert len(batch) == 1 and None not in batch
    again = submit(mira, "/moderate/actions", {"ids": ids, "action": "reject", "reason": "off_topic"},
                   follow_redirects=True)
    assert "Rejected 1 comment. Skipped 2: already rejected." in again.text


def test_banning_an_author(app, mira, flag_comments):
    ids = flag_comments([PROMO, CLEAN])
    submit(mira, "/moderate/actions", {"ids": ids[0], "action": "ban", "reason": "spam", "ban_days": "7"})
    with app.extensions["sessions"]() as session:
        ban = session.scalars(select(Ban)).one()
        assert ban.created_by == "mira" and ban.reason == "spam"
        assert abs(ban.expires_at - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    assert statuses(app, ids) == {ids[0]: "rejected", ids[1]: "flagged"}
    assert [event.reason for event in events(app, action="ban")] == ["spam"]
    assert "banned until" in item_html(mira.get("/moderate").text, ids[1])  # same author


def test_actions_answer_json_for_the_script(app, mira, flag_comments):
    ids = flag_comments([CLEAN, ENGLISH])
    token = csrf_token(mira.get("/moderate").text)
    response = mira.post("/moderate/actions", data={"ids": ids, "action": "approve", "next": "/moderate"},
                         headers={"Accept": "application/json", "X-CSRFToken": token})
    body = response.get_json()
    assert response.status_code == 200 and body["changed"] == ids and body["batch_id"]
    assert body["statuses"] == {ids[0]: "approved", ids[1]: "approved"}
    assert body["counts"]["flagged"] == 0 and body["counts"]["approved"] == 2
    assert body["message"] == "Approved 2 comments."
    refused = mira.post("/moderate/actions", data={"ids": ids, "action": "reject"},
                        headers={"Accept": "application/json", "X-CSRFToken": token})
    assert refused.status_code == 422 and refused.get_json()["fields"] == {"reason": refused.get_json()["fields"]["reason"]}


# -- bulk by rule --------------------------------------------------------------------------------

def test_bulk_by_rule_previews_then_applies_what_it_counted(app, mira, flag_comments):
    ids = flag_comments([CLEAN, CALM, ENGLISH], article_id="thread-a")
    flag_comments([CLEAN], article_id="thread-b")
    with app.extensions["sessions"]() as session:
        calm = {c.public_id for c in session.scalars(select(Comment).where(Comment.public_id.in_(ids)))
                if c.checks[1].score < 0.5}
    assert calm, "the benign comments score low on toxicity"
    rule = {"status": "flagged", "article": "thread-a", "toxicity_below": "0.5"}
    preview = mira.get("/moderate/bulk", query_string={**rule, "action": "approve"})
    assert preview.status_code == 200
    assert f'<strong id="preview-count">{len(calm)}</strong>' in preview.text
    assert set(queue_ids(preview.text)) == calm and 'id="bulk-confirm-form"' in preview.text
    assert set(statuses(app, ids).values()) == {"flagged"}, "a dry run changes nothing"
    applied = mira.post("/moderate/bulk", data={**rule, "action": "approve", "expect": len(calm),
                                                "csrf_token": csrf_token(preview.text)})
    assert applied.status_code == 200 and f'<dd id="outcome-changed">{len(calm)}</dd>' in applied.text
    assert {i for i, status in statuses(app, ids).items() if status == "approved"} == calm
    batch = events(app, action="bulk_approve")[0].batch_id
    assert {e.batch_id for e in events(app, actor="mira")} == {batch}
    assert f'href="/moderate/audit?batch={batch}"' in applied.text
    flag_comments([CALM + " Amin."], article_id="thread-a")  # the queue moves on under the preview
    stale = mira.post("/moderate/bulk", data={**rule, "action": "approve", "expect": len(calm),
                                              "csrf_token": csrf_token(preview.text)})
    assert stale.status_code == 409 and 'id="selection-changed"' in stale.text
    assert f"The rule now selects 1 comments, not {len(calm)}." in stale.text
    assert '<strong id="preview-count">1</strong>' in stale.text  # shown the fresh preview to confirm


def test_bulk_reject_needs_a_reason(mira, flag_comments):
    flag_comments([CLEAN])
    response = mira.get("/moderate/bulk?action=reject")
    assert response.status_code == 422 and "A rejection needs a reason." in response.text


# -- the audit log -------------------------------------------------------------------------------

def test_the_audit_log_shows_and_filters_every_transition(app, mira, flag_comments):
    ids = flag_comments([CLEAN, ENGLISH])
    submit(mira, "/moderate/actions", {"ids": ids, "action": "approve"})
    batch = events(app, actor="mira")[0].batch_id
    html = mira.get("/moderate/audit").text
    rows = re.findall(r'<tr class="audit-event[^"]*" data-event-id="(\d+)"', html)
    assert len(rows) == 4 and rows == sorted(rows, key=int, reverse=True)  # newest first
    assert "is-automated" in html and "spam-" in html and re.search(r"spam flag 0\.\d+ / reject 0\.\d+", html)
    assert "pending → flagged" in html and "flagged → approved" in html
    mine = mira.get("/moderate/audit?actor=mira").text
    assert mine.count('class="audit-event') == 2 and f'href="/moderate/audit?batch={batch}"' in mine
    assert mira.get(f"/moderate/audit?batch={batch}").text.count('class="audit-event') == 2
    one = mira.get(f"/moderate/audit?comment={ids[0]}").text
    assert one.count('class="audit-event') == 2 and ids[1] not in one
    assert mira.get("/moderate/audit?to_status=approved&actor=checks").text.count('class="audit-event') == 0
    bad = mira.get("/moderate/audit?since=yesterday")
    assert bad.status_code == 422 and "An ISO 8601 date" in bad.text


# -- admins --------------------------------------------------------------------------------------

def test_admin_pages_are_refused_to_moderators(mira, flag_comments):
    comment_id = flag_comments([CLEAN])[0]
    assert mira.get("/moderate/moderators").status_code == 403
    assert submit(mira, "/moderate/moderators", {"username": "evil", "password": "x" * 12}).status_code == 403
    assert submit(mira, f"/moderate/comments/{comment_id}/reveal-email", {}).status_code == 403
    assert "Moderators</a>" not in mira.get("/moderate").text and "Reveal email" not in mira.get("/moderate").text


def test_an_admin_manages_moderators(app, client, make_moderator):
    ayu = make_moderator("ayu", role="admin", sites=())
    log_in(client, "ayu")
    page = client.get("/moderate/moderators")
    assert page.status_code == 200
    created = submit(client, "/moderate/moderators", {"username": "budi", "password": "a long password",
                                                      "role": "moderator", "sites": ["poros-warta"]},
                     page="/moderate/moderators")
    assert created.status_code == 303
    with app.extensions["sessions"]() as session:
        budi = session.scalar(select(Moderator).where(Moderator.username == "budi"))
        assert [site.slug for site in budi.sites] == ["poros-warta"] and budi.role == "moderator"
    assert events(app, action="moderator_created")[0].details["moderator"] == "budi"
    taken = submit(client, "/moderate/moderators", {"username": "budi", "password": "a long password"},
                   page="/moderate/moderators")
    assert taken.status_code == 422 and "There is already a moderator called" in taken.text

    budi_browser = app.test_client()
    assert log_in(budi_browser, "budi", "a long password").status_code == 303
    submit(client, f"/moderate/moderators/{budi.id}", {f"m{budi.id}-role": "moderator"}, page="/moderate/moderators")
    with app.extensions["sessions"]() as session:
        assert session.get(Moderator, budi.id).sites == []
    assert events(app, action="moderator_changed")[0].details["after"]["sites"] == []

    submit(client, f"/moderate/moderators/{budi.id}/password", {f"m{budi.id}-password": "another long one"},
           page="/moderate/moderators")
    assert budi_browser.get("/moderate").status_code == 302, "a new password ends their sessions"
    assert log_in(budi_browser, "budi", "another long one").status_code == 303

    submit(client, f"/moderate/moderators/{budi.id}/deactivate", {}, page="/moderate/moderators")
    assert budi_browser.get("/moderate").status_code == 302
    assert "Wrong username or password." in log_in(budi_browser, "budi", "another long one").text
    submit(client, f"/moderate/moderators/{budi.id}/reactivate", {}, page="/moderate/moderators")
    assert log_in(budi_browser, "budi", "another long one").status_code == 303
    assert [e.action for e in events(app, actor="ayu")] == [
        "moderator_created", "moderator_changed", "password_reset", "moderator_deactivated", "moderator_reactivated"]
    own = submit(client, f"/moderate/moderators/{ayu}/deactivate", {}, page="/moderate/moderators")
    assert own.status_code == 422 and "You cannot deactivate yourself." in own.text
    demoted = submit(client, f"/moderate/moderators/{ayu}", {f"m{ayu}-role": "moderator"}, page="/moderate/moderators")
    assert demoted.status_code == 422 and "You cannot take away your own admin role." in demoted.text
    assert submit(client, "/moderate/moderators/999999/deactivate", {}, page="/moderate/moderators").status_code == 404


def test_revealing_an_email_is_for_admins_and_audited(app, client, make_moderator, flag_comments):
    comment_id = flag_comments([CLEAN])[0]
    make_moderator("ayu", role="admin", sites=())
    log_in(client, "ayu")
    queue = client.get("/moderate").text
    assert EMAIL not in queue and "Reveal email (audited)" in queue
    response = submit(client, f"/moderate/comments/{comment_id}/reveal-email", {})
    assert response.status_code == 200 and f'<p class="revealed-email" id="revealed-email">{EMAIL}</p>' in response.text
    with app.extensions["sessions"]() as session:
        revealed = session.scalars(select(AuditEvent).where(AuditEvent.action == "reveal_email")).all()
        assert [(event.actor, event.comment.public_id) for event in revealed] == [("ayu", comment_id)]
    assert submit(client, "/moderate/comments/nope/reveal-email", {}).status_code == 404


def test_a_moderator_issues_and_revokes_api_tokens(app, client, make_moderator):
    make_moderator()
    make_moderator("sari")
    log_in(client, "sari")
    issued = submit(client, "/moderate/account", {"name": "scripts"}, page="/moderate/account")
    sari_token = re.search(r'<code id="issued-token">(mt_[^<]+)</code>', issued.text).group(1)
    submit(client, "/moderate/logout", {})
    log_in(client)
    page = submit(client, "/moderate/account", {"name": "laptop"}, page="/moderate/account")
    token = re.search(r'<code id="issued-token">(mt_[^<]+)</code>', page.text).group(1)
    assert token not in client.get("/moderate/account").text, "shown once"
    with app.extensions["sessions"]() as session:
        assert moderator_for_token(session, token).username == "mira"
        token_ids = dict(session.execute(select(ModeratorToken.name, ModeratorToken.id)).all())
    others = submit(client, f"/moderate/account/tokens/{token_ids['scripts']}/revoke", {}, page="/moderate/account")
    assert others.status_code == 404, "another moderator's token"
    submit(client, f"/moderate/account/tokens/{token_ids['laptop']}/revoke", {}, page="/moderate/account")
    assert "revoked" in client.get("/moderate/account").text
    with app.extensions["sessions"]() as session:
        with pytest.raises(Unauthorized):
            moderator_for_token(session, token)
        assert moderator_for_token(session, sari_token).username == "sari"


# -- isolation, escaping, headers, CSRF ------------------------------------------------------------

def test_a_moderator_never_sees_or_touches_another_sites_comments(app, mira, flag_comments, other_site):
    ours = flag_comments([CLEAN])[0]
    theirs = other_site["id"]
    html = mira.get("/moderate").text
    assert queue_ids(html) == [ours] and tab_count(html, "flagged") == 1
    assert "kabar-lain" not in html and 'value="poros-warta"' in html  # not even as a filter choice
    assert queue_ids(mira.get("/moderate?site=kabar-lain").text) == []
    assert tab_count(mira.get("/moderate?site=kabar-lain").text, "flagged") == 0
    for status in ("pending", "approved", "rejected"):
        assert theirs not in mira.get(f"/moderate?status={status}").text
    audit = mira.get("/moderate/audit").text
    assert theirs not in audit and "kabar-lain" not in audit
    assert 'class="audit-event' not in mira.get(f"/moderate/audit?comment={theirs}").text
    for action in ("approve", "spam", "reject", "ban"):
        response = submit(mira, "/moderate/actions", {"ids": [theirs], "action": action, "reason": "spam"})
        assert response.status_code == 404 and f"No comment with id &#39;{theirs}&#39;." in response.text
        assert ENGLISH not in response.text and "other.reader" not in response.text
        mixed = submit(mira, "/moderate/actions", {"ids": [ours, theirs], "action": action, "reason": "spam"},
                       headers={"Accept": "application/json"})
        assert mixed.status_code == 404 and mixed.get_json()["error"] == "not_found"
    assert statuses(app, [ours, theirs]) == {ours: "flagged", theirs: "flagged"}
    preview = mira.get("/moderate/bulk?site=kabar-lain&action=approve").text
    assert '<strong id="preview-count">0</strong>' in preview and theirs not in preview
    applied = submit(mira, "/moderate/bulk", {"site": "kabar-lain", "action": "approve", "expect": 1})
    assert applied.status_code == 409 and statuses(app, [theirs]) == {theirs: "flagged"}
    assert submit(mira, f"/moderate/comments/{theirs}/reveal-email", {}).status_code == 403
    assert not events(app, actor="mira")


def test_an_admin_asking_for_another_comment_gets_404_not_its_content(client, make_moderator, other_site):
    make_moderator("ayu", role="admin", sites=())
    log_in(client, "ayu")
    assert other_site["id"] in client.get("/moderate").text  # admins see every site
    missing = submit(client, "/moderate/actions", {"ids": "no-such-comment", "action": "approve"})
    assert missing.status_code == 404 and "No comment with id" in missing.text


XSS = {
    "author_name": '<script>alert("name")</script>',
    "content": '<img src=x onerror=alert("content")> and <script>alert("content")</script>',
    "article_title": '<script>alert("title")</script>',
    "article_id": '<svg onload=alert("article")>',
}


def test_commenter_text_is_escaped_everywhere_in_the_workspace(app, mira, flag_comments, make_moderator):
    comment_id = flag_comments([XSS["content"]], article_id=XSS["article_id"], author_name=XSS["author_name"],
                               article_title=XSS["article_title"])[0]
    with transaction(app.extensions["sessions"]) as session:  # what the API would refuse, planted directly
        session.execute(update(Comment).where(Comment.public_id == comment_id)
                        .values(author_url="javascript:alert('url')"))
        session.execute(update(Article).values(url="javascript:alert('article url')"))
    pages = [mira.get("/moderate").text]
    submit(mira, "/moderate/bulk", {"article": XSS["article_id"], "action": "approve", "expect": 1})
    make_moderator("ayu", role="admin", sites=())
    admin = app.test_client()
    log_in(admin, "ayu")  # an admin also sees the batch's own event, which names no site
    pages.append(admin.get("/moderate/audit").text)
    pages.append(mira.get("/moderate/bulk", query_string={"article": XSS["article_id"], "action": "approve",
                                                          "status": "approved"}).text)
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html
        assert 'href="javascript:' not in html.lower()
    queue = pages[0]
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in queue
    content = re.sub(r"</?mark[^>]*>", "", re.search(r'<p class="content">(.*?)</p>', queue, re.S).group(1))
    assert content == str(escape(XSS["content"]))
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in queue
    assert '<span class="author-url">javascript:alert(&#39;url&#39;)</span>' in queue
    assert "&lt;svg onload=alert" in pages[1] or "\\u003csvg onload" in pages[1]  # the bulk rule's details


def test_every_workspace_response_carries_the_security_headers(client, mira, flag_comments):
    comment_id = flag_comments([CLEAN])[0]
    token = csrf_token(mira.get("/moderate").text)
    responses = [
        mira.get("/moderate"), mira.get("/moderate/audit"), mira.get("/moderate/account"),
        mira.get("/moderate/moderators"), mira.get("/moderate?sort=random"),
        mira.post("/moderate/actions", data={"ids": comment_id, "action": "approve"},
                  headers={"Accept": "application/json", "X-CSRFToken": token}),
        mira.post("/moderate/actions", data={"ids": comment_id, "action": "approve"}),
        client.application.test_client().get("/moderate/login"),
        mira.get("/moderate/no/such/page"),
    ]
    for response in responses:
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in responses[0].text and " style=" not in responses[0].text  # nothing inline
    assert responses[-1].status_code == 404 and "Not found" in responses[-1].text


def test_a_post_without_a_csrf_token_is_refused(app, client, mira, flag_comments):
    comment_id = flag_comments([CLEAN])[0]
    refused = mira.post("/moderate/actions", data={"ids": comment_id, "action": "approve"})
    assert refused.status_code == 400 and "security token" in refused.text
    assert statuses(app, [comment_id]) == {comment_id: "flagged"}
    as_script = mira.post("/moderate/actions", data={"ids": comment_id, "action": "approve"},
                          headers={"Accept": "application/json"})
    assert as_script.status_code == 400 and as_script.get_json()["error"] == "form_expired"
    stranger = app.test_client()
    assert stranger.post("/moderate/login", data={"username": "mira", "password": PASSWORD}).status_code == 400
    assert mira.post("/moderate/logout").status_code == 400


def test_durations_read_like_a_person_would_say_them():
    assert [queue_pages.human_duration(s) for s in (0, 45, 180, 7300, 3 * 86400)] == ["0 s", "45 s", "3 min", "2 h", "3 d"]
