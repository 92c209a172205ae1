"""Outages under load (issue 7, SPEC §10), against real processes: gunicorn with two workers,
a spam, a toxicity and a callbacks worker and the scheduler, while a client submits ten
comments a second from a thread, each under an Idempotency-Key of its own.

- PostgreSQL shut down (fast), then killed (immediate: crash recovery at the restart), and
  started again each time: the requests in between get a quick 503 in the JSON error shape
  and nothing they sent is stored; every comment that got a 202 is stored once under its id
  and decided by both checks; the web and the workers carry on without a restart.
- Checks that run while PostgreSQL is down use up their retries (one, a second apart, here)
  and fail: that is not a failed check. The comments stay pending through an outage longer
  than the retries and are decided by their scores once the database is back (sweeper), not
  sent to moderators by the fail policy.
- gunicorn reloaded (SIGHUP), then stopped (SIGTERM) and started again: the reload refuses
  no request; the restart refuses connections for a while, and a client that sends a
  refused request again under the same key gets its comment stored once.

PostgreSQL is a cluster of the test's own (initdb into a temporary folder, its own port),
never the machine's shared one, which everyone else's tests use."""
import collections
import contextlib
import glob
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import create_engine, text

from conftest import free_port, skip_or_fail
from stack import (ARTICLE, Processes, call, compose_env, create_site, fetch, service_argv, start_web, submit, tally,
                   wait_for)

RATE = 10  # comments a second, well under the site's default flood limit (600 a minute)
QUICK = 3  # seconds: the longest a request may take while the database is down or back
BOOT = 30  # seconds: a request may wait this long for gunicorn's workers to boot (its worker timeout)
CONTENT = "Semoga dialog kedua negara membawa perdamaian yang nyata. Komentar ke-{number}."
STORAGE_DOWN = {"error": "storage_unavailable", "message": "Storage is unavailable; nothing was saved. Retry later.",
                "fields": {}}
REFUSED = ("ConnectionRefusedError", "ConnectionResetError", "RemoteDisconnected", "BrokenPipeError")


# -- a PostgreSQL cluster of the test's own ---------------------------------------------------


def postgres_bin() -> Path | None:
    """Where initdb, pg_ctl and postgres are: the newest /usr/lib/postgresql/<version>/bin, or the PATH."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(re.sub(r"\D", "", path) or 0))
    for directory in [*reversed(versions), *os.environ.get("PATH", "").split(os.pathsep), "/usr/local/bin"]:
        if all(os.access(Path(directory, tool), os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(directory)
    return None


class Cluster:
    """initdb into a temporary folder, pg_ctl on a free port of 127.0.0.1, trust auth, no
    fsync (a restarted server, not a power cut). PostgreSQL refuses to run as root: as root
    (as CI runs here) every command runs as the `postgres` user, who owns the folder."""

    def __init__(self, binaries: Path, directory: Path):
        self.binaries, self.directory, self.port = binaries, directory, free_port()
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, tool: str, *arguments: str) -> None:
        done = subprocess.run([*self.as_owner, str(self.binaries / tool), *arguments], cwd=self.directory,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{tool} {' '.join(arguments)}: {done.stdout}{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t", "30", "-o", options, "start")

    def stop(self, mode: str) -> None:
        self.run("pg_ctl", "-D", "data", "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.directory / "data" / "postmaster.pid").exists()

    def create_database(self, name: str) -> str:
        """A new database's URL."""
        admin = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'create database "{name}"'))
        admin.dispose()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="module")
