"""The Perspective-compatible API (moderation/perspective.py), reached as a Coral Talk site
reaches it: nginx (deploy/nginx.conf, when installed) in front of gunicorn with two workers,
and one `python -m workers toxicity` process, started with docker-compose.yml's commands
(tests/stack.py), against a fresh database (SQLite, then PostgreSQL) and the tests'
redis-server. An analyze request waits for a real worker's answer, so every score below
comes from the committed toxicity model.

- Coral's exact request bodies (analyze with TOXICITY or SEVERE_TOXICITY, suggestscore as a
  moderator approves or rejects) and Perspective's full shape, checking every field a client
  reads; a suggested score becomes the site's toxicity training label.
- Bad input in Google's error shape with Perspective's status codes; the site's quota (429).
- No live worker, or a worker that does not answer: 503 within the site's time budget; a
  text whose scoring outlasts the budget leaves nothing in Redis once the worker is done.
- The analyzed text and the API key are kept nowhere: Redis, the database, the logs of
  gunicorn, the worker and nginx, /metrics.
- A small Perspective client (tests/perspective_client.py), written against the public
  protocol only, works end to end.

One stack per database, shared by the tests in file order; the tests that stop the worker
come last and start it again after them (the file takes about 40 s)."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import NamedTuple

import pytest
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session

from conftest import free_port, skip_or_fail
from moderation.db import connect, transaction
from moderation.labels import training_rows
from moderation.migrate import upgrade_database
from moderation.policy import parse_policy, set_policy
from moderation.sites import create_site
from perspective_client import PerspectiveClient, PerspectiveFailed
from stack import Processes, compose_env, fetch, private_postgres, render_nginx, service_argv, start_web, wait_for

SITE, QUOTA_SITE = "poros-warta", "kuota-kecil"
ENDPOINT = "/perspective/v1alpha1"  # what a Coral admin pastes, after the host
BUDGET = 0.25  # seconds: the default perspective.time_budget_ms
MARGIN = 1.0  # seconds a 503 may take past the budget here (process scheduling, a loaded CI machine)
QUOTA = 2  # analyze requests a minute for QUOTA_SITE
STORY = "https://poroswarta.example/dialog-rusia-as"
TENANT = "https://komentar.poroswarta.example"
TOXIC_EN = "You are a fucking idiot, shut up you stupid moron."
BENIGN_EN = "Thanks for the balanced reporting, both sides are quoted."
TOXIC_ID = "Dasar goblok lu, otak udang, nggak usah komentar di sini."
BENIGN_ID = "Semoga dialog kedua negara membawa perdamaian yang nyata."
SCORED = ("TOXICITY", "SEVERE_TOXICITY", "INSULT", "PROFANITY", "IDENTITY_ATTACK")
DETAIL_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
WITH_KEY = object()  # post(): the site's key as ?key=


class Answer(NamedTuple):
    status: int
    headers: Message
    body: dict
    raw: bytes


def send(url: str, method: str = "POST", body: dict | None = None, raw: bytes | None = None,
         headers: dict | None = None, timeout: float = 10) -> Answer:
    """One HTTP request; the status, headers and JSON answer, also of an error."""
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer_headers, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, payload = error.code, error.headers, error.read()
    return Answer(status, answer_headers, json.loads(payload) if payload else {}, payload)


def coral_analyze(text: str, model: str = "TOXICITY", language: str = "en") -> dict:
    """Coral Talk's analyze body, exactly (services/perspective/perspective.ts, formatBody)."""
    return {"comment": {"text": text}, "doNotStore": True, "requestedAttributes": {model: {}},
            "languages": [language]}


def coral_suggestion(text: str, comment_id: str, approved: bool, model: str = "TOXICITY",
                     parent_id: str | None = None) -> dict:
    """Coral Talk's suggestscore body, exactly: its context entry is a JSON string (with no
    reply_to_id_Coral_comment_id for a top-level comment: JSON.stringify drops undefined)."""
    context = {"url": f"{STORY}?commentID={comment_id}", "reply_to_id_Coral_comment_id": parent_id,
               "Coral_comment_id": comment_id}
    return {
        "comment": {"text": text},
        "context": {"entries": [{"text": json.dumps({k: v for k, v in context.items() if v is not None})}]},
        "attributeScores": {model: {"summaryScore": {"value": 0 if approved else 1}}},
        "languages": ["en"],
        "communityId": f"Coral:{TENANT}",
        "clientToken": f"comment:{comment_id}",
    }


