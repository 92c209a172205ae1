"""Moderators' verdicts as training labels, and the overturn rate per site and model version."""
import pytest
from sqlalchemy import select

from moderation.db import transaction
from moderation.rules import judge
from moderation.labels import overturn_rates, training_rows
from moderation.queue import find_comments
from moderation.review import moderate
from moderation.sites import create_site
from moderation.tables import CheckResult, Comment, Label, Moderator

CLEAN = "Semoga banjir cepat surut dan warga mendapat bantuan yang layak."
PROMO = "SLOT GACOR hari ini m4xw1n terus! daftar sekarang di PULAUWIN88, deposit 10rb langsung jp"


def act(sessions, moderator_id, ids, action, reason=None):
    with transaction(sessions) as session:
        moderator = session.get(Moderator, moderator_id)
        moderate(session, moderator, find_comments(session, moderator, ids), action, reason)


def model_called(sessions, comment_id, check) -> bool:
    """Whether the check itself asked to flag or reject the comment."""
    with sessions() as session:
        result = session.scalar(
            select(CheckResult).join(Comment).where(Comment.public_id == comment_id, CheckResult.check == check))
        return judge(check, result) is not None


@pytest.mark.parametrize(
    "action, reason, expected",
    [
        ("approve", None, {"spam": 0, "toxicity": 0}),
        ("spam", None, {"spam": 1}),
        ("reject", "spam", {"spam": 1}),
        ("reject", "toxic", {"toxicity": 1}),
        ("reject", "personal_attack", {"toxicity": 1}),
        ("ban", "toxic", {"toxicity": 1}),
        ("reject", "off_topic", {}),
        ("reject", "illegal", {}),
    ],
)
def test_each_verdict_labels_the_checks_it_speaks_for(sessions, flag_comments, make_moderator, action, reason,
                                                      expected):
    comment_id = flag_comments([CLEAN])[0]
    act(sessions, make_moderator(), [comment_id], action, reason)
    with sessions() as session:
        assert {label.check: label.value for label in session.scalars(select(Label))} == expected


def test_a_changed_mind_replaces_the_label(sessions, flag_comments, make_moderator):
    comment_id = flag_comments([CLEAN])[0]
    moderator_id = make_moderator()
    act(sessions, moderator_id, [comment_id], "spam")
    act(sessions, moderator_id, [comment_id], "approve")
    with sessions() as session:
        labels = session.scalars(select(Label).order_by(Label.check)).all()
        assert [(label.check, label.value) for label in labels] == [("spam", 0), ("toxicity", 0)]


def test_overturn_rates_per_site_and_model_version(sessions, flag_comments, make_moderator):
    ids = flag_comments([CLEAN, PROMO, PROMO + " sekarang juga"])
    moderator_id = make_moderator()
    act(sessions, moderator_id, ids[:2], "approve")  # the promo's approval overturns the spam model
    act(sessions, moderator_id, ids[2:], "spam")  # confirms it
    expected_spam = sum([model_called(sessions, ids[0], "spam"), model_called(sessions, ids[1], "spam"),
                         not model_called(sessions, ids[2], "spam")])
    assert model_called(sessions, ids[1], "spam"), "the promo must be one the spam model calls spam"
    with sessions() as session:
        rates = {row["check"]: row for row in overturn_rates(session)}
        version = session.scalar(select(CheckResult.model_version).where(CheckResult.check == "spam"))
    assert rates["spam"]["site"] == "poros-warta" and rates["spam"]["model_version"] == version
    assert (rates["spam"]["labels"], rates["spam"]["overturned"]) == (3, expected_spam)
    assert rates["spam"]["rate"] == round(expected_spam / 3, 4)
    assert rates["toxicity"]["labels"] == 2


def test_rates_and_training_rows_stay_within_sites(sessions, flag_comments, make_moderator):
    ours = flag_comments([CLEAN])
    with transaction(sessions) as session:
        site, key = create_site(session, "kabar-lain", "Kabar Lain")
        other_site_id = site.id
    theirs = flag_comments([PROMO], auth={"Authorization": f"Bearer {key}"}, article_id="their-thread")
    admin_id = make_moderator("ayu", role="admin", sites=())
    act(sessions, admin_id, ours, "approve")
    act(sessions, admin_id, theirs, "spam")
    with sessions() as session:
        assert {row["site"] for row in overturn_rates(session)} == {"poros-warta", "kabar-lain"}
        assert {row["site"] for row in overturn_rates(session, [other_site_id])} == {"kabar-lain"}
        assert training_rows(session, "spam") == [(CLEAN, 0, "poros-warta"), (PROMO, 1, "kabar-lain")]
        assert training_rows(session, "spam", "kabar-lain") == [(PROMO, 1, "kabar-lain")]
        assert training_rows(session, "toxicity") == [(CLEAN, 0, "poros-warta")]
