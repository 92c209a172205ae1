"""Benchmark: a soak of the production shape, with a check worker killed every minute (issue 7).

Starts what docker-compose.yml runs, as real processes (bench/stack.py): gunicorn with
deploy/gunicorn.conf.py (2 sync workers), 2 spam and 2 toxicity workers, a callbacks
worker and the scheduler, against a PostgreSQL database created for the run (dropped
after) and a private redis-server. Posts `--rate` realistic comments a second
(bench/corpus.py: Indonesian and English, benign, spam and toxic; a new author and address
for each) for `--minutes`. In the middle of every minute it SIGKILLs a check worker —
while it runs a job when it can catch one busy within a few seconds — and starts a new one
(spam and toxicity in turn; the other worker of each queue lives throughout). Like an
operator's Prometheus, it scrapes /metrics every `--scrape` seconds. Then it waits for the
queues to drain and every accepted comment to be decided, and prints: accepted, decided,
lost (accepted, never decided), duplicates (a second automated decision of a comment, a
second result of a check), submit-to-decision and 202 latencies, errors by kind, and each
process's RSS and CPU. Exits 1 if anything was lost or duplicated.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 100] [--scrape 15]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--json PATH]
"""
import argparse
import collections
import concurrent.futures
import http.client
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from redis import Redis
from rq import Worker
from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus  # noqa: E402
from bench.stack import (ROOT, CpuMeter, Stack, machine_line, markdown_table, met, percentile,  # noqa: E402
                         run_and_report, thread_connection)
from moderation import fleet  # noqa: E402
from moderation.decisions import ACTOR  # noqa: E402
from moderation.limits import MESSAGES  # noqa: E402
from moderation.tables import CHECKS, AuditEvent, CheckResult, Comment  # noqa: E402

CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LIMIT_SCOPES = {message: scope for scope, message in MESSAGES.items()}  # a 429's message -> which limit
MIX = corpus.labels(20)  # 14 benign, 3 spam, 3 toxic, interleaved
NOT_SARING = ("redis-server", "client (this process)")
GAVE_UP = "client gave up (not sent)"


def realistic_limits(steady_rate: float) -> dict[str, int]:
    """Flood limits for a site that receives `steady_rate` comments a second: the site's own
    at twice its steady minute, the policy's defaults per address and per author."""
    return {"per_site": int(2 * 60 * steady_rate), "per_ip": 10, "per_email": 5}


def reader_comment(index: int) -> dict:
    """The index-th comment of the mix, by a reader of its own (email and address)."""
    return corpus.payload(index, MIX[index % len(MIX)])


# -- the processes -------------------------------------------------------------------------


