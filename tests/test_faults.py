"""Faults injected into real processes (SPEC §10): gunicorn with two workers, `python -m
workers ...` check, callback and scheduler processes, a redis-server of this file's own and
a private PostgreSQL database (tests/stack.py). Each test counts the comments accepted
(202), decided (not pending, in the database) and decided twice (moved out of `pending`
more than once, by the audit trail), and asserts accepted == decided and no duplicate:

- a check worker killed with SIGKILL in the middle of a check: RQ's abandoned-job handling
  (run by the sweeper each pass) retries the job and the comment is decided by its scores;
- Redis stopped while comments keep coming, then started again empty: the comments accepted
  meanwhile are stored, and the sweeper enqueues them once Redis is back;
- a check that raises on every try: the comments follow the fail policy, the jobs sit in the
  failed registry, and `flask requeue-failed` has them decided by their scores once the
  fault is gone;
- a callback receiver that hangs: deliveries time out and are retried while the comments
  are decided on time; once it answers, each event arrives once.

Short timeouts, heartbeats and retry intervals (SETTINGS) keep the file under 90 s; the
web process and the scheduler are shared by the tests, each starts its own workers."""
import itertools
import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.registry import FailedJobRegistry
from sqlalchemy import bindparam, create_engine, text

from conftest import RedisServer
from models.scoring import ARTIFACTS
from moderation.jobs import FAILURE_CALLBACK_TIMEOUT
from stack import (BENIGN, Processes, call, compose_env, create_site, fetch, flask_argv, private_postgres, service_argv,
                   start_web, submit, tally, wait_for)

CHECK_TIMEOUT = 5  # seconds a check may run: a killed worker's job is abandoned soon after
CALLBACK_TIMEOUT = 1.5  # seconds a callback receiver may take
SETTINGS = {
    "MODERATION_WORKER_HEARTBEAT": "1",
    "MODERATION_CHECK_TIMEOUT": str(CHECK_TIMEOUT),
    "MODERATION_CHECK_RETRIES": "0",  # one retry, at once
    "MODERATION_SWEEP_INTERVAL": "1",
    "MODERATION_SWEEP_AFTER": "2",
    "MODERATION_CALLBACK_TIMEOUT": str(CALLBACK_TIMEOUT),
    "MODERATION_CALLBACK_RETRIES": ",".join(["1"] * 10),
    "MODERATION_LOG_LEVEL": "INFO",
}
READERS = itertools.count(1)
EVENTS = "select event_id, attempts, last_error, delivered_at from callback_events order by id"