def cluster():
    binaries = postgres_bin()
    if binaries is None:
        skip_or_fail("PostgreSQL's server binaries (initdb, pg_ctl, postgres) are not installed")
    if os.geteuid() == 0 and not (shutil.which("runuser") and user_exists("postgres")):
        skip_or_fail("as root, PostgreSQL needs runuser and a `postgres` user to run as")
    directory = Path(tempfile.mkdtemp(prefix="saring-outages-"))
    made = Cluster(binaries, directory)
    try:
        if made.as_owner:
            shutil.chown(directory, "postgres", "postgres")
        made.run("initdb", "-D", "data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        made.start()
        yield made
    finally:
        if made.running():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                made.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


def user_exists(name: str) -> bool:
    try:
        return bool(pwd.getpwnam(name))
    except KeyError:
        return False


# -- a client submitting steadily --------------------------------------------------------------


class Attempt(NamedTuple):
    key: str  # the Idempotency-Key
    started: float
    ended: float
    status: int | None  # None: no HTTP answer
    answer: dict | str  # the JSON answer, or the name of the error that came instead


def summary(attempts: list[Attempt]) -> str:
    """The answers a load got, and its slowest request (printed: pytest shows it with a failure)."""
    answers = collections.Counter(attempt.status or attempt.answer for attempt in attempts)
    slowest = max(attempt.ended - attempt.started for attempt in attempts)
    return f"{len(attempts)} requests: {dict(answers)}; slowest {slowest:.2f} s"


class Load:
    """RATE comments a second from a thread, each by a reader of its own under a fresh
    Idempotency-Key (`<prefix>-<n>`), with a client timeout. With `retry`, a request that got
    no 202 is sent again (same key, same comment) before the next one, as a careful client does."""

    def __init__(self, stack: "Stack", prefix: str, timeout: float, retry: bool = False):
        self.base, self.key, self.prefix, self.timeout, self.retry = stack.base, stack.key, prefix, timeout, retry
        self.attempts: list[Attempt] = []
        self.stopping, self.give_up = threading.Event(), float("inf")
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> "Load":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.give_up = time.monotonic() + self.timeout  # for a request still being sent again
        self.stopping.set()
        self.thread.join(self.timeout * 3)

    def run(self) -> None:
        number, due = 0, time.monotonic()
        while True:
            again = self.retry and self.attempts and self.attempts[-1].status != 202
            if self.stopping.is_set() and (not again or time.monotonic() > self.give_up):
                return
            number += 0 if again else 1
            self.attempts.append(self.send(number))
            due = max(due + 1 / RATE, time.monotonic())
            time.sleep(max(0.0, due - time.monotonic()))

    def send(self, number: int) -> Attempt:
        key, started = f"{self.prefix}-{number}", time.monotonic()
        body = {**ARTICLE, "author_name": f"Pembaca {key}", "author_email": f"pembaca.{key}@example.co.id",
                "content": CONTENT.format(number=key), "user_ip": f"10.9.{number // 256 % 256}.{number % 256}"}
        try:
            status, answer = call(self.base, "POST", "/api/v1/comments", self.key, body, timeout=self.timeout,
                                  headers={"Idempotency-Key": key})
        except OSError as error:  # refused, reset, timed out (urllib wraps some in URLError)
            status, answer = None, type(getattr(error, "reason", error)).__name__
        return Attempt(key, started, time.monotonic(), status, answer)

    def accepted_after(self, moment: float) -> int:
        return sum(1 for attempt in list(self.attempts) if attempt.started >= moment and attempt.status == 202)

    def accepted(self) -> dict[str, str]:
        """Idempotency-Key -> comment id, of each request that got a 202."""
        return {attempt.key: attempt.answer["id"] for attempt in list(self.attempts) if attempt.status == 202}


# -- the stack, and what it stored -------------------------------------------------------------


class Stack(NamedTuple):
    processes: Processes
    database_url: str
    base: str  # gunicorn's URL
    key: str  # the site's API key
    env: dict  # every process's environment
    directory: Path  # the processes' logs


@pytest.fixture(scope="module")
def stack(cluster, redis_server, tmp_path_factory):
    """The production shape on the cluster, shared by this module's tests (each submits under
    keys of its own): migrated, a site made, gunicorn (2 workers) and every worker ready."""
    client = Redis.from_url(redis_server.url)
    client.flushdb()  # not the `redis` fixture: it would flush the running workers' registrations
    client.close()
    directory = tmp_path_factory.mktemp("outages")
    database_url = cluster.create_database("saring_outages")
    env = compose_env(MODERATION_DATABASE_URL=database_url, MODERATION_REDIS_URL=redis_server.url,
                      MODERATION_WORKER_HEARTBEAT="1", MODERATION_SWEEP_INTERVAL="1",
                      MODERATION_CHECK_RETRIES="1")  # one retry, a second later: outages outlast it
    with Processes(directory) as processes:
        key = create_site(processes, env)
        base = start_web(processes, env, directory)
        for name in ("spam", "toxicity", "callbacks", "scheduler"):
            processes.start(name, service_argv(name), env)
        processes.wait_until_ready(base, timeout=120)
        yield Stack(processes, database_url, base, key, env, directory)


def stored(database_url: str, prefix: str) -> dict[str, str]:
    """Idempotency-Key -> comment id, of every comment in the database stored under `<prefix>-…`."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("select idempotency_key, public_id from comments where idempotency_key like :k"),
                                  {"k": f"{prefix}-%"}).all()
    engine.dispose()
    return dict(rows)


def not_decided_by_checks(database_url: str, ids) -> dict[str, str]:
    """The comments not decided by both checks' scores, each with what it is instead:
    pending, a check missing or failed, a fail-policy verdict."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text(
            "select c.public_id, c.status, c.decided_by, c.reason, "
            "string_agg(r.check || coalesce(':' || r.error, ''), ',' order by r.check) "
            "from comments c left join check_results r on r.comment_id = c.id group by c.id")).all()
    engine.dispose()
    found = {row[0]: row[1:] for row in rows}
    wrong = {}
    for comment_id in ids:
        status, decided_by, reason, checks = found.get(comment_id, ("missing", None, None, None))
        if status == "pending" or decided_by != "checks" or reason == "check_failed" or checks != "spam,toxicity":
            wrong[comment_id] = f"{status} by {decided_by} ({reason}), checks {checks}"
    return wrong