class Fleet:
    """The production shape's processes on a Stack: web, check workers, callbacks, scheduler."""

    def __init__(self, stack: Stack, per_queue: int = 2):
        self.stack = stack
        self.roles = {f"{check}-{n}": check for check in CHECKS for n in range(1, per_queue + 1)}
        self.roles.update(callbacks="callbacks", scheduler="scheduler")
        self.processes: dict[str, subprocess.Popen] = {}
        self.rq_names: dict[str, str] = {}
        self.redis = Redis.from_url(stack.redis_url)
        self.web = None
        self.base = ""

    def start(self, timeout: float = 300) -> float:
        """Start everything; returns the seconds until every worker had registered in RQ
        (models loaded) and the scheduler had swept once."""
        started = time.monotonic()
        for name, role in self.roles.items():
            self.processes[name] = self.stack.start_worker(role, name)
        self.web, self.base = self.stack.start_gunicorn("moderation:create_app()", "web", workers=2,
                                                        extra=["-c", str(CONFIG)])
        for name in self.roles:
            if name != "scheduler":
                self.wait_registered(name, started + timeout)
        while fleet.last_sweep(self.redis) is None:
            self.check_alive("scheduler")
            if time.monotonic() > started + timeout:
                self.stack._fail("scheduler", "the scheduler did not sweep")
            time.sleep(0.2)
        return time.monotonic() - started

    def check_alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            self.stack._fail(name, f"{name} exited with {process.returncode}")

    def wait_registered(self, name: str, deadline: float) -> None:
        suffix = f".{self.processes[name].pid}"
        while time.monotonic() < deadline:
            self.check_alive(name)
            for key in self.redis.smembers("rq:workers"):
                if key.decode().endswith(suffix):
                    self.rq_names[name] = key.decode().removeprefix("rq:worker:")
                    return
            time.sleep(0.1)
        self.stack._fail(name, f"{name} did not register in RQ")

    def kill_and_restart(self, name: str, catch_busy: float = 5.0) -> dict:
        """SIGKILL a worker (and the RQ scheduler it may have forked), preferably while it
        runs a job, and start a new one in its place."""
        key = f"rq:worker:{self.rq_names[name]}"
        deadline = time.monotonic() + catch_busy
        while self.redis.hget(key, "state") != b"busy" and time.monotonic() < deadline:
            time.sleep(0.001)
        process = self.processes[name]
        scheduler = bool(psutil.Process(process.pid).children())  # it runs its queue's RQ scheduler
        os.killpg(process.pid, signal.SIGKILL)  # the worker and its RQ scheduler, as when its container dies
        killed_at, wall = time.monotonic(), datetime.now(timezone.utc)
        process.wait(10)
        self.stack.stop(process)
        busy = self.redis.hget(key, "state") == b"busy"  # as the worker left it
        job = Worker.find_by_key(key, connection=self.redis).get_current_job_id() if busy else None
        self.processes[name] = self.stack.start_worker(self.roles[name], name)
        self.wait_registered(name, time.monotonic() + 300)
        return {"worker": name, "busy": busy, "job": job, "ran_scheduler": scheduler, "killed_at": wall,
                "restart_seconds": round(time.monotonic() - killed_at, 1)}

    def members(self) -> dict[str, psutil.Process]:
        """The processes to watch, by name: gunicorn's master and workers, every worker,
        redis-server and this client."""
        found = {}
        try:
            master = psutil.Process(self.web.pid)
            found["web master"] = master
            for n, child in enumerate(sorted(master.children(), key=lambda p: p.pid), 1):
                found[f"web worker {n}"] = child
        except psutil.NoSuchProcess:
            pass
        for name, process in self.processes.items():
            try:
                found[name] = worker = psutil.Process(process.pid)
                for child in worker.children():  # RQ's scheduler, forked by one worker per queue
                    found[f"{name} · RQ scheduler"] = child
            except psutil.NoSuchProcess:
                pass
        found["redis-server"] = psutil.Process(self.stack.redis_process.pid)
        found["client (this process)"] = psutil.Process()
        return found

    def close(self) -> None:
        self.redis.close()


