"""The audit log: every transition, by the checks or a moderator, filterable and scoped."""
import pytest

from moderation.audit import AuditFilter, describe_event, list_events, site_slugs
from moderation.db import transaction
from moderation.errors import InvalidFields
from moderation.queue import find_comments
from moderation.review import moderate
from moderation.sites import create_site
from moderation.tables import Moderator

CLEAN = "Semoga banjir cepat surut dan warga mendapat bantuan yang layak."


@pytest.fixture
def history(sessions, flag_comments, make_moderator):
    """Two comments flagged by the checks on poros-warta, one on another site; the
    moderator approves the first two as one batch."""
    ours = flag_comments([CLEAN, CLEAN + " Amin."])
    with transaction(sessions) as session:
        _, key = create_site(session, "kabar-lain", "Kabar Lain")
    theirs = flag_comments([CLEAN], auth={"Authorization": f"Bearer {key}"}, article_id="their-thread")
    moderator_id = make_moderator()
    with transaction(sessions) as session:
        moderator = session.get(Moderator, moderator_id)
        outcome = moderate(session, moderator, find_comments(session, moderator, ours), "approve")
    return {"ours": ours, "theirs": theirs, "moderator": moderator_id, "batch": outcome.batch_id}


def events(sessions, moderator_id, **filters):
    with sessions() as session:
        found, total = list_events(session, session.get(Moderator, moderator_id), AuditFilter(**filters))
        slugs = site_slugs(session)
        return [describe_event(event, slugs) for event in found], total


def test_every_transition_is_in_the_log_newest_first(sessions, history):
    shown, total = events(sessions, history["moderator"])
    assert total == 4  # two by the checks, two by the moderator; none of the other site
    assert [(e["actor"], e["from_status"], e["to_status"]) for e in shown] == [
        ("mira", "flagged", "approved"), ("mira", "flagged", "approved"),
        ("checks", "pending", "flagged"), ("checks", "pending", "flagged")]
    assert {e["site"] for e in shown} == {"poros-warta"}


def test_automated_events_carry_model_versions_and_thresholds(sessions, history):
    automated, _ = events(sessions, history["moderator"], actor="checks")
    event = automated[0]
    assert event["automated"] and event["rule"] == "article_premoderated"
    assert event["model_versions"]["spam"].startswith("spam-")
    assert set(event["thresholds"]["toxicity"]) >= {"flag", "reject"}
    by_moderator, _ = events(sessions, history["moderator"], actor="mira")
    assert by_moderator[0]["details"]["moderator_id"] == history["moderator"]
    assert by_moderator[0]["model_versions"] is None


def test_the_log_filters_by_batch_comment_status_and_time(sessions, history):
    assert events(sessions, history["moderator"], batch=history["batch"])[1] == 2
    only, total = events(sessions, history["moderator"], comment=history["ours"][0])
    assert total == 2 and {e["comment_id"] for e in only} == {history["ours"][0]}
    assert events(sessions, history["moderator"], to_status="approved")[1] == 2
    assert events(sessions, history["moderator"], **AuditFilter.from_args({"since": "2100-01-01"}).__dict__)[1] == 0
    assert events(sessions, history["moderator"], site="kabar-lain")[1] == 0  # not theirs to read
    assert events(sessions, history["moderator"], comment=history["theirs"][0])[1] == 0


def test_an_admin_reads_every_site(sessions, history, make_moderator):
    admin_id = make_moderator("ayu", role="admin", sites=())
    assert events(sessions, admin_id)[1] == 5
    assert events(sessions, admin_id, site="kabar-lain")[1] == 1


def test_bad_audit_filters_are_field_errors():
    with pytest.raises(InvalidFields) as error:
        AuditFilter.from_args({"since": "last tuesday", "actor": "x" * 300})
    assert set(error.value.fields) == {"since", "actor"}