class Stack:
    """gunicorn and the scheduler on a private PostgreSQL database and a private redis-server,
    shared by the tests of this file; each test starts its own check and callback workers,
    killed when it ends (`begin`, `end`)."""

    def __init__(self, processes: Processes, env: dict, database_url: str, base: str, key: str, redis: RedisServer):
        self.processes, self.env, self.database_url, self.base, self.key = processes, env, database_url, base, key
        self.redis_server, self.redis = redis, Redis.from_url(redis.url)
        self.engine = create_engine(database_url)
        self.accepted: list[str] = []  # the test's comments that got a 202
        self.workers: list[str] = []  # the test's worker processes
        self.swept_from = 0  # the scheduler's log lines before the test

    def begin(self) -> "Stack":
        self.redis.flushdb()
        self.accepted, self.workers = [], []
        self.swept_from = len(self.processes.tail("scheduler", 100_000).splitlines())
        return self

    def end(self) -> None:
        for name in self.workers:
            self.processes.kill(name)

    def close(self) -> None:
        self.redis.close()
        self.engine.dispose()

    def sweeps(self) -> list[dict]:
        """The sweeper's reports logged during the test (it logs those that did something)."""
        lines = self.processes.tail("scheduler", 100_000).splitlines()[self.swept_from:]
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry for entry in entries if entry.get("message", "").startswith("sweep: ")]

    def start_worker(self, name: str, role: str, **env) -> None:
        """`python -m workers <role>` (spam, toxicity, callbacks), killed when the test ends."""
        self.processes.start(name, service_argv(role), {**self.env, **env})
        self.workers.append(name)

    def ready(self, *names: str) -> None:
        """Wait until RQ has the named workers' registrations (their models loaded)."""
        for name in names:
            pid = self.processes.running[name].pid
            wait_for(lambda: self.processes.check_alive() or registered(self.redis, pid), 60,
                     lambda: f"worker {name} did not register:\n{self.processes.tail(name)}")

    def submit(self, count: int = 1) -> list[str]:
        """Post comments, each by a new reader (no duplicate, no flood limit); their ids.
        Every answer must be a 202."""
        ids = []
        for _ in range(count):
            reader = next(READERS)
            status, answer = submit(self.base, self.key, reader, f"{BENIGN[reader % len(BENIGN)]} (#{reader})")
            assert status == 202, (status, answer)
            ids.append(answer["id"])
        self.accepted += ids
        return ids

    def settled(self) -> bool:
        """Every accepted comment decided."""
        counted = tally(self.database_url, self.accepted)
        return counted.decided == counted.accepted

    def assert_decided_once(self, timeout: float = 30) -> None:
        wait_for(self.settled, timeout, lambda: f"not every accepted comment was decided: "
                 f"{tally(self.database_url, self.accepted)}\n{self.describe()}\n{self.processes.logs()}")
        counted = tally(self.database_url, self.accepted)
        assert counted.accepted == counted.stored == counted.decided and counted.duplicates == 0, counted

    def describe(self) -> str:
        """What the workers and the database connections are doing, for a failure message."""
        try:
            workers = [(worker.name, worker.get_state(), worker.get_current_job_id())
                       for worker in Worker.all(connection=self.redis)]
        except RedisError as error:
            workers = repr(error)
        sessions = self.rows("select pid, state, wait_event_type, wait_event, left(query, 80) from pg_stat_activity "
                             "where datname = current_database() and pid != pg_backend_pid()")
        pending = self.rows("select public_id from comments where status = 'pending'")
        return f"workers: {workers}\nsessions: {sessions}\npending: {pending}"

    def scalar(self, sql: str, **params):
        return (self.rows(sql, **params) or [(None,)])[0][0]

    def rows(self, sql: str, **params) -> list:
        """The rows of a query; a tuple parameter is a list of values (`in :ids`)."""
        query = text(sql).bindparams(*(bindparam(name, expanding=True) for name, value in params.items()
                                       if isinstance(value, tuple)))
        with self.engine.connect() as connection:
            return connection.execute(query, params).all()


def registered(redis: Redis, pid: int) -> bool:
    """An RQ worker of this process (Saring names workers <queues>.<host>.<pid>) is registered."""
    try:
        return any(worker.name.endswith(f".{pid}") for worker in Worker.all(connection=redis))
    except RedisError:
        return False


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """gunicorn (two workers) and the scheduler, with one site, on a private database and a
    redis-server that a test may stop (and start again, empty)."""
    directory = tmp_path_factory.mktemp("faults")
    server = RedisServer().start()  # its own, to stop and start again
    try:
        with private_postgres("saring_faults") as database_url, Processes(directory) as processes:
            env = compose_env(MODERATION_DATABASE_URL=database_url, MODERATION_REDIS_URL=server.url, **SETTINGS)
            key = create_site(processes, env)
            base = start_web(processes, env, directory)
            processes.start("scheduler", service_argv("scheduler"), env)
            wait_for(lambda: processes.check_alive() or ok(base + "/healthz"), 30, "gunicorn did not start")
            stack = Stack(processes, env, database_url, base, key, server)
            try:
                yield stack
            finally:
                stack.close()
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture
def stack(running: Stack):
    """The running stack on an emptied Redis; the test's workers are killed after it."""
    try:
        yield running.begin()
    finally:
        running.end()


def ok(url: str) -> bool:
    try:
        return fetch(url)[0] == 200
    except OSError:
        return False


def spam_check(stack: Stack, comment_id: str) -> tuple:
    """The comment's status and reason, and its spam check's score and error."""
    return stack.rows(
        "select c.status, c.reason, r.score, r.error from comments c "
        "left join check_results r on r.comment_id = c.id and r.check = 'spam' where c.public_id = :id",
        id=comment_id)[0]


# -- a worker killed in the middle of a check -------------------------------------------------