@dataclass
class Stack:
    processes: Processes
    env: dict
    directory: Path
    base: str  # what clients reach: nginx in front of gunicorn (gunicorn itself without nginx)
    nginx: Path | None  # nginx's directory: its config and logs
    database_url: str
    key: str
    quota_key: str
    redis: Redis

    def post(self, operation: str, body: dict | None = None, key=WITH_KEY, **options) -> Answer:
        """POST to /perspective/v1alpha1/<operation>?key=<key> (no query string: key=None)."""
        key = self.key if key is WITH_KEY else key
        query = "" if key is None else "?" + urllib.parse.urlencode({"key": key})
        return send(f"{self.base}{ENDPOINT}/{operation}{query}", body=body, **options)

    def analyze(self, body: dict, **options) -> Answer:
        return self.post("comments:analyze", body, **options)

    def worker(self):
        """The toxicity worker's RQ registration (None: not registered)."""
        pid = self.processes.running["toxicity"].pid
        return next((worker for worker in Worker.all(connection=self.redis) if worker.name.endswith(f".{pid}")),
                    None)

    def start_worker(self) -> None:
        """`python -m workers toxicity`; returns once it has scored a text."""
        self.processes.start("toxicity", service_argv("toxicity"), self.env)
        wait_for(lambda: self.processes.check_alive() or self.worker(), 60,
                 lambda: f"the toxicity worker did not register:\n{self.processes.tail('toxicity')}")
        wait_for(lambda: self.analyze(coral_analyze(BENIGN_EN)).status == 200, 10,
                 lambda: f"the toxicity worker does not answer:\n{self.processes.logs()}")

    def engine(self):
        return create_engine(self.database_url)


@contextlib.contextmanager
def fresh_database(kind: str, directory: Path):
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'saring.db'}"
    else:
        with private_postgres("saring_perspective") as url:
            yield url


def make_sites(database_url: str) -> tuple[str, str]:
    """Migrate; the demo site (default policy) and a site whose policy allows QUOTA analyze
    requests a minute; their keys."""
    upgrade_database(database_url)
    sessions = connect(database_url)
    with transaction(sessions) as session:
        _, key = create_site(session, SITE, "Poros Warta")
        small, quota_key = create_site(session, QUOTA_SITE, "Kuota Kecil")
        set_policy(session, small, parse_policy({"perspective": {"quota_per_minute": QUOTA}}), "tests")
    sessions.kw["bind"].dispose()
    return key, quota_key


def answers(url: str) -> bool:
    try:
        return fetch(url)[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory, redis_server):
    directory = tmp_path_factory.mktemp(f"perspective-{request.param}")
    # nginx's workers (nobody) write large bodies and answers under its directory: not in
    # pytest's private one
    nginx = Path(tempfile.mkdtemp(prefix="saring-perspective-nginx-")) if shutil.which("nginx") else None
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()  # no earlier file's jobs or workers; none of this file's processes runs yet
    try:
        with fresh_database(request.param, directory) as database_url, Processes(directory) as processes:
            key, quota_key = make_sites(database_url)
            env = compose_env(MODERATION_DATABASE_URL=database_url, MODERATION_REDIS_URL=redis_server.url,
                              MODERATION_LOG_LEVEL="DEBUG")  # the most a log could say
            base = web = start_web(processes, env, directory)
            if nginx:
                port = free_port()
                config = render_nginx(nginx, web.removeprefix("http://"), port)
                processes.start("nginx", ["nginx", "-p", str(nginx), "-c", str(config)], env)
                base = f"http://127.0.0.1:{port}"
            wait_for(lambda: processes.check_alive() or answers(base + "/healthz"), 30,
                     lambda: f"gunicorn did not answer:\n{processes.logs()}")
            running = Stack(processes, env, directory, base, nginx, database_url, key, quota_key, redis)
            running.start_worker()
            yield running
    finally:
        redis.close()
        if nginx:
            shutil.rmtree(nginx, ignore_errors=True)


