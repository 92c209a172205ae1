"""The `make run` demo: its second article, the demo admin, and the 50 comments it seeds for
the flagged queue, beside the 8 published ones they reply to (moderation/demo.py,
moderation/devstack.py)."""
from collections import Counter
from datetime import timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from moderation import devstack
from moderation.db import connect, transaction
from moderation.demo import (
    DEMO_COMMENTS, DEMO_MODERATOR, FLOOD_ARTICLE, find_demo_article, seed_demo_comments, seed_demo_moderator,
)
from moderation.errors import Unauthorized
from moderation.moderators import MIN_PASSWORD, log_in, site_scope
from moderation.tables import CHECKS, Article, CheckResult, Comment, Moderator, utcnow
from moderation.text import detect_language

THREAD = f"/sites/poros-warta/articles/{FLOOD_ARTICLE.id}"


def demo_rows(app) -> list[Comment]:
    with transaction(app.extensions["sessions"]) as session:
        return session.scalars(
            select(Comment)
            .join(Article)
            .where(Article.external_id == FLOOD_ARTICLE.id)
            .options(selectinload(Comment.checks), selectinload(Comment.parent), selectinload(Comment.article))
            .order_by(Comment.id)
        ).all()


def test_the_demo_comments_mix_languages_authors_and_threads():
    languages = Counter(detect_language(comment.content) for comment in DEMO_COMMENTS)
    posts = Counter(comment.email for comment in DEMO_COMMENTS)
    keys = [comment.key for comment in DEMO_COMMENTS]
    assert len(DEMO_COMMENTS) == 58 and len(set(keys)) == 58
    assert sum(comment.published for comment in DEMO_COMMENTS) == 8
    assert languages["id"] >= 20 and languages["en"] >= 10
    assert sum(count >= 3 for count in posts.values()) >= 3  # authors with a history to show
    assert all(comment.email.split("@")[1].startswith("example.") for comment in DEMO_COMMENTS)
    assert sum(comment.url is not None for comment in DEMO_COMMENTS) >= 3
    replies = [comment for comment in DEMO_COMMENTS if comment.reply_to]
    assert len(replies) >= 5
    for reply in replies:  # a parent is published, posted before its replies, and older
        parent = keys.index(reply.reply_to)
        assert parent < keys.index(reply.key) and DEMO_COMMENTS[parent].published
        assert DEMO_COMMENTS[parent].minutes_ago > reply.minutes_ago
    assert [c.minutes_ago for c in DEMO_COMMENTS] == sorted((c.minutes_ago for c in DEMO_COMMENTS), reverse=True)


def test_seeding_posts_fifty_comments_to_a_premoderated_thread_once(app, site, redis):
    assert seed_demo_comments(app, site["slug"]) == 50
    assert seed_demo_comments(app, site["slug"]) == 0
    comments = demo_rows(app)
    assert len(comments) == 58
    assert Counter(comment.status for comment in comments) == {"pending": 50, "approved": 8}
    assert all(comment.article.premoderated for comment in comments)
    assert comments[0].article.title == FLOOD_ARTICLE.title
    for check in CHECKS:  # one job per comment and check, no more after the second call
        assert Queue(check, connection=redis).count == 50


def test_seeded_comments_are_dated_over_the_last_hours_and_replies_keep_their_parents(app, site):
    seed_demo_comments(app, site["slug"])
    by_content = {comment.content: comment for comment in demo_rows(app)}
    now = utcnow()
    for demo in DEMO_COMMENTS:
        row = by_content[demo.content]
        age = now - row.created_at
        assert timedelta(minutes=demo.minutes_ago) <= age < timedelta(minutes=demo.minutes_ago + 5)
        parent = next((c for c in DEMO_COMMENTS if c.key == demo.reply_to), None)
        assert (row.parent.content if row.parent else None) == (parent.content if parent else None)
        if row.parent:
            assert row.parent.created_at < row.created_at
    assert max(now - row.created_at for row in by_content.values()) > timedelta(hours=7)


