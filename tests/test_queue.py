"""The moderators' queue: what each moderator sees, filtered and explained, against real
comments decided by the real checks."""
import re

import pytest
from sqlalchemy import select

from conftest import as_moderator
from moderation import queue
from moderation.db import transaction
from moderation.errors import CommentNotFound, InvalidFields
from moderation.queue import QueueFilter, find_comment, list_queue
from moderation.review import moderate
from moderation.sites import create_site
from moderation.tables import Comment

CLEAN = "Semoga banjir cepat surut dan warga mendapat bantuan yang layak."
ENGLISH = "Thank you for the clear reporting on the flood relief plan."
PROMO = "SLOT GACOR hari ini m4xw1n terus! daftar sekarang di PULAUWIN88, deposit 10rb langsung jp"
INSULT = "dasar goblok lu, otak udang, mending diam saja"


def test_premoderated_comments_are_flagged_with_scores_and_a_priority(sessions, flag_comments):
    ids = flag_comments([CLEAN, PROMO])
    with sessions() as session:
        comments = session.scalars(select(Comment).where(Comment.public_id.in_(ids))).all()
        assert {comment.status for comment in comments} == {"flagged"}
        assert all(comment.reasons["rules"][0] == "article_premoderated" for comment in comments)
        assert all(len(comment.checks) == 2 and comment.priority is not None for comment in comments)
        by_id = {comment.public_id: comment for comment in comments}
        assert by_id[ids[1]].priority > by_id[ids[0]].priority  # the gambling promo is worse


def test_the_queue_filters_sorts_and_pages(sessions, flag_comments, make_moderator):
    clean_ids = flag_comments([CLEAN, ENGLISH], article_id="thread-a")
    promo_ids = flag_comments([PROMO], article_id="thread-b")
    moderator_id = make_moderator()
    with sessions() as session:
        moderator = as_moderator(session, moderator_id)
        comments, total = list_queue(session, moderator, QueueFilter())
        assert total == 3 and [c.public_id for c in comments] == clean_ids + promo_ids  # oldest first
        comments, _ = list_queue(session, moderator, QueueFilter(sort="priority"))
        assert comments[0].public_id == promo_ids[0]
        comments, total = list_queue(session, moderator, QueueFilter(article="thread-a"))
        assert total == 2
        comments, total = list_queue(session, moderator, QueueFilter(language="en"))
        assert [c.public_id for c in comments] == [clean_ids[1]]
        spam_flag = comments[0].checks[0].thresholds["flag"]
        _, total = list_queue(session, moderator, QueueFilter(spam_at_least=spam_flag))
        assert total == 1
        _, total = list_queue(session, moderator, QueueFilter(status="approved"))
        assert total == 0
        comments, total = list_queue(session, moderator, QueueFilter(), page=2, per_page=2)
        assert total == 3 and [c.public_id for c in comments] == promo_ids
        assert queue.count_statuses(session, moderator, QueueFilter()) == {
            "pending": 0, "approved": 0, "flagged": 3, "rejected": 0, "withdrawn": 0}


@pytest.mark.parametrize(
    "args, field",
    [({"status": "deleted"}, "status"), ({"sort": "random"}, "sort"), ({"toxicity_below": "lots"}, "toxicity_below"),
     ({"spam_at_least": "1.5"}, "spam_at_least")],
)
def test_bad_filters_are_field_errors(args, field):
    with pytest.raises(InvalidFields) as error:
        QueueFilter.from_args(args)
    assert field in error.value.fields


def test_a_moderator_sees_only_their_sites(app, sessions, flag_comments, make_moderator, comment_payload):
    ours = flag_comments([CLEAN])
    with transaction(sessions) as session:
        _, other_key = create_site(session, "kabar-lain", "Kabar Lain")
    theirs = flag_comments([ENGLISH], auth={"Authorization": f"Bearer {other_key}"}, article_id="their-thread")
    mine, admin = make_moderator(), make_moderator("ayu", role="admin", sites=())
    with sessions() as session:
        moderator = as_moderator(session, mine)
        comments, total = list_queue(session, moderator, QueueFilter())
        assert [c.public_id for c in comments] == ours and total == 1
        assert list_queue(session, moderator, QueueFilter(site="kabar-lain"))[1] == 0
        with pytest.raises(CommentNotFound):
            find_comment(session, moderator, theirs[0])
        assert list_queue(session, as_moderator(session, admin), QueueFilter())[1] == 2


def test_describe_shows_why_a_comment_was_held(app, sessions, flag_comments, make_moderator, client, site,
                                               comment_payload):
    parent_id = flag_comments([CLEAN])[0]
    moderator_id = make_moderator()
    with transaction(sessions) as session:  # only a published comment can be replied to
        moderate(session, as_moderator(session, moderator_id), [find_comment(session, as_moderator(
            session, moderator_id), parent_id)], "approve")
    reply_id = flag_comments([PROMO], parent_id=parent_id)[0]
    vault = app.extensions["vault"]
    with sessions() as session:
        moderator = as_moderator(session, moderator_id)
        view = queue.describe(session, moderator, find_comment(session, moderator, reply_id), vault)
    assert view["parent"]["id"] == parent_id and view["parent"]["content"] == CLEAN
    assert view["article"]["id"] == "premoderated-thread"
    assert view["author_email"] == "b***o@e***.co.id"
    assert view["author_history"] == {"pending": 0, "approved": 1, "flagged": 1, "rejected": 0, "withdrawn": 0}
    assert "".join(text for text, _ in view["highlights"]) == PROMO
    marked = [text.lower() for text, weight in view["highlights"] if weight]
    assert {"slot", "gacor", "m4xw1n"} <= set(marked) <= set(re.findall(r"\w+", PROMO.lower()))
    assert view["scores"]["spam"] > view["checks"]["spam"]["thresholds"]["flag"]
    assert set(view["checks"]["toxicity"]["attributes"]) >= {"abusive", "insult"}
    assert view["seconds_in_queue"] >= 0 and view["reasons"]["rule"] == "article_premoderated"


def test_highlight_marks_words_as_the_model_saw_them():
    runs = queue.highlight("Main SL0T gacor, bukan slot biasa!", {"slot": 1.2, "gacor": 0.8})
    assert runs == [("Main ", None), ("SL0T", 1.2), (" ", None), ("gacor", 0.8), (", bukan ", None),
                    ("slot", 1.2), (" biasa!", None)]
    assert queue.highlight("tanpa kata", {}) == [("tanpa kata", None)]