@pytest.fixture
def worker_restored(stack: Stack):
    """The toxicity worker, running and registered again after the test."""
    yield stack
    if stack.processes.running["toxicity"].poll() is not None:
        stack.start_worker()


def assert_google_error(answer: Answer, status: int, google_status: str, error_type: str | None = None) -> dict:
    """Google's error shape: {"error": {"code", "message", "status"[, "details"]}}."""
    assert answer.status == status, answer.body
    assert answer.headers.get_content_type() == "application/json"
    assert list(answer.body) == ["error"], answer.body
    error = answer.body["error"]
    assert error["code"] == status and error["status"] == google_status, error
    assert isinstance(error["message"], str) and error["message"], error
    if error_type:
        assert error["details"] == [{"@type": DETAIL_TYPE, "errorType": error_type}], error
    else:
        assert "details" not in error, error
    return error


def assert_probability(score: dict) -> float:
    assert set(score) == {"value", "type"} and score["type"] == "PROBABILITY", score
    assert isinstance(score["value"], float) and 0 <= score["value"] <= 1, score
    return score["value"]


# -- analyze: Coral's bodies and Perspective's full shape ---------------------------------------


@pytest.mark.parametrize("model", ["TOXICITY", "SEVERE_TOXICITY"])
def test_coral_analyze_scores_toxic_english_over_benign(stack: Stack, model: str):
    scores = {}
    for name, comment in (("toxic", TOXIC_EN), ("benign", BENIGN_EN)):
        answer = stack.analyze(coral_analyze(comment, model))
        assert answer.status == 200, answer.body
        assert answer.headers.get_content_type() == "application/json"
        assert set(answer.body) == {"attributeScores", "languages", "detectedLanguages"}, answer.body  # no clientToken
        assert list(answer.body["attributeScores"]) == [model]
        attribute = answer.body["attributeScores"][model]
        assert set(attribute) == {"summaryScore", "spanScores"}
        scores[name] = assert_probability(attribute["summaryScore"])  # what Coral reads
        assert attribute["spanScores"] == [{"begin": 0, "end": len(comment), "score": attribute["summaryScore"]}]
        assert answer.body["languages"] == answer.body["detectedLanguages"] == ["en"]
    assert scores["toxic"] > scores["benign"], scores
    assert scores["toxic"] > 0.5 > scores["benign"], scores  # either side of a Coral threshold


def test_indonesian_sent_with_the_hint_en_is_detected_as_indonesian(stack: Stack):
    """Coral sends "en" for every locale it cannot map, Indonesian included."""
    scores = {}
    for name, comment in (("toxic", TOXIC_ID), ("benign", BENIGN_ID)):
        answer = stack.analyze(coral_analyze(comment, language="en"))
        assert answer.status == 200, answer.body
        assert answer.body["detectedLanguages"] == ["id"] and answer.body["languages"] == ["id"], answer.body
        scores[name] = assert_probability(answer.body["attributeScores"]["TOXICITY"]["summaryScore"])
    assert scores["toxic"] > scores["benign"], scores


def test_perspective_full_shape_with_span_annotations_and_client_token(stack: Stack):
    sentences = ["Thanks for the article.", "You are a fucking idiot!", "Could you link the report?"]
    comment = "  ".join(sentences)
    answer = stack.analyze({
        "comment": {"text": comment}, "requestedAttributes": {name: {} for name in SCORED}, "languages": ["en"],
        "doNotStore": True, "spanAnnotations": True, "clientToken": "token-42",
    })
    assert answer.status == 200, answer.body
    assert answer.body["clientToken"] == "token-42"
    assert answer.body["languages"] == answer.body["detectedLanguages"] == ["en"]
    assert set(answer.body["attributeScores"]) == set(SCORED)
    for name, attribute in answer.body["attributeScores"].items():
        assert_probability(attribute["summaryScore"])
        spans = attribute["spanScores"]
        assert [comment[span["begin"]:span["end"]] for span in spans] == sentences, (name, spans)
        assert all(0 <= span["begin"] < span["end"] <= len(comment) and set(span) == {"begin", "end", "score"}
                   for span in spans)
        for span in spans:
            assert_probability(span["score"])
    toxicity = [span["score"]["value"] for span in answer.body["attributeScores"]["TOXICITY"]["spanScores"]]
    assert max(toxicity) == toxicity[1], toxicity  # the insult is the most toxic sentence