class Sampler:
    """Every `interval` seconds, each process's RSS and CPU time, keyed by name and pid."""

    def __init__(self, fleet_: Fleet, interval: float):
        self.fleet, self.interval = fleet_, interval
        self.samples: list[tuple[float, dict[str, tuple[int, int, float]]]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.origin = time.monotonic()

    def sample(self) -> None:
        taken = {}
        for name, process in self.fleet.members().items():
            try:
                with process.oneshot():
                    if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped
                        continue
                    times = process.cpu_times()
                    taken[name] = (process.pid, process.memory_info().rss, times.user + times.system)
            except psutil.NoSuchProcess:
                pass
        self.samples.append((time.monotonic() - self.origin, taken))

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()

    def start(self) -> "Sampler":
        self.origin = time.monotonic()
        self.sample()
        self.thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sample()


class Scraper(threading.Thread):
    """GET /metrics every few seconds, as a Prometheus would (it also reads RQ's registries)."""

    def __init__(self, base: str, interval: float):
        super().__init__(daemon=True)
        self.url, self.interval = base + "/metrics", interval
        self.scrapes = self.failures = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while self.interval > 0 and not self.halt.wait(self.interval):
            try:
                urllib.request.urlopen(self.url, timeout=10).close()
                self.scrapes += 1
            except OSError:
                self.failures += 1


# -- the client ----------------------------------------------------------------------------


class Load:
    """Open-loop pacing: comment i is due at start + i / rate; a pacing loop hands each to a
    pool of `connections` threads, each with its own HTTP connection (gunicorn's sync workers
    close it after every answer). A comment still unsent `give_up` seconds after it was due
    is dropped and counted ("client gave up"): the server was saturated."""

    def __init__(self, base: str, auth: str, body, connections: int, give_up: float = 10.0):
        self.address = urlsplit(base)
        self.headers = {"Content-Type": "application/json", "Authorization": auth}
        self.body, self.connections, self.give_up = body, connections, give_up
        self.local = threading.local()
        self.answers: list[tuple] = []  # (due offset s, lag s, latency s, status, id or kind)
        self.halt = threading.Event()

    def post(self, index: int, due: float, origin: float) -> None:
        lag = time.monotonic() - due
        if lag > self.give_up:
            self.answers.append((due - origin, lag, None, None, GAVE_UP))
            return
        connection = thread_connection(self.local, self.address, timeout=30)
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/v1/comments", json.dumps(self.body(index)).encode(), self.headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            self.answers.append((due - origin, lag, time.perf_counter() - started, None, type(error).__name__))
            return
        latency = time.perf_counter() - started
        self.answers.append((due - origin, lag, latency, response.status, describe(response.status, raw)))

    def run(self, rate: float, seconds: float, first: int = 0) -> float:
        """Offer int(rate * seconds) comments numbered from `first`; returns the seconds from
        the first due time until the last answer."""
        origin = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(self.connections, thread_name_prefix="post") as pool:
            for n in range(int(rate * seconds)):
                due = origin + n / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if self.halt.is_set():
                    break
                pool.submit(self.post, first + n, due, origin)
        return time.monotonic() - origin

    def accepted(self) -> list[str]:
        return [answer[4] for answer in self.answers if answer[3] == 202]


def describe(status: int, raw: bytes) -> str:
    """A 202's comment id; else the answer's kind: 'HTTP 429 (site limit)', 'HTTP 503 storage_unavailable'."""
    try:
        answer = json.loads(raw)
    except ValueError:
        return f"HTTP {status} (not JSON)"
    if status == 202:
        return answer["id"]
    if status == 429:
        return f"HTTP 429 ({LIMIT_SCOPES.get(answer.get('message'), 'unknown')} limit)"
    return f"HTTP {status} {answer.get('error', '')}".strip()


def errors_by_kind(answers: list[tuple]) -> dict[str, int]:
    return dict(collections.Counter(answer[4] for answer in answers if answer[3] != 202).most_common())


class Progress(threading.Thread):
    """A line on stderr every 10 s: comments answered, accepted, other answers."""

    def __init__(self, load: Load, total: int):
        super().__init__(daemon=True)
        self.load, self.total, self.halt = load, total, threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.halt.wait(10):
            answers = list(self.load.answers)
            accepted = sum(answer[3] == 202 for answer in answers)
            print(f"  {time.monotonic() - started:5.0f} s: {len(answers):,}/{self.total:,} answered, "
                  f"{accepted:,} accepted, {len(answers) - accepted:,} other", file=sys.stderr, flush=True)


# -- the outcome ---------------------------------------------------------------------------


def undecided(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Comment).where(Comment.decided_at.is_(None)))


def queue_backlog(redis: Redis) -> int:
    """Check jobs waiting, running or waiting for a retry."""
    states = [q for q in fleet.queue_states(redis, minutes=1) if q.name in CHECKS]
    return sum(q.depth + q.started + q.scheduled for q in states)