def assert_decided_once(database_url: str, ids) -> None:
    """Every comment decided by its checks, once: accepted == stored == decided, no duplicates."""
    ids = list(ids)
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not not_decided_by_checks(database_url, ids), 60, "")
    wrong = not_decided_by_checks(database_url, ids)
    assert not wrong, f"not decided by their checks: {wrong}"
    counts = tally(database_url, ids)
    assert counts.accepted == counts.stored == counts.decided and counts.duplicates == 0, counts


def gunicorn_workers(processes: Processes) -> set[int]:
    return {child.pid for child in psutil.Process(processes.running["web"].pid).children()}


def replaced(processes: Processes, old: set[int]) -> bool:
    """gunicorn runs two workers again, none of them one of `old`."""
    workers = gunicorn_workers(processes)
    return len(workers) == 2 and not workers & old


def healthy(base: str) -> bool:
    with contextlib.suppress(OSError):
        return fetch(base + "/healthz", timeout=1)[0] == 200
    return False


# -- the outages -------------------------------------------------------------------------------


def probe(stack: Stack, comment_id: str) -> dict:
    """What a site and an operator see while the database is down: a stored comment, /readyz, /healthz."""
    comment = call(stack.base, "GET", f"/api/v1/comments/{comment_id}", stack.key, timeout=QUICK)
    status, body = fetch(stack.base + "/readyz", timeout=QUICK)
    return {"comment": comment, "readyz": status, "database": json.loads(body)["database"]["ok"],
            "healthz": fetch(stack.base + "/healthz", timeout=QUICK)[0]}


class Outage(NamedTuple):
    down: float  # the server has stopped
    restarting: float  # pg_ctl start runs
    up: float  # the server accepts connections again


def test_postgres_restarted_under_load(cluster, stack):
    workers = gunicorn_workers(stack.processes)
    outages = []
    with Load(stack, "pg", timeout=QUICK) as load:
        wait_for(lambda: load.accepted_after(0) >= 10, 10, "no comment accepted before the outage")
        for mode, seconds in (("fast", 3), ("immediate", 2)):
            try:
                cluster.stop(mode)
                down = time.monotonic()
                seen = probe(stack, next(iter(load.accepted().values())))
                time.sleep(max(0.0, down + seconds - time.monotonic()))  # submissions go on against a stopped database
            finally:
                restarting = time.monotonic()
                cluster.start()
            outages.append(Outage(down, restarting, time.monotonic()))
            assert seen == {"comment": (503, STORAGE_DOWN), "readyz": 503, "database": False, "healthz": 200}, seen
            wait_for(lambda: load.accepted_after(outages[-1].up + 1) >= 10, 15, f"no 202 after the {mode} restart")
            assert_decided_once(stack.database_url, load.accepted().values())  # before the next outage

    attempts = load.attempts
    print(summary(attempts), outages)
    assert all(attempt.status in (202, 503) for attempt in attempts), [a for a in attempts if a.status != 202]
    assert all(attempt.answer == STORAGE_DOWN for attempt in attempts if attempt.status == 503)
    for outage in outages:
        during = [attempt for attempt in attempts
                  if outage.down <= attempt.started and attempt.ended <= outage.restarting]
        assert len(during) >= RATE and all(attempt.status == 503 for attempt in during), during
        after = [attempt for attempt in attempts if attempt.started >= outage.up + 1]
        assert after[0].status == 202, after[0]  # back within a second of the restart
    assert all(attempt.status == 202 for attempt in attempts if attempt.started >= outages[-1].up + 1)
    accepted = load.accepted()
    assert stored(stack.database_url, "pg") == accepted  # each 202 stored once under its id; no 503 left a row
    assert_decided_once(stack.database_url, accepted.values())
    stack.processes.check_alive()  # neither the web nor a worker exited ...
    assert gunicorn_workers(stack.processes) == workers  # ... nor did gunicorn replace a worker