def test_score_threshold_leaves_out_an_attribute_under_it(stack: Stack):
    body = {"comment": {"text": BENIGN_EN}, "requestedAttributes": {"TOXICITY": {}, "INSULT": {}}}
    first = stack.analyze(body)
    assert first.status == 200, first.body
    toxicity = first.body["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    insult = first.body["attributeScores"]["INSULT"]["summaryScore"]["value"]
    assert toxicity < 0.95, toxicity
    body["requestedAttributes"] = {"TOXICITY": {"scoreThreshold": toxicity + 0.05},
                                   "INSULT": {"scoreThreshold": max(0, insult - 0.000001)}}  # the answer is rounded
    second = stack.analyze(body)
    assert second.status == 200, second.body
    assert list(second.body["attributeScores"]) == ["INSULT"], second.body
    assert second.body["attributeScores"]["INSULT"]["summaryScore"]["value"] == insult
    body["requestedAttributes"] = {"TOXICITY": {"scoreThreshold": 1}}
    none = stack.analyze(body)
    assert none.status == 200 and none.body["attributeScores"] == {}, none.body


def test_a_text_of_exactly_20480_bytes_is_scored(stack: Stack):
    comment = ("é" * 10) + "a" * (20480 - 20)  # 20 bytes of two-byte letters, then one-byte ones
    assert len(comment.encode()) == 20480
    answer = stack.analyze(coral_analyze(comment))
    assert answer.status == 200, answer.body
    assert_probability(answer.body["attributeScores"]["TOXICITY"]["summaryScore"])


def test_the_key_may_come_as_a_bearer_header(stack: Stack):
    answer = stack.analyze(coral_analyze(BENIGN_EN), key=None, headers={"Authorization": f"Bearer {stack.key}"})
    assert answer.status == 200, answer.body


# -- suggestscore: a moderator's verdict becomes a training label -------------------------------


def suggested_rows(stack: Stack, comment_id: str) -> list[dict]:
    engine = stack.engine()
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(text(
                "select s.slug as site, g.attribute, g.value, g.label, g.content, g.external_id, g.url, "
                "g.community_id from suggested_scores g join sites s on s.id = g.site_id "
                "where g.external_id = :id order by g.id"), {"id": comment_id})]
    finally:
        engine.dispose()


def labels(stack: Stack, check: str, site: str | None = None) -> list[tuple]:
    engine = stack.engine()
    try:
        with Session(engine) as session:
            return training_rows(session, check, site)
    finally:
        engine.dispose()


@pytest.mark.parametrize("model", ["TOXICITY", "SEVERE_TOXICITY"])
def test_coral_suggestscore_stores_the_verdict_as_a_toxicity_label(stack: Stack, model: str):
    comment_id = f"coral-{uuid.uuid4().hex[:12]}"
    comment = f"Pendapat kamu bodoh sekali, baca dulu beritanya ({comment_id})."
    approved = stack.post("comments:suggestscore", coral_suggestion(comment, comment_id, True, model, "coral-parent"))
    assert approved.status == 200 and approved.body == {"clientToken": f"comment:{comment_id}"}, approved.body
    row = {"site": SITE, "attribute": model, "content": comment, "external_id": comment_id,
           "url": f"{STORY}?commentID={comment_id}", "community_id": f"Coral:{TENANT}"}
    assert suggested_rows(stack, comment_id) == [{**row, "value": 0.0, "label": 0}]
    assert (comment, 0, SITE) in labels(stack, "toxicity")

    # The moderator changes their mind: the second suggestion replaces the first.
    rejected = stack.post("comments:suggestscore", coral_suggestion(comment, comment_id, False, model))
    assert rejected.status == 200 and rejected.body == {"clientToken": f"comment:{comment_id}"}, rejected.body
    assert suggested_rows(stack, comment_id) == [{**row, "value": 1.0, "label": 1}]
    toxicity = labels(stack, "toxicity")
    assert (comment, 1, SITE) in toxicity and (comment, 0, SITE) not in toxicity
    assert (comment, 1, SITE) in labels(stack, "toxicity", SITE)
    assert all(content != comment for content, _, _ in labels(stack, "toxicity", QUOTA_SITE))
    assert all(content != comment for content, _, _ in labels(stack, "spam"))