def test_every_demo_comment_waits_flagged_with_real_scores(app, site, work):
    seed_demo_comments(app, site["slug"])
    work()
    comments = [comment for comment in demo_rows(app) if comment.status != "approved"]
    assert Counter(comment.status for comment in demo_rows(app)) == {"flagged": 50, "approved": 8}
    above = Counter()
    clean = 0
    for comment in comments:
        results = {result.check: result for result in comment.checks}
        assert set(results) == set(CHECKS)
        assert all(result.score is not None and result.model_version for result in results.values())
        crossed = {check for check, result in results.items() if result.score >= result.thresholds["flag"]}
        above.update(crossed)
        clean += not crossed
        assert comment.reasons["rules"][0] == "article_premoderated"
    assert above["spam"] >= 12  # gambling promotions, loans, crypto
    assert above["toxicity"] >= 12  # insults and personal attacks
    assert clean >= 15
    with transaction(app.extensions["sessions"]) as session:
        assert session.scalar(select(func.count()).select_from(CheckResult)) == 100


def test_the_demo_thread_has_an_article_page(client, site):
    assert find_demo_article(FLOOD_ARTICLE.id) is FLOOD_ARTICLE
    assert find_demo_article("rusia-as-dialog").id == "rusia-as-dialog"
    assert find_demo_article("no-such-article") is None
    html = client.get(THREAD).get_data(as_text=True)
    assert FLOOD_ARTICLE.title in html
    assert "kolam retensi" in html


def test_the_demo_moderator_logs_in_as_an_admin(app):
    with app.test_request_context(), transaction(app.extensions["sessions"]) as session:
        seed_demo_moderator(session, "first-demo-password")
    with app.test_request_context(), transaction(app.extensions["sessions"]) as session:
        moderator = log_in(session, DEMO_MODERATOR, "first-demo-password", "127.0.0.1")
        assert moderator.is_admin and site_scope(moderator) is None
    with app.test_request_context(), transaction(app.extensions["sessions"]) as session:
        seed_demo_moderator(session, "second-demo-password")  # dev.env was remade: follow it
    with app.test_request_context(), transaction(app.extensions["sessions"]) as session:
        with pytest.raises(Unauthorized):
            log_in(session, DEMO_MODERATOR, "first-demo-password")
    with app.test_request_context(), transaction(app.extensions["sessions"]) as session:
        assert log_in(session, DEMO_MODERATOR, "second-demo-password").username == DEMO_MODERATOR
        assert session.scalar(select(func.count()).select_from(Moderator)) == 1


def test_dev_env_keeps_one_moderator_password(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODERATION_DEMO_MODERATOR_PASSWORD", raising=False)
    first = devstack.load_dev_env()["MODERATION_DEMO_MODERATOR_PASSWORD"]
    assert len(first) >= MIN_PASSWORD
    assert f"MODERATION_DEMO_MODERATOR_PASSWORD={first}\n" in (tmp_path / "instance" / "dev.env").read_text()
    assert devstack.load_dev_env()["MODERATION_DEMO_MODERATOR_PASSWORD"] == first


def test_prepare_makes_the_whole_demo_and_can_run_again(tmp_path, monkeypatch, redis, redis_server):
    """What `make run` does before it starts the processes, on a fresh SQLite file."""
    monkeypatch.chdir(tmp_path)
    for name in ("MODERATION_DEMO_MODERATOR_PASSWORD", "MODERATION_DEMO_SITE_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = {**devstack.load_dev_env(), "MODERATION_ENV": "development", "MODERATION_DEMO_SITE": "poros-warta",
           "MODERATION_DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'saring.db'}",
           "MODERATION_REDIS_URL": redis_server.url}
    for name, value in env.items():  # prepare() exports them; monkeypatch puts them back after
        monkeypatch.setenv(name, value)
    assert devstack.prepare(env) == ("poros-warta", env["MODERATION_DEMO_SITE_KEY"])
    assert devstack.prepare(env) == ("poros-warta", env["MODERATION_DEMO_SITE_KEY"])
    sessions = connect(env["MODERATION_DATABASE_URL"])
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 58
        assert log_in(session, DEMO_MODERATOR, env["MODERATION_DEMO_MODERATOR_PASSWORD"]).is_admin
    assert Queue("spam", connection=redis).count == 50
    sessions.kw["bind"].dispose()