def test_checks_wait_for_the_database_however_long_it_is_down(cluster, stack, redis_server):
    redis = Redis.from_url(redis_server.url)
    failed = FailedJobRegistry("toxicity", connection=redis)
    toxicity = stack.processes.running["toxicity"]
    toxicity.send_signal(signal.SIGSTOP)  # its jobs wait in the queue ...
    try:
        ids = [submit(stack.base, stack.key, 70000 + number, CONTENT.format(number=f"wait-{number}"))[1]["id"]
               for number in range(8)]
        cluster.stop("fast")  # ... until the database is down
    finally:
        toxicity.send_signal(signal.SIGCONT)
    try:
        jobs = [f"toxicity-{comment_id}" for comment_id in ids]
        wait_for(lambda: set(jobs) <= set(failed.get_job_ids()), 30, lambda: f"failed: {failed.get_job_ids()}")
        marked = [job.meta.get("storage_down") for job in Job.fetch_many(jobs, connection=redis)]
        assert marked == [True] * len(ids), marked
        time.sleep(3)  # the outage goes on past the retries and several sweeps
    finally:
        cluster.start()
    assert_decided_once(stack.database_url, ids)  # by their scores, none by the fail policy
    assert not set(jobs) & set(failed.get_job_ids())
    redis.close()


def test_web_server_reloaded_and_restarted_under_load(stack):
    processes = stack.processes
    with Load(stack, "web", timeout=BOOT, retry=True) as load:
        wait_for(lambda: load.accepted_after(0) >= 10, 10, "no comment accepted before the reload")
        old = gunicorn_workers(processes)
        reloading = time.monotonic()
        processes.running["web"].send_signal(signal.SIGHUP)  # new workers boot; the old ones finish and go
        wait_for(lambda: replaced(processes, old), 30, "gunicorn did not replace its workers")
        wait_for(lambda: load.accepted_after(reloading) >= 10, BOOT * 2, "no 202 after the reload")

        stopping = time.monotonic()
        assert processes.stop("web") == 0, processes.tail("web")  # SIGTERM: in-flight requests finish
        time.sleep(1)  # nothing listens
        start_web(processes, stack.env, stack.directory, port=int(stack.base.rsplit(":", 1)[1]))
        wait_for(lambda: healthy(stack.base), BOOT * 2, "gunicorn did not start again")
        back = time.monotonic()
        wait_for(lambda: load.accepted_after(back) >= 10, 15, "no 202 after the restart")

    attempts = load.attempts
    reload = [attempt for attempt in attempts if reloading <= attempt.started and attempt.ended < stopping]
    print(summary(attempts), "; during the reload:", summary(reload))
    assert reload and all(attempt.status == 202 for attempt in reload), reload  # the reload refused nothing
    failed = [attempt for attempt in attempts if attempt.status != 202]
    assert all(attempt.status is None and attempt.answer in REFUSED for attempt in failed), failed
    assert all(stopping <= attempt.ended and attempt.started <= back for attempt in failed), failed
    accepted = load.accepted()
    assert set(accepted) == {attempt.key for attempt in attempts}  # each refused request got in when sent again
    for attempt in attempts:  # and one that got in twice was answered with its first comment
        assert attempt.status != 202 or attempt.answer["id"] == accepted[attempt.key]
    assert stored(stack.database_url, "web") == accepted
    assert_decided_once(stack.database_url, accepted.values())
    processes.check_alive()