def test_a_suggestion_without_a_client_token_answers_an_empty_object(stack: Stack):
    body = coral_suggestion("Artikel yang bagus.", f"coral-{uuid.uuid4().hex[:12]}", True)
    del body["clientToken"]
    answer = stack.post("comments:suggestscore", body)
    assert answer.status == 200 and answer.body == {}, answer.body


# -- errors in Google's shape -------------------------------------------------------------------

ANALYZE = {"comment": {"text": BENIGN_EN}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}
ANALYZE_ERRORS = {  # name: (body, or raw bytes; status; Google's status; Perspective's errorType)
    "missing comment": ({"requestedAttributes": {"TOXICITY": {}}}, 400, "INVALID_ARGUMENT", "COMMENT_EMPTY"),
    "comment not an object": ({**ANALYZE, "comment": "hai"}, 400, "INVALID_ARGUMENT", None),
    "text not a string": ({**ANALYZE, "comment": {"text": 42}}, 400, "INVALID_ARGUMENT", None),
    "empty text": ({**ANALYZE, "comment": {"text": ""}}, 400, "INVALID_ARGUMENT", "COMMENT_EMPTY"),
    "blank text": ({**ANALYZE, "comment": {"text": " \n\t "}}, 400, "INVALID_ARGUMENT", "COMMENT_EMPTY"),
    "text over 20480 bytes": ({**ANALYZE, "comment": {"text": "a" * 20481}}, 400, "INVALID_ARGUMENT",
                              "COMMENT_TOO_LONG"),
    "over 20480 bytes in fewer characters": ({**ANALYZE, "comment": {"text": "é" * 10241}}, 400, "INVALID_ARGUMENT",
                                             "COMMENT_TOO_LONG"),
    "unknown attribute": ({**ANALYZE, "requestedAttributes": {"NOT_AN_ATTRIBUTE": {}}}, 400, "INVALID_ARGUMENT", None),
    "THREAT": ({**ANALYZE, "requestedAttributes": {"TOXICITY": {}, "THREAT": {}}}, 400, "INVALID_ARGUMENT",
               "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"),
    "no attribute": ({**ANALYZE, "requestedAttributes": {}}, 400, "INVALID_ARGUMENT", None),
    "attributes as a list": ({**ANALYZE, "requestedAttributes": ["TOXICITY"]}, 400, "INVALID_ARGUMENT", None),
    "score threshold over 1": ({**ANALYZE, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 1.5}}}, 400,
                               "INVALID_ARGUMENT", None),
    "language fr": ({**ANALYZE, "languages": ["fr"]}, 400, "INVALID_ARGUMENT", "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"),
    "languages a string": ({**ANALYZE, "languages": "en"}, 400, "INVALID_ARGUMENT", None),
    "doNotStore a string": ({**ANALYZE, "doNotStore": "yes"}, 400, "INVALID_ARGUMENT", None),
    "spanAnnotations a string": ({**ANALYZE, "spanAnnotations": "true"}, 400, "INVALID_ARGUMENT", None),
    "clientToken a number": ({**ANALYZE, "clientToken": 7}, 400, "INVALID_ARGUMENT", None),
    "malformed JSON": (b'{"comment": {"text": "hai"', 400, "INVALID_ARGUMENT", None),
    "a JSON array": (b'[{"comment": {"text": "hai"}}]', 400, "INVALID_ARGUMENT", None),
}
SUGGEST_ERRORS = {
    "no attributeScores": ({k: v for k, v in coral_suggestion("Hai", "c-1", True).items() if k != "attributeScores"},
                           400, "INVALID_ARGUMENT", None),
    "value over 1": ({**coral_suggestion("Hai", "c-1", True), "attributeScores": {
        "TOXICITY": {"summaryScore": {"value": 2}}}}, 400, "INVALID_ARGUMENT", None),
    "THREAT": ({**coral_suggestion("Hai", "c-1", True), "attributeScores": {
        "THREAT": {"summaryScore": {"value": 1}}}}, 400, "INVALID_ARGUMENT", "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"),
    "empty text": (coral_suggestion("", "c-1", True), 400, "INVALID_ARGUMENT", "COMMENT_EMPTY"),
    "malformed JSON": (b"{", 400, "INVALID_ARGUMENT", None),
}


