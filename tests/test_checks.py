"""The check jobs through a real RQ worker: one decision per comment, retries harmless,
a check that keeps failing follows the fail policy."""
import pytest
from rq import Queue
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

import workers.runtime
from moderation.tables import AuditEvent, CheckResult, Comment
from workers.checks import check_spam, check_toxicity

BENIGN = "Perundingan seperti ini perlu waktu, semoga kedua pihak tetap berdialog."


def submit(client, site, comment_payload, **overrides) -> str:
    return client.post("/api/v1/comments", json=comment_payload(**overrides), headers=site["auth"]).get_json()["id"]


def audit_events(app, comment_id):
    with app.extensions["sessions"]() as session:
        return session.scalars(
            select(AuditEvent).join(Comment, AuditEvent.comment_id == Comment.id).where(Comment.public_id == comment_id)
        ).all()


def test_jobs_carry_only_the_comment_id(client, site, comment_payload, redis):
    comment_id = submit(client, site, comment_payload)
    for check in ("spam", "toxicity"):
        [job] = Queue(check, connection=redis).get_jobs()
        assert job.args == (comment_id,) and job.kwargs == {}
        assert job.id == f"{check}-{comment_id}"


def test_decision_is_taken_once_and_rerunning_jobs_changes_nothing(app, client, site, comment_payload, work):
    comment_id = submit(client, site, comment_payload, content=BENIGN)
    work()
    [event] = audit_events(app, comment_id)
    assert (event.actor, event.from_status, event.to_status) == ("checks", "pending", "approved")
    assert event.details["model_versions"].keys() == {"spam", "toxicity"}
    assert check_spam(comment_id) == {"skipped": "approved"}
    assert check_toxicity(comment_id) == {"skipped": "approved"}
    assert len(audit_events(app, comment_id)) == 1


def test_a_duplicate_result_is_not_recorded_twice(app, client, site, comment_payload):
    comment_id = submit(client, site, comment_payload, content=BENIGN)
    first = check_spam(comment_id)
    again = check_spam(comment_id)
    assert first["recorded"] and not first["decided"]
    assert not again["recorded"] and not again["decided"]
    assert check_toxicity(comment_id)["decided"]
    with app.extensions["sessions"]() as session:
        assert session.scalar(select(func.count()).select_from(CheckResult)) == 2


class BrokenModel:
    """A model whose scoring always raises: a check that keeps failing."""

    version, thresholds, attribute_thresholds = "broken-1", {"flag": 0.5, "reject": 0.9}, {}

    def score(self, content, *, author_name=None, author_url=None):
        raise RuntimeError("model exploded")


def test_a_check_that_keeps_failing_flags_the_comment_for_a_human(app, client, site, comment_payload, work, redis, settings):
    workers.runtime.configure(settings, models={"spam": BrokenModel()})
    comment_id = submit(client, site, comment_payload, content=BENIGN)
    work()
    assert FailedJobRegistry("spam", connection=redis).get_job_ids() == [f"spam-{comment_id}"]
    body = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
    assert body["status"] == "flagged" and body["reason"] == "check_failed"
    assert body["reasons"]["checks"]["spam"] == {"error": "RuntimeError after retries", "policy": "fail_closed"}
    assert body["scores"]["toxicity"] is not None
    assert len(audit_events(app, comment_id)) == 1


@pytest.mark.parametrize(
    "content, allowed",
    [
        (BENIGN, {"approved"}),
        ("Dasar goblok, otak udang, mending kau diam saja anjing", {"flagged", "rejected"}),
        ("You are a pathetic idiot and a worthless piece of trash", {"flagged", "rejected"}),
    ],
)
def test_toxic_comments_are_held(client, site, comment_payload, work, content, allowed):
    comment_id = submit(client, site, comment_payload, content=content)
    work()
    body = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
    assert body["status"] in allowed, body["reasons"]


def test_workers_load_the_models_of_models_dir(app, settings, client, site, comment_payload, work, tmp_path):
    """A site that retrained on its moderators' labels points the workers at its own artifacts."""
    import dataclasses
    import json
    import shutil

    from models.scoring import ARTIFACTS

    for check in ("spam", "toxicity"):
        shutil.copy(ARTIFACTS / f"{check}.skops", tmp_path)
        card = json.loads((ARTIFACTS / f"{check}.json").read_text())
        (tmp_path / f"{check}.json").write_text(json.dumps({**card, "version": f"{check}-site-retrained"}))
    workers.runtime.configure(dataclasses.replace(settings, models_dir=str(tmp_path)))
    comment_id = submit(client, site, comment_payload, content=BENIGN)
    work()
    body = client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()
    assert body["model_versions"] == {"spam": "spam-site-retrained", "toxicity": "toxicity-site-retrained"}