def test_a_worker_killed_mid_check_has_its_job_retried_and_the_comment_decided_once(stack: Stack):
    # A comment comes in and its row is held (a long transaction elsewhere) while the check
    # workers start: both checks score the comment and wait for the row.
    victim, = stack.submit()
    with stack.engine.connect() as locker:
        transaction = locker.begin()
        locker.execute(text("select id from comments where public_id = :id for update"), {"id": victim})
        stack.start_worker("toxicity", "toxicity")
        stack.ready("toxicity")  # its check waits for the row first
        stack.start_worker("spam-doomed", "spam")
        stack.ready("spam-doomed")
        wait_for(lambda: stack.scalar("select count(*) from pg_stat_activity where datname = current_database() "
                                      "and wait_event_type = 'Lock'") == 2, 30, "the checks never waited for the row")
        assert stack.redis.hget(f"rq:job:spam-{victim}", "status") == b"started"
        # The spam worker is killed in the middle of its check; then the row is let go.
        stack.processes.kill("spam-doomed")
        killed_at = time.monotonic()
        transaction.rollback()

    # A new spam worker, and comments keep coming. The killed check stays `started` in RQ
    # until its entry expires (its timeout, its failure callback's and 5 s after it began);
    # the sweeper then has RQ retry it, and the comment is decided by its scores.
    stack.start_worker("spam", "spam")
    stack.submit(6)
    stack.assert_decided_once(timeout=CHECK_TIMEOUT + FAILURE_CALLBACK_TIMEOUT + 30)
    retried_after = time.monotonic() - killed_at
    status, reason, score, error = spam_check(stack, victim)
    assert status == "approved" and reason is None and score is not None and error is None
    assert stack.redis.hget(f"rq:job:spam-{victim}", "retries_left") == b"0"  # its one retry was used
    assert FailedJobRegistry("spam", connection=stack.redis).count == 0
    assert retried_after < CHECK_TIMEOUT + FAILURE_CALLBACK_TIMEOUT + 15, retried_after
    assert sum(sweep["abandoned"] for sweep in stack.sweeps()) == 1  # the sweeper had RQ retry it


# -- Redis stopped, then started again empty --------------------------------------------------


def test_comments_accepted_while_redis_is_down_are_decided_once_it_is_back_empty(stack: Stack):
    stack.start_worker("toxicity", "toxicity")
    stack.start_worker("spam", "spam")
    stack.ready("toxicity", "spam")
    stack.submit(3)
    stack.assert_decided_once()

    stack.redis_server.stop()
    try:
        during = stack.submit(5)  # each a 202: the comment is stored, its checks left to the sweeper
        counted = tally(stack.database_url, during)
        assert (counted.stored, counted.decided) == (5, 0), counted
        time.sleep(2)  # the workers and the sweeper meet the outage
    finally:
        stack.redis_server.start()  # empty: the queues, the workers' registrations and every job are gone
    stack.submit(3)
    stack.assert_decided_once()
    stack.processes.check_alive()  # no process died of the outage
    assert status_of(stack, during) == {"approved"}
    assert sum(sweep["enqueued"] for sweep in stack.sweeps()) >= len(during)  # the sweeper enqueued them


def status_of(stack: Stack, ids: list[str]) -> set[str]:
    return {status for status, in stack.rows("select status from comments where public_id in :ids",
                                              ids=tuple(ids))}


# -- a check that raises on every try ---------------------------------------------------------


def broken_models(directory: Path) -> Path:
    """A spam model that loads (only allowed types, a card) but raises on every comment: its
    classifier's weights have the wrong shape."""
    import numpy as np
    import skops.io

    directory.mkdir()
    artifact = ARTIFACTS / "spam.skops"
    bundle = skops.io.load(artifact, trusted=skops.io.get_untrusted_types(file=artifact))
    bundle["pipeline"][-1].coef_ = np.zeros((1, 1))
    skops.io.dump(bundle, directory / "spam.skops")
    card = json.loads((ARTIFACTS / "spam.json").read_text())
    (directory / "spam.json").write_text(json.dumps({**card, "version": "spam-broken"}))
    return directory