@pytest.mark.parametrize("case", list(ANALYZE_ERRORS))
def test_bad_analyze_requests_get_googles_error(stack: Stack, case: str):
    body, status, google_status, error_type = ANALYZE_ERRORS[case]
    answer = stack.analyze(None, raw=body) if isinstance(body, bytes) else stack.analyze(body)
    assert_google_error(answer, status, google_status, error_type)
    assert stack.key.encode() not in answer.raw


@pytest.mark.parametrize("case", list(SUGGEST_ERRORS))
def test_bad_suggestions_get_googles_error(stack: Stack, case: str):
    body, status, google_status, error_type = SUGGEST_ERRORS[case]
    raw = {"raw": body} if isinstance(body, bytes) else {"body": body}
    assert_google_error(stack.post("comments:suggestscore", **raw), status, google_status, error_type)
    assert suggested_rows(stack, "c-1") == []


@pytest.mark.parametrize("operation", ["comments:analyze", "comments:suggestscore"])
def test_keys_wrong_or_missing(stack: Stack, operation: str):
    body = ANALYZE if operation == "comments:analyze" else coral_suggestion("Hai", "c-2", True)
    for wrong in ("not-a-key", f"sk_{'0' * 12}_{'x' * 30}", stack.key[:-1]):
        error = assert_google_error(stack.post(operation, body, key=wrong), 400, "INVALID_ARGUMENT")
        assert error["message"].startswith("API key not valid"), error
        assert wrong not in error["message"]
    assert_google_error(stack.post(operation, body, key=None), 403, "PERMISSION_DENIED")
    assert_google_error(stack.post(operation, body, key=""), 403, "PERMISSION_DENIED")
    assert suggested_rows(stack, "c-2") == []


def test_wrong_method_and_unknown_path_in_googles_shape(stack: Stack):
    get = send(f"{stack.base}{ENDPOINT}/comments:analyze?key={stack.key}", method="GET")
    assert_google_error(get, 405, "UNIMPLEMENTED")
    assert "POST" in get.headers["Allow"]
    for path in ("/comments:frobnicate", "/comments", "/v1alpha1/comments:analyze"):
        assert_google_error(send(f"{stack.base}{ENDPOINT}{path}?key={stack.key}", body=ANALYZE), 404, "NOT_FOUND")


def test_over_the_sites_quota_is_429_with_retry_after(stack: Stack):
    """The quota counts analyze requests in each wall-clock minute: the three requests are
    sent early enough in one minute."""
    wait_for(lambda: time.time() % 60 < 50, 12, "the clock never left a minute's last ten seconds")
    for _ in range(QUOTA):
        answer = stack.analyze(coral_analyze(BENIGN_EN), key=stack.quota_key)
        assert answer.status == 200, answer.body
    over = stack.analyze(coral_analyze(BENIGN_EN), key=stack.quota_key)
    assert_google_error(over, 429, "RESOURCE_EXHAUSTED")
    assert 1 <= int(over.headers["Retry-After"]) <= 60, over.headers
    assert stack.analyze(coral_analyze(BENIGN_EN)).status == 200  # another site's quota is its own


# -- doNotStore: the text and the key are kept nowhere -------------------------------------------


def readable(blob: bytes) -> list[bytes]:
    """A value and, if it is zlib-compressed (RQ's job data), what it holds."""
    try:
        return [blob, zlib.decompress(blob)]
    except zlib.error:
        return [blob]


def redis_blobs(redis: Redis):
    for key in redis.scan_iter("*"):
        yield key
        kind = redis.type(key)
        if kind == b"string":
            values = [redis.get(key)]
        elif kind == b"hash":
            values = [part for pair in redis.hgetall(key).items() for part in pair]
        elif kind in (b"list",):
            values = redis.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(redis.smembers(key))
        elif kind == b"zset":
            values = redis.zrange(key, 0, -1)
        elif kind == b"stream":
            values = [part for _, fields in redis.xrange(key) for pair in fields.items() for part in pair]
        else:
            values = []
        for value in values:
            yield from readable(value or b"")