def wait_for_drain(engine, redis: Redis, timeout: float, stall: float) -> float | None:
    """Wait until no comment is undecided and no check job waits, runs or is scheduled; the
    seconds it took, or None when that did not happen within `timeout`, or when neither
    count went down for `stall` seconds (the rest is stuck, not slow)."""
    started = progressed = time.monotonic()
    best = None
    while time.monotonic() - started < timeout and time.monotonic() - progressed < stall:
        left, backlog = undecided(engine), queue_backlog(redis)
        if left == 0 and backlog == 0:
            return time.monotonic() - started
        if best is None or left + backlog < best:
            best, progressed = left + backlog, time.monotonic()
        time.sleep(1)
    return None


def read_outcome(engine, redis: Redis, accepted: list[str], earlier: list[str] = ()) -> dict:
    """Accepted vs decided, duplicates, decision latencies (decided_at - created_at), over
    the comments `accepted`; `earlier` ones (a warm-up) only count among the rows expected."""
    with engine.connect() as connection:
        rows = {row.public_id: row for row in connection.execute(
            select(Comment.public_id, Comment.created_at, Comment.decided_at, Comment.status, Comment.reason))}
        decisions = select(AuditEvent.comment_id).where(AuditEvent.action == "transition", AuditEvent.actor == ACTOR) \
            .group_by(AuditEvent.comment_id).having(func.count() > 1).subquery()
        results = select(CheckResult.comment_id).group_by(CheckResult.comment_id, CheckResult.check) \
            .having(func.count() > 1).subquery()
        twice_decided = connection.scalar(select(func.count()).select_from(decisions))
        twice_checked = connection.scalar(select(func.count()).select_from(results))
    wanted = set(accepted)
    decided = [rows[i] for i in wanted if i in rows and rows[i].decided_at is not None]
    latencies = [(row.decided_at - row.created_at).total_seconds() for row in decided]
    failed = sum(q.failed for q in fleet.queue_states(redis, minutes=1) if q.name in CHECKS)
    window = (max(row.decided_at for row in decided) - min(row.created_at for row in decided)).total_seconds() \
        if decided else 0
    return {
        "accepted": len(wanted),
        "decided": len(decided),
        "lost": len(wanted) - len(decided),
        "missing_rows": len(wanted - set(rows)),
        "stored_without_202": len(set(rows) - wanted - set(earlier)),
        "undecided_rows": sum(row.decided_at is None for row in rows.values()),
        "duplicate_decisions": twice_decided,
        "duplicate_check_results": twice_checked,
        "decision_p50_s": percentile(latencies, 50),
        "decision_p99_s": percentile(latencies, 99),
        "decision_max_s": max(latencies, default=None),
        "decided_per_s": round(len(decided) / window, 1) if window else None,  # first submission to last decision
        "outcomes": dict(collections.Counter(f"{row.status}" + (f" ({row.reason})" if row.reason else "")
                                             for row in decided).most_common()),
        "fail_policy_decisions": sum(row.reason == "check_failed" for row in decided),
        "lost_ids": sorted(wanted - {row.public_id for row in decided}),
        "failed_jobs": failed,
        "latency_of": {public_id: (rows[public_id].decided_at - rows[public_id].created_at).total_seconds()
                       for public_id in wanted if public_id in rows and rows[public_id].decided_at},
    }


def explain_lost(engine, redis: Redis, lost: list[str]) -> dict:
    """Where the missing checks of undecided comments are: each one's RQ job status (and how
    overdue a scheduled one is), and which queues have an RQ scheduler (its lock) now."""
    found = collections.Counter()
    with engine.connect() as connection:
        for public_id in lost[:1000]:
            done = set(connection.scalars(select(CheckResult.check).join(Comment, Comment.id == CheckResult.comment_id)
                                          .where(Comment.public_id == public_id)))
            for check in CHECKS:
                if check in done:
                    continue
                job_id = f"{check}-{public_id}"
                status = redis.hget(f"rq:job:{job_id}", "status")
                due = redis.zscore(f"rq:scheduled:{check}", job_id)
                late = f", due {time.time() - due:.0f} s ago" if due else ""
                found[f"{check}: {status.decode() if status else 'no job'}{late}"] += 1
    locks = {queue: bool(redis.exists(f"rq:scheduler-lock:{queue}")) for queue in fleet.QUEUES}
    return {"missing_checks": dict(found), "rq_scheduler_running": locks}