def test_a_check_failing_on_every_try_follows_the_fail_policy_and_is_requeued_once_fixed(stack: Stack, tmp_path):
    stack.start_worker("toxicity", "toxicity")
    stack.start_worker("spam-broken", "spam", MODERATION_MODELS_DIR=str(broken_models(tmp_path / "broken")))
    stack.ready("toxicity", "spam-broken")
    ids = stack.submit(4)

    # Each spam check fails, is retried once, fails again: the comment is flagged for a human
    # (the default fail policy) and the job is in the failed registry.
    stack.assert_decided_once()
    assert {spam_check(stack, comment_id) for comment_id in ids} == {
        ("flagged", "check_failed", None, "IndexError after retries")}
    failed = FailedJobRegistry("spam", connection=stack.redis)
    assert sorted(failed.get_job_ids()) == sorted(f"spam-{comment_id}" for comment_id in ids)

    # The fault is gone (a worker with the good model); the operator requeues the failed jobs.
    assert stack.processes.stop("spam-broken") == 0
    stack.start_worker("spam", "spam")  # the requeued jobs wait for it
    requeued = stack.processes.run("requeue", flask_argv("requeue-failed", "--queue", "spam"), stack.env)
    assert requeued.returncode == 0 and "requeued 4 failed job(s)" in stack.processes.tail("requeue")
    wait_for(lambda: status_of(stack, ids) == {"approved"}, 30, lambda: f"not decided again:\n{stack.describe()}")
    assert {spam_check(stack, comment_id)[::3] for comment_id in ids} == {("approved", None)}
    assert all(spam_check(stack, comment_id)[2] is not None for comment_id in ids)
    counted = tally(stack.database_url, stack.accepted)
    assert counted.decided == counted.accepted and counted.duplicates == 0, counted
    transitions = stack.rows(
        "select c.public_id, e.from_status, e.to_status from audit_events e join comments c on c.id = e.comment_id "
        "where e.action = 'transition' and e.actor = 'checks' and c.public_id in :ids", ids=tuple(ids))
    assert sorted(transitions) == sorted([(comment_id, "pending", "flagged") for comment_id in ids]
                                         + [(comment_id, "flagged", "approved") for comment_id in ids])
    assert failed.count == 0


# -- a callback receiver that hangs -----------------------------------------------------------


class Receiver:
    """A site's callback endpoint on 127.0.0.1 that hangs (reads the request, never answers)
    until `recover()`, then answers 200 to each delivery."""

    def __init__(self):
        self.hanging = threading.Event()
        self.hanging.set()
        self.hung: list[str] = []  # event ids of the deliveries left hanging
        self.answered: list[str] = []  # event ids answered 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                event_id = self.headers["Saring-Event-Id"]
                if receiver.hanging.is_set():
                    receiver.hung.append(event_id)
                    while receiver.hanging.is_set():
                        time.sleep(0.05)
                    self.close_connection = True
                    return  # no answer: the sender gave up long ago
                receiver.answered.append(event_id)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None
        self.url = f"http://127.0.0.1:{self.server.server_port}/saring/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def recover(self):
        self.hanging.clear()

    def close(self):
        self.recover()
        self.server.shutdown()
        self.server.server_close()


def test_a_hanging_callback_receiver_delays_no_decision_and_gets_each_event_once(stack: Stack, tmp_path):
    receiver = Receiver()
    try:
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"allow_private_callbacks": True}))  # the receiver is on 127.0.0.1
        assert stack.processes.run("policy", flask_argv("set-policy", "poros-warta", str(policy)),
                                   stack.env).returncode == 0, stack.processes.tail("policy")
        status, answer = call(stack.base, "PUT", "/api/v1/site/callbacks", stack.key, {"url": receiver.url})
        assert status == 200 and answer["secret"], answer
        for name in ("toxicity", "callbacks", "spam"):
            stack.start_worker(name, name)
        stack.ready("toxicity", "callbacks", "spam")

        # The receiver hangs: every comment is decided all the same, each sooner than one
        # delivery's timeout, while the deliveries time out and are retried.
        ids = stack.submit(3)
        stack.assert_decided_once(timeout=20)
        assert receiver.hanging.is_set() and not receiver.answered
        latencies = [seconds for seconds, in stack.rows(
            "select extract(epoch from decided_at - created_at) from comments where public_id in :ids",
            ids=tuple(ids))]
        assert max(latencies) < CALLBACK_TIMEOUT, latencies  # no decision waited for a delivery
        wait_for(lambda: stack.scalar("select count(*) from callback_events where last_error = 'timed out'")
                 == len(ids) and stack.scalar("select count(*) from callback_events where attempts > 1"), 30,
                 lambda: f"the deliveries did not time out and get retried: {stack.rows(EVENTS)}")

        # It recovers: each event arrives once, and is recorded delivered.
        receiver.recover()
        wait_for(lambda: stack.scalar("select count(*) from callback_events where delivered_at is null") == 0, 30,
                 lambda: f"undelivered: {stack.rows(EVENTS)}")
        events = stack.rows("select e.event_id, c.public_id from callback_events e "
                            "join comments c on c.id = e.comment_id")
        assert sorted(public_id for _, public_id in events) == sorted(ids)  # one decision, one event, per comment
        assert sorted(receiver.answered) == sorted(event_id for event_id, _ in events)
        assert set(receiver.hung) == {event_id for event_id, _ in events}
    finally:
        call(stack.base, "PUT", "/api/v1/site/callbacks", stack.key, {"url": None})
        receiver.close()