def database_blobs(database_url: str):
    """Every row of every table (as the database reads it: no column type converts it), and
    for SQLite its files, free pages included."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                for row in connection.execute(text(f'select * from "{table}"')):
                    yield repr(tuple(row)).encode()
    finally:
        engine.dispose()
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):
            yield file.read_bytes()


def test_analyzed_text_and_key_are_kept_nowhere(stack: Stack):
    marker = f"jejak{uuid.uuid4().hex}"
    bodies = [
        coral_analyze(f"Kamu bodoh sekali {marker}, pergi sana!"),
        {"comment": {"text": f"You are an idiot {marker}. Really. Bye."}, "requestedAttributes": {
            name: {} for name in SCORED}, "spanAnnotations": True, "doNotStore": False, "clientToken": "t"},
    ]
    for body in bodies:
        answer = stack.analyze(body)
        assert answer.status == 200, answer.body
        assert marker.encode() not in answer.raw
    refused = stack.analyze({**bodies[0], "requestedAttributes": {"THREAT": {}}})
    assert refused.status == 400 and marker.encode() not in refused.raw
    if stack.nginx:
        assert '"POST /perspective/v1alpha1/comments:analyze HTTP/1.1" 400' in access_line(stack, refused)
    wait_for(lambda: stack.worker().get_state() == "idle", 10, "the worker stayed busy")

    needles = {"the text": marker.encode(), "the key": stack.key.encode()}
    for blob in redis_blobs(stack.redis):
        for what, needle in needles.items():
            assert needle not in blob, f"Redis holds {what}: {blob[:300]!r}"
    assert not any(key.startswith(b"rq:job:analyze-") for key in stack.redis.scan_iter("rq:job:*"))
    for blob in database_blobs(stack.database_url):
        for what, needle in needles.items():
            assert needle not in blob, f"the database holds {what}"

    logs = {path.name: path.read_bytes() for directory in (stack.directory, stack.nginx) if directory
            for path in directory.rglob("*.log")}
    assert b'"path": "/perspective/v1alpha1/comments:analyze"' in logs["web.log"]  # the requests were logged...
    assert b"toxicity analyze-" in logs["toxicity.log"]  # ...and the jobs
    for name, content in logs.items():
        for what, needle in needles.items():
            assert needle not in content, f"{name} holds {what}"

    status, metrics = fetch(stack.base + "/metrics")
    assert status == 200 and b'endpoint="perspective.analyze"' in metrics
    assert stack.key.encode() not in metrics and marker.encode() not in metrics


def access_line(stack: Stack, answer: Answer) -> str:
    """nginx's access log line of a request (written once the answer is sent), by its request id."""
    request_id = answer.headers["X-Request-Id"]
    return wait_for(lambda: next((line for line in (stack.nginx / "nginx-access.log").read_text().splitlines()
                                  if line.endswith(f" {request_id}")), None), 5, "nginx logged no line")


def test_nginx_access_log_names_the_path_without_the_key(stack: Stack):
    if not stack.nginx:
        skip_or_fail("nginx is not installed (apt-get install -y nginx)")
    answer = stack.analyze(coral_analyze(BENIGN_EN))
    assert answer.status == 200
    assert '"POST /perspective/v1alpha1/comments:analyze HTTP/1.1" 200' in access_line(stack, answer)
    log = (stack.nginx / "nginx-access.log").read_text()
    assert stack.key not in log and "key=" not in log


# -- compatibility: a Perspective client, unchanged ----------------------------------------------


def test_a_perspective_client_analyzes_then_suggests_a_moderators_rejection(stack: Stack):
    """Coral's flow: the score is over its threshold, the comment is withheld, a moderator
    rejects it, and the rejection comes back as a suggested score: a label for retraining."""
    client = PerspectiveClient(f"{stack.base}{ENDPOINT}", stack.key)  # Coral's default 300 ms timeout
    comment = f"{TOXIC_EN} #{uuid.uuid4().hex[:8]}"
    score = client.analyze(comment)
    assert 0.5 < score <= 1 and client.analyze(BENIGN_EN) < 0.5
    assert 0 <= client.analyze(comment, model="SEVERE_TOXICITY") <= 1
    comment_id = f"coral-{uuid.uuid4().hex[:12]}"
    assert client.suggest_score(comment, comment_id, STORY, TENANT, approved=False) == {
        "clientToken": f"comment:{comment_id}"}
    assert (comment, 1, SITE) in labels(stack, "toxicity", SITE)

    slash = PerspectiveClient(f"{stack.base}{ENDPOINT}/", stack.key)  # an endpoint pasted with a trailing slash
    assert slash.analyze(BENIGN_EN) < 0.5
    with pytest.raises(PerspectiveFailed) as failed:
        PerspectiveClient(f"{stack.base}{ENDPOINT}", "sk_not_a_key").analyze(comment)
    assert failed.value.status == 400 and failed.value.error["status"] == "INVALID_ARGUMENT"