def follow_kills(engine, kills: list[dict]) -> None:
    """For each job a kill interrupted: when its check's result was recorded, relative to the
    kill (negative: committed before the kill, which came before RQ marked the job done),
    and when its comment was decided."""
    with engine.connect() as connection:
        for kill in kills:
            if not kill["job"]:
                continue
            check, public_id = kill["job"].split("-", 1)
            row = connection.execute(
                select(CheckResult.created_at, Comment.decided_at).join(Comment, Comment.id == CheckResult.comment_id)
                .where(Comment.public_id == public_id, CheckResult.check == check)).first()
            since = lambda at: None if at is None else round((at - kill["killed_at"]).total_seconds(), 1)  # noqa: E731
            kill["result_after_kill_s"] = since(row.created_at) if row else None
            kill["decided_after_kill_s"] = since(row.decided_at) if row else None


def latency_summary(answers: list[tuple]) -> dict:
    latencies = [answer[2] for answer in answers if answer[3] == 202]
    return {"p50_ms": ms(percentile(latencies, 50)), "p99_ms": ms(percentile(latencies, 99)),
            "max_ms": ms(max(latencies, default=None))}


def timeline(answers: list[tuple], latency_of: dict[str, float], bucket: float) -> list[dict]:
    """Per `bucket` seconds of the load (by when each comment was due): comments answered and
    accepted, and the p50 / p99 of the 202 latency and of submit-to-decision."""
    slots = collections.defaultdict(list)
    for answer in answers:
        slots[int(answer[0] // bucket)].append(answer)
    rows = []
    for slot, group in sorted(slots.items()):
        http_ = [a[2] for a in group if a[3] == 202]
        decided = [latency_of[a[4]] for a in group if a[3] == 202 and a[4] in latency_of]
        rows.append({"from_s": slot * bucket, "answered": len(group), "accepted": len(http_),
                     "http_p50_ms": ms(percentile(http_, 50)), "http_p99_ms": ms(percentile(http_, 99)),
                     "decision_p50_s": percentile(decided, 50), "decision_p99_s": percentile(decided, 99)})
    return rows


def decision_rows(r: dict) -> list[list[str]]:
    """The rows every load benchmark reports on what became of the accepted comments: lost,
    duplicated, how long to a decision, decisions a second."""
    return [
        ["Lost (accepted, never decided)", f"{r['lost']:,}", "0", met(r["lost"] == 0)],
        ["Duplicates: a 2nd automated decision / a 2nd check result",
         f"{r['duplicate_decisions']} / {r['duplicate_check_results']}", "0 / 0",
         met(r["duplicate_decisions"] == r["duplicate_check_results"] == 0)],
        ["Submit-to-decision p50 / p99 / max", " / ".join(sec(r[f"decision_{p}_s"]) for p in ("p50", "p99", "max")),
         "", ""],
        ["Decisions/s, first submission to last decision", f"{r['decided_per_s'] or 0:.1f}", "", ""],
    ]


def sec(value: float | None) -> str:
    """Seconds as text: '340 ms', '12.5 s', '–' for none."""
    return "–" if value is None else (f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s")


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def memory(samples: list, warm_at: float) -> dict[str, dict]:
    """Per process: RSS at the first sample, after warm-up (the first sample at or after
    `warm_at` s) and at the last; growth from warm-up to the end; CPU over the samples."""
    first, last = samples[0], samples[-1]
    warm = next((s for s in samples if s[0] >= warm_at), last)
    table = {}
    for name, (pid, rss, cpu) in last[1].items():
        mine = [(t, taken[name]) for t, taken in samples if name in taken and taken[name][0] == pid]
        (t0, (_, _, cpu0)) = mine[0]
        restarted = any(name in taken and taken[name][0] != pid for _, taken in samples)
        baseline = warm[1].get(name)
        same = baseline is not None and baseline[0] == pid
        table[name] = {
            "pid": pid,
            "restarted": restarted,
            "rss_start_mb": mb(first[1][name][1]) if name in first[1] else None,
            "rss_warm_mb": mb(baseline[1]) if baseline else None,
            "rss_end_mb": mb(rss),
            "growth_pct": round((rss / baseline[1] - 1) * 100, 1) if same else None,
            "cpu_pct_of_core": round((cpu - cpu0) / (last[0] - t0) * 100, 1) if last[0] > t0 else None,
        }
    return {"warm_at_s": round(warm[0], 1), "end_at_s": round(last[0], 1), "processes": table}


def mb(value: int) -> float:
    return round(value / 2**20, 1)


# -- the run -------------------------------------------------------------------------------


def kill_every_minute(shape: Fleet, seconds: float, origin: float, load: threading.Thread) -> list[dict]:
    """At the middle of each minute of the load, SIGKILL spam-1 or toxicity-1 (in turn) and
    start a new one. Runs in the main thread: a child's parent-death signal fires when the
    thread that started it ends."""
    kills = []
    for minute, at in enumerate(range(30, int(seconds), 60)):
        while time.monotonic() < origin + at and load.is_alive():
            time.sleep(0.2)
        if not load.is_alive():
            break
        name = f"{CHECKS[minute % len(CHECKS)]}-1"
        kill = shape.kill_and_restart(name)
        kill["at_s"] = at
        kills.append(kill)
        print(f"  killed {name} ({'mid-job ' + (kill['job'] or '(id not read)') if kill['busy'] else 'idle'}); "
              f"a new one registered {kill['restart_seconds']} s later", file=sys.stderr, flush=True)
    return kills


def run(args) -> dict:
    seconds = args.minutes * 60
    total = int(args.rate * seconds)
    limits = realistic_limits(args.rate)
    with Stack(args.database_url, keep_logs=args.keep_logs) as stack:
        stack.set_flood_limits(**limits)
        shape = Fleet(stack)
        engine = create_engine(stack.database_url)
        threads = []
        try:
            print("starting gunicorn, 4 check workers, callbacks and the scheduler …", file=sys.stderr, flush=True)
            ready_seconds = shape.start()
            load = Load(shape.base, stack.auth_header, reader_comment, args.connections)
            span = {}
            loader = threading.Thread(target=lambda: span.setdefault("s", load.run(args.rate, seconds)), daemon=True)
            scraper, progress = Scraper(shape.base, args.scrape), Progress(load, total)
            threads = [scraper, progress, load]
            sampler = Sampler(shape, args.sample).start()
            print(f"offering {total:,} comments at {args.rate:g}/s for {args.minutes:g} min …", file=sys.stderr,
                  flush=True)
            usage, meter = resource.getrusage(resource.RUSAGE_SELF), CpuMeter().start()
            origin = time.monotonic()
            for thread in (loader, scraper, progress):
                thread.start()
            kills = kill_every_minute(shape, seconds, origin, loader)
            loader.join()
            span = span["s"]
            cpu = meter.stop(span)
            after = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
            progress.halt.set()
            sampler.finish()
            print(f"load done; waiting for the queues to drain (until nothing moves for {args.stall:g} s) …",
                  file=sys.stderr, flush=True)
            drain = wait_for_drain(engine, shape.redis, args.drain_timeout, args.stall)
            outcome = read_outcome(engine, shape.redis, load.accepted())
            outcome["lost_explained"] = explain_lost(engine, shape.redis, outcome["lost_ids"])
            follow_kills(engine, kills)
        finally:
            for thread in threads:
                thread.halt.set()
            engine.dispose()
            shape.close()
        database = stack.describe_database()
    latency_of = outcome.pop("latency_of")
    answers = load.answers
    return {
        "settings": {"minutes": args.minutes, "rate": args.rate, "connections": args.connections,
                     "scrape_seconds": args.scrape, "sample_seconds": args.sample, "flood_limits": limits,
                     "database": database, "drain_timeout": args.drain_timeout, "stall": args.stall},
        "results": {
            "offered": total, "answered": len(answers), "span_s": round(span, 1),
            "sent_rate": round(len(answers) / span, 1) if span else None,
            "ready_seconds": round(ready_seconds, 1),
            **outcome,
            "drain_s": None if drain is None else round(drain, 1),
            "http_202": latency_summary(answers),
            "errors": errors_by_kind(answers),
            "kills": kills,
            "per_minute": timeline(answers, latency_of, 60),
            "per_10_seconds": timeline(answers, latency_of, 10),
            "scrapes": scraper.scrapes, "scrape_failures": scraper.failures,
            "client_cpu_pct_of_core": round(client_cpu / span * 100, 1),
            "memory": memory(sampler.samples, min(60.0, seconds / 2)),
            **cpu,
        },
    }


def report(info: dict, data: dict) -> str:
    s, r = data["settings"], data["results"]
    kills = r["kills"]
    killed_jobs = [k for k in kills if k["job"]]
    schedulers = [k for k in kills if k["ran_scheduler"]]
    retried = [k for k in killed_jobs if (k["result_after_kill_s"] or 0) > 0]
    errors = ", ".join(f"{count:,} {kind}" for kind, count in r["errors"].items()) or "none"
    http = r["http_202"]
    rows = [
        ["Comments offered / answered", f"{r['offered']:,} at {s['rate']:g}/s / {r['answered']:,} "
         f"(sent at {r['sent_rate']:.1f}/s)", "", ""],
        ["Accepted (202)", f"{r['accepted']:,}", "", ""],
        ["Decided", f"{r['decided']:,} " + (f"(queues drained {r['drain_s']:.0f} s after the load)"
                                             if r["drain_s"] is not None
                                             else "(not drained: stuck or out of time)"), "", ""],
        *decision_rows(r),
        ["202 latency p50 / p99 / max", f"{http['p50_ms']} / {http['p99_ms']} / {http['max_ms']} ms", "", ""],
        ["Other answers and errors", errors, "", ""],
        ["Check workers SIGKILLed: in all / mid-job / running their queue's RQ scheduler / job retried after",
         f"{len(kills)} / {len(killed_jobs)} / {len(schedulers)} / {len(retried)}", "", ""],
        ["Killed jobs retried: result recorded after the kill", ", ".join(
            sec(k["result_after_kill_s"]) for k in retried) or "–", "", ""],
        ["Decided by the fail policy / failed jobs left", f"{r['fail_policy_decisions']} / {r['failed_jobs']}", "", ""],
        ["Client CPU (pacing, HTTP, sampling)", f"{r['client_cpu_pct_of_core']:.0f} % of one core", "", ""],
        ["CPU busy: machine / other processes (PostgreSQL among them) / stolen by the hypervisor",
         f"{r['machine_busy_share']:.0%} / {r['other_processes_share']:.0%} / {r['steal_share']:.0%}", "", ""],
    ]
    memory_ = r["memory"]
    mem_rows = []
    for name, p in memory_["processes"].items():
        growth = "new process (restarted)" if p["restarted"] else (
            "–" if p["growth_pct"] is None else f"{p['growth_pct']:+.1f} %")
        mem_rows.append([name, *("–" if p[k] is None else p[k]
                                 for k in ("rss_start_mb", "rss_warm_mb", "rss_end_mb")), growth,
                         "–" if p["cpu_pct_of_core"] is None else p["cpu_pct_of_core"]])
    long_lived = [p for name, p in memory_["processes"].items()
                  if name not in NOT_SARING and not p["restarted"] and p["growth_pct"] is not None]
    worst = max((p["growth_pct"] for p in long_lived), default=None)
    outcomes = ", ".join(f"{count:,} {kind}" for kind, count in r["outcomes"].items())
    lost_detail = "; ".join(f"{count} × {kind}" for kind, count in r["lost_explained"]["missing_checks"].items())
    schedulers_now = ", ".join(f"{queue} {'yes' if on else 'NO'}"
                               for queue, on in r["lost_explained"]["rq_scheduler_running"].items())
    limits = s["flood_limits"]
    lines = [
        f"### Soak: {s['rate']:g} comments/s for {s['minutes']:g} min, a check worker SIGKILLed every minute",
        "",
        f"{machine_line(info)}. gunicorn with deploy/gunicorn.conf.py (2 sync workers), 2 spam and 2 toxicity "
        f"workers, a callbacks worker and the scheduler (ready {r['ready_seconds']:.0f} s after start), "
        f"{s['database']} on the same cores, private redis-server without persistence. Comments from "
        f"bench/corpus.py (70 % benign, 15 % spam, 15 % toxic; Indonesian and English), each by a new author "
        f"from a new address, paced open-loop by {s['connections']} client threads. Flood limits per minute: "
        f"site {limits['per_site']:,}, address {limits['per_ip']}, author {limits['per_email']}. At the middle "
        f"of each minute a check worker (spam-1 and toxicity-1 in turn) is SIGKILLed — while busy with a job "
        f"when one is caught within 5 s — and a new one started. /metrics scraped every {s['scrape_seconds']:g} s "
        f"({r['scrapes']} scrapes). Latency to decision is `decided_at − created_at` in the database.",
        "",
        markdown_table(["Metric", "Measured", "Target", "Met"], rows, align="lrrl"),
        "",
        f"Outcomes: {outcomes}.",
        "",
        *([f"Lost comments' missing checks (RQ job status): {lost_detail}. RQ scheduler running per queue now: "
           f"{schedulers_now}.", ""] if r["lost"] else []),
        "Per minute of the load (by when each comment was due), submit-to-decision p50 / p99: "
        + "; ".join(f"{row['from_s'] / 60 + 1:.0f}: {sec(row['decision_p50_s'])} / {sec(row['decision_p99_s'])}"
                    for row in r["per_minute"]) + ".",
        "",
        f"RSS in MB at the start of the load, after warm-up (t = {memory_['warm_at_s']:.0f} s) and at the end "
        f"(t = {memory_['end_at_s']:.0f} s); growth is end vs after warm-up, for processes that lived throughout; "
        "CPU is the process's share of one core over the load (a restarted worker's: its last life's). "
        "redis-server keeps each finished job for an hour (`result_ttl`), so its RSS grows with the jobs done: "
        "data, not a leak; it and the client are not held to the target.",
        "",
        markdown_table(["Process", "RSS start", "RSS warm", "RSS end", "Growth", "CPU %"], mem_rows),
        "",
        markdown_table(["Target", "Measured", "Met"], [
            ["No RSS growth beyond 10 % (Saring's long-lived processes, warm → end)",
             "–" if worst is None else f"max {worst:+.1f} %", met(worst is not None and worst <= 10)],
        ], align="lrl"),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10, help="minutes of load (default 10)")
    parser.add_argument("--rate", type=float, default=100, help="comments per second (default 100)")
    parser.add_argument("--connections", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--scrape", type=float, default=15, help="seconds between /metrics scrapes; 0: none")
    parser.add_argument("--sample", type=float, default=10, help="seconds between RSS samples (default 10)")
    parser.add_argument("--drain-timeout", type=float, default=3600,
                        help="seconds to wait at most for every comment to be decided after the load (default 3600)")
    parser.add_argument("--stall", type=float, default=240,
                        help="stop waiting when nothing was decided for this long (default 240 s: more than RQ's "
                             "90 s before it retries a killed worker's job)")
    parser.add_argument("--database-url", default=POSTGRES_URL,
                        help="the PostgreSQL server to create (and drop) the run's database on")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the processes' logs")
    args = parser.parse_args()
    if not (0 < args.minutes <= 24 * 60 and 0 < args.rate <= 5000 and 1 <= args.connections <= 256):
        parser.error("--minutes in (0, 1440], --rate in (0, 5000], --connections in [1, 256]")
    data = run_and_report("soak", run, report, args)
    r = data["results"]
    if r["lost"] or r["duplicate_decisions"] or r["duplicate_check_results"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
