"""Structured logs as an operator's log pipeline reads them: one JSON object per line, one
line per request (with its request id and comment id) and per job, and never an email or a
comment's text at INFO."""
import io
import json
import logging
import logging.config

import pytest
from rq import Queue

from moderation.logs import JsonFormatter
from moderation.tables import CHECKS
from workers.__main__ import sweep_once
from workers.runtime import Worker

EMAIL = "rahasia.sekali@example.co.id"
CONTENT = "Pak lurah harus menjelaskan ke mana dana desa itu mengalir selama tiga tahun."


@pytest.fixture
def lines(caplog):
    """Everything logged at INFO and above during the test, as the JSON lines it became."""
    caplog.set_level(logging.INFO)
    formatter = JsonFormatter()

    def read() -> list[dict]:
        formatted = [formatter.format(record) for record in caplog.records]
        assert all("\n" not in line for line in formatted if '"exception"' not in line)
        return [json.loads(line) for line in formatted]

    return read


def request_lines(entries: list[dict]) -> list[dict]:
    return [entry for entry in entries if entry["logger"] == "moderation.requests"]


def test_a_request_line_carries_its_request_id_and_comment_id(client, site, comment_payload, lines):
    posted = client.post("/api/v1/comments", json=comment_payload(), headers={**site["auth"], "X-Request-Id": "edge-42"})
    assert posted.headers["X-Request-Id"] == "edge-42"
    comment_id = posted.get_json()["id"]
    shown = client.get(f"/api/v1/comments/{comment_id}?author={EMAIL}", headers=site["auth"])
    made_up = shown.headers["X-Request-Id"]
    assert len(made_up) == 32 and made_up != "edge-42"
    first, second = request_lines(lines())
    assert first["request_id"] == "edge-42" and first["comment_id"] == comment_id
    assert (first["method"], first["path"], first["status"]) == ("POST", "/api/v1/comments", 202)
    assert first["duration_ms"] >= 0 and first["level"] == "INFO"
    assert second["path"] == f"/api/v1/comments/{comment_id}" and second["request_id"] == made_up
    assert second["comment_id"] == comment_id


def test_an_unsafe_request_id_is_replaced_and_emails_in_paths_are_masked(client, lines):
    response = client.get(f"/moderate/{EMAIL}", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert response.headers["X-Request-Id"] != "<script>alert(1)</script>"
    entry = request_lines(lines())[-1]
    assert EMAIL not in json.dumps(entry) and "[email]" in entry["path"]
    assert entry["request_id"] == response.headers["X-Request-Id"]


def test_a_page_route_logs_its_site(client, site, lines):
    client.get("/sites/poros-warta/articles/rusia-as-dialog")
    assert request_lines(lines())[-1]["site"] == "poros-warta"


def test_probes_succeeding_are_quiet_at_info(client, lines):
    client.get("/healthz")
    client.get("/metrics")
    assert request_lines(lines()) == []


def test_no_email_or_comment_text_at_info_from_a_submit_and_its_checks(client, site, comment_payload, redis, lines):
    posted = client.post("/api/v1/comments", json=comment_payload(author_email=EMAIL, content=CONTENT,
                                                                   author_name="Siti Rahma"), headers=site["auth"])
    comment_id = posted.get_json()["id"]
    Worker([Queue(check, connection=redis) for check in CHECKS], connection=redis).work(burst=True)
    redis.flushdb()  # and the sweeper finds the comment's checks lost once more
    client.post("/api/v1/comments", json=comment_payload(author_email=EMAIL, content=CONTENT + " lagi"),
                headers=site["auth"])
    sweep_once()
    entries = lines()
    jobs = [entry for entry in entries if entry["logger"] == "workers.jobs"]
    assert {(entry["queue"], entry["comment_id"], entry["outcome"]) for entry in jobs} == {
        ("spam", comment_id, "done"), ("toxicity", comment_id, "done")}
    assert all(entry["duration_ms"] >= 0 and entry["job_id"].endswith(comment_id) for entry in jobs)
    assert any(entry.get("comment_id") == comment_id for entry in request_lines(entries))  # one id ties them
    text = "\n".join(json.dumps(entry, ensure_ascii=False) for entry in entries)
    assert EMAIL not in text and "rahasia" not in text
    assert "dana desa" not in text and CONTENT[:20] not in text


def test_a_failed_job_logs_its_error_at_warning(redis, lines):
    Queue("spam", connection=redis).enqueue("workers.checks.check_spam", "abc", "surplus", job_id="spam-broken")
    Worker([Queue("spam", connection=redis)], connection=redis).work(burst=True)
    failed = [entry for entry in lines() if entry["logger"] == "workers.jobs"]
    assert [(entry["outcome"], entry["level"], entry["comment_id"]) for entry in failed] == [("failed", "WARNING", "abc")]
    assert failed[0]["error"].startswith("TypeError")


def test_gunicorn_can_name_the_formatter_in_its_logconfig_dict():
    stream = io.StringIO()
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "moderation.logs.JsonFormatter"}},
        "handlers": {"error": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}},
        "loggers": {"tests.gunicorn.error": {"handlers": ["error"], "level": "INFO", "propagate": False}},
    })
    logging.getLogger("tests.gunicorn.error").info("Booting worker with pid: %s", 4242)
    entry = json.loads(stream.getvalue())
    assert entry["message"] == "Booting worker with pid: 4242" and entry["level"] == "INFO"