# -- no live worker: 503 within the time budget (these tests stop the worker; keep them last) ----


def timed_analyze(stack: Stack) -> tuple[Answer, float]:
    started = time.monotonic()
    answer = stack.analyze(coral_analyze(BENIGN_EN))
    return answer, time.monotonic() - started


def no_analyze_job_left(stack: Stack) -> bool:
    queued = Queue("toxicity", connection=stack.redis).count
    return queued == 0 and not list(stack.redis.scan_iter("rq:job:analyze-*"))


def test_a_worker_that_does_not_answer_gives_503_within_the_budget(stack: Stack):
    """SIGSTOP: the worker is still registered but answers nothing (as a worker busy with
    a slow job would)."""
    pid = stack.processes.running["toxicity"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        answer, elapsed = timed_analyze(stack)
        error = assert_google_error(answer, 503, "UNAVAILABLE")
        assert "time budget" in error["message"], error
        assert BUDGET - 0.05 <= elapsed < BUDGET + MARGIN, elapsed
        assert no_analyze_job_left(stack), "the job outlived its request"
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: stack.analyze(coral_analyze(BENIGN_EN)).status == 200, 10, "the worker did not answer again")


def test_no_running_worker_gives_503_at_once(worker_restored: Stack):
    stack = worker_restored
    worker = stack.processes.running["toxicity"]
    worker.send_signal(signal.SIGTERM)  # as `docker compose stop`: RQ's warm shutdown unregisters the worker
    try:
        worker.wait(5)
    except subprocess.TimeoutExpired:  # RQ raises its stop inside whatever the worker was doing, and a
        worker.send_signal(signal.SIGTERM)  # logging call it interrupted swallows it: RQ's cold shutdown
        worker.wait(10)
    queue = Queue("toxicity", connection=stack.redis)
    wait_for(lambda: Worker.count(connection=stack.redis, queue=queue) == 0, 10, "the worker stayed registered")
    answer, elapsed = timed_analyze(stack)
    error = assert_google_error(answer, 503, "UNAVAILABLE")
    assert "No toxicity worker" in error["message"], error
    assert elapsed < BUDGET + MARGIN, elapsed
    assert no_analyze_job_left(stack)


def test_a_killed_worker_gives_503_within_the_budget(worker_restored: Stack):
    """SIGKILL: the dead worker's registration stays until it expires, so the request waits
    for the budget."""
    stack = worker_restored
    stack.processes.kill("toxicity")
    answer, elapsed = timed_analyze(stack)
    assert_google_error(answer, 503, "UNAVAILABLE")
    assert elapsed < BUDGET + MARGIN, elapsed
    assert no_analyze_job_left(stack)


def test_a_text_scored_past_the_budget_is_not_left_in_redis(stack: Stack):
    """The largest text Perspective allows, in 4,000 sentences, each scored for its span:
    the request gives up at the budget, the worker finishes later, and then keeps nothing
    of the text either."""
    marker = f"jejak{uuid.uuid4().hex}"
    comment = f"{marker}. " + "Aku. " * 4000
    assert len(comment.encode()) <= 20480
    started = time.monotonic()
    answer = stack.analyze({"comment": {"text": comment}, "requestedAttributes": {"TOXICITY": {}},
                            "spanAnnotations": True})
    assert_google_error(answer, 503, "UNAVAILABLE")
    assert time.monotonic() - started < BUDGET + MARGIN
    wait_for(lambda: stack.worker().get_state() == "idle", 30, "the worker never finished the text")
    for blob in redis_blobs(stack.redis):
        assert marker.encode() not in blob, f"Redis holds the text: {blob[:200]!r}"
