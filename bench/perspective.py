"""Benchmark: the Perspective-compatible API, POST /perspective/v1alpha1/comments:analyze (issue 8).

Starts the shape that serves it (bench/stack.py): gunicorn with deploy/gunicorn.conf.py (2
sync workers), ONE `python -m workers toxicity` (registered in RQ, its model loaded, before
any request), a private redis-server and a PostgreSQL database created for the run and
dropped after it (`--sqlite`: a SQLite file instead). Every request is Coral Talk's body —
{"comment": {"text"}, "doNotStore": true, "requestedAttributes": {"TOXICITY": {}},
"languages": ["en"]} — with the site's key in the query string, the text from
bench/corpus.py (news-site comments in Indonesian and English, benign, spam and toxic). The
site's quota is raised out of the way (each request is still counted in Redis); its time
budget stays the policy's default unless `--budget-ms` says otherwise. Three phases of
`--seconds` each, after a warm-up:

- closed loop, 10 clients: each sends its next request as soon as the last is answered;
- closed loop, 50 clients;
- open loop at `--rate` requests/s (default 50): request i is due at start + i / rate,
  whatever the server does, and its latency counts from when it was due, so a slow answer
  cannot hide behind a client that waited to send the next one.

Per phase: requests, the rate achieved, latency p50/p90/p99/max of every answer (a 503 too),
answers by status (any that is not a 200 with a TOXICITY score is listed), and the CPU each
process used. The issue's target (p50 < 20 ms, p99 < 100 ms at 50 requests/s) is judged on
the open loop. Exits 0 whatever it measured: failures are printed, not raised.

    .venv/bin/python bench/perspective.py [--seconds 30] [--rate 50] [--budget-ms 250]
        [--sqlite | --database-url URL] [--json PATH] [--keep-logs]
"""
import argparse
import collections
import concurrent.futures
import http.client
import json
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import psutil
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus  # noqa: E402
from bench.stack import (ROOT, SITE_SLUG, CpuMeter, Stack, cpu_seconds, machine_line,  # noqa: E402
                         markdown_table, percentile, run_and_report, thread_connection)
from moderation.policy import PerspectiveOptions  # noqa: E402

CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PATH = "/perspective/v1alpha1/comments:analyze"
WEB_WORKERS = 2  # deploy/gunicorn.conf.py's default
TARGET_RATE = 50
TARGET_P50_MS = 20.0
TARGET_P99_MS = 100.0
QUOTA = 1_000_000  # the policy's maximum: no request is refused, each is still counted
BODIES = 1_000  # distinct request bodies, cycled
OK = "200 with a TOXICITY score"
RESULT_TTL = 10  # seconds an analyze job's result (and a job saved again after deletion) lives


def coral_bodies(count: int) -> list[bytes]:
    """Coral Talk's analyze bodies for `count` comments of the corpus's mix (70 % benign,
    15 % spam, 15 % toxic; Indonesian and English), encoded once."""
    seen = collections.Counter()
    bodies = []
    for label in corpus.labels(count):
        texts = corpus.COMMENTS[label]
        text = texts[seen[label] % len(texts)]
        seen[label] += 1
        bodies.append(json.dumps({"comment": {"text": text}, "doNotStore": True,
                                  "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}).encode())
    return bodies


def set_perspective_options(stack: Stack, quota: int, budget_ms: int) -> None:
    """Give the site a policy with these Perspective options (the rest: defaults)."""
    from moderation import create_app
    from moderation.db import transaction
    from moderation.policy import Policy, set_policy
    from moderation.settings import Settings
    from moderation.sites import find_site

    app = create_app(Settings.from_env(stack.env))
    options = PerspectiveOptions(quota_per_minute=quota, time_budget_ms=budget_ms)
    with app.app_context(), transaction(app.extensions["sessions"]) as session:
        set_policy(session, find_site(session, SITE_SLUG), Policy(perspective=options), actor="bench")
    app.extensions["engine"].dispose()
    app.extensions["redis"].close()


# -- the client ----------------------------------------------------------------------------


class Client:
    """Analyze requests from threads, each with its own HTTP connection (gunicorn's sync
    workers close it after every answer; http.client opens a new one for the next request).
    An answer is (seconds since the phase began when sent, latency s, status, kind, language)."""

    def __init__(self, base: str, key: str, bodies: list[bytes]):
        self.address = urlsplit(base)
        self.path = f"{PATH}?key={quote(key, safe='')}"
        self.headers = {"Content-Type": "application/json"}
        self.bodies = bodies
        self.local = threading.local()

    def post(self, index: int) -> tuple[float, int | None, str, str | None]:
        """(latency s, status, kind, detected language) of one request."""
        connection = thread_connection(self.local, self.address)
        started = time.perf_counter()
        try:
            connection.request("POST", self.path, self.bodies[index % len(self.bodies)], self.headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            return time.perf_counter() - started, None, f"no answer: {type(error).__name__}", None
        latency = time.perf_counter() - started
        return (latency, response.status, *describe(response.status, raw))

    def closed_loop(self, clients: int, seconds: float) -> tuple[list[tuple], float]:
        """`clients` threads, each posting back to back for `seconds`; the answers and the
        seconds from the first send to the last answer."""
        answers, lock = [], threading.Lock()
        start = threading.Barrier(clients + 1)
        origin = {}

        def loop(n: int) -> None:
            mine, index = [], n
            start.wait()
            while (sent := time.monotonic()) < origin["t"] + seconds:
                latency, status, kind, language = self.post(index)
                mine.append((sent - origin["t"], latency, status, kind, language))
                index += clients
            with lock:
                answers.extend(mine)

        threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(clients)]
        for thread in threads:
            thread.start()
        origin["t"] = time.monotonic()
        start.wait()
        for thread in threads:
            thread.join()
        return answers, time.monotonic() - origin["t"]

    def open_loop(self, rate: float, seconds: float, connections: int,
                  give_up: float = 10.0) -> tuple[list[tuple], float]:
        """int(rate * seconds) requests, request i due at origin + i / rate, handed to a pool
        of `connections` threads; its latency counts from when it was due. One still unsent
        `give_up` s after it was due is dropped and counted."""
        answers = []
        origin = time.monotonic()

        def send(index: int, due: float) -> None:
            lag = time.monotonic() - due
            if lag > give_up:
                answers.append((due - origin, None, None, "client gave up (not sent)", None))
                return
            latency, status, kind, language = self.post(index)
            answers.append((due - origin, latency + lag, status, kind, language))

        with concurrent.futures.ThreadPoolExecutor(connections, thread_name_prefix="open") as pool:
            for index in range(int(rate * seconds)):
                due = origin + index / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(send, index, due)
        return answers, time.monotonic() - origin


def describe(status: int, raw: bytes) -> tuple[str, str | None]:
    """(the answer's kind, the detected language): OK for a 200 with a TOXICITY score in
    0..1, else 'HTTP 503 UNAVAILABLE: <message>' (Google's error shape) or what was wrong."""
    try:
        answer = json.loads(raw)
    except ValueError:
        return f"HTTP {status}, not JSON", None
    if status == 200:
        try:
            value = answer["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
            language = answer["detectedLanguages"][0]
        except (KeyError, IndexError, TypeError):
            return "HTTP 200 without a TOXICITY score", None
        ok = isinstance(value, (int, float)) and 0 <= value <= 1
        return (OK if ok else "HTTP 200 with a score outside 0..1"), language
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        return f"HTTP {status} {error.get('status')}: {error.get('message')}", None
    return f"HTTP {status}, not in Google's error shape", None


# -- a phase -------------------------------------------------------------------------------


class Meter:
    """CPU seconds of each of the stack's processes, of this client, and the machine's share
    busy, between start() and stop()."""

    def __init__(self, processes: dict[str, psutil.Process]):
        self.processes = processes
        self.client = psutil.Process()

    def _client_cpu(self) -> float:
        times = self.client.cpu_times()
        return times.user + times.system

    def start(self) -> "Meter":
        self.before = {name: cpu_seconds(process) for name, process in self.processes.items()}
        self.client_before = self._client_cpu()
        self.machine = CpuMeter().start()
        return self

    def stop(self, seconds: float) -> dict:
        shares = self.machine.stop(seconds)
        spent = {name: cpu_seconds(process) - self.before[name] for name, process in self.processes.items()}
        spent["client"] = self._client_cpu() - self.client_before
        return {"cpu_pct_of_core": {name: round(cpu / seconds * 100, 1) for name, cpu in spent.items()},
                "machine_busy_pct": round(shares["machine_busy_share"] * 100, 1),
                "other_processes_pct_of_machine": round(shares["other_processes_share"] * 100, 1),
                "worker_cpu_s": spent["toxicity worker"]}


def analyze_jobs(redis: Redis) -> int:
    """Analyze jobs (each holds its text) in Redis: a view deletes its job once it has the
    answer or gives up, but a job deleted while the worker ran it is saved again, text and
    all, when it finishes, for its result_ttl."""
    return sum(1 for _ in redis.scan_iter("rq:job:analyze-*", count=1000))


def summarize(name: str, answers: list[tuple], span: float, cpu: dict, jobs_left: int,
              offered_rate: float | None = None) -> dict:
    latencies = [answer[1] * 1000 for answer in answers if answer[1] is not None]
    scored = [answer[1] * 1000 for answer in answers if answer[3] == OK]
    kinds = collections.Counter(answer[3] for answer in answers)
    languages = collections.Counter(answer[4] for answer in answers if answer[4])
    worker_cpu = cpu.pop("worker_cpu_s")

    def stats(values: list[float]) -> dict:
        found = {"p50_ms": percentile(values, 50), "p90_ms": percentile(values, 90),
                 "p99_ms": percentile(values, 99), "max_ms": max(values, default=None)}
        return {key: None if value is None else round(value, 2) for key, value in found.items()}

    return {
        "phase": name,
        "requests": len(answers),
        "offered_rate": offered_rate,
        "achieved_rate": round(len(answers) / span, 1) if span else None,
        "scored_rate": round(kinds[OK] / span, 1) if span else None,
        "seconds": round(span, 2),
        "latency": stats(latencies),
        "latency_of_scored": stats(scored),
        "answers": dict(kinds.most_common()),
        "failures": {kind: count for kind, count in kinds.most_common() if kind != OK},
        "detected_languages": dict(languages),
        "analyze_jobs_in_redis_after": jobs_left,
        "worker_cpu_ms_per_score": round(worker_cpu * 1000 / kinds[OK], 2) if kinds[OK] else None,
        **cpu,
    }


def wait_quiet(redis: Redis, timeout: float = 15) -> None:
    """Until the toxicity queue is empty and its worker idle: the phases do not overlap."""
    from rq import Queue, Worker

    queue = Queue("toxicity", connection=redis)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not len(queue) and all(worker.get_state() != "busy" for worker in Worker.all(queue=queue)):
            return
        time.sleep(0.1)


def run(args) -> dict:
    database = None if args.sqlite else args.database_url
    with Stack(database, keep_logs=args.keep_logs) as stack:
        launched = time.monotonic()
        set_perspective_options(stack, QUOTA, args.budget_ms)
        worker = stack.start_worker("toxicity")
        web, base = stack.start_gunicorn("moderation:create_app()", "web", workers=WEB_WORKERS,
                                         extra=["-c", str(CONFIG)])
        print("waiting for the toxicity worker to load its model …", file=sys.stderr, flush=True)
        stack.wait_for_rq_workers({"toxicity": worker})
        ready = time.monotonic() - launched
        redis = Redis.from_url(stack.redis_url)
        client = Client(base, stack.key, coral_bodies(BODIES))
        processes = {f"gunicorn (master + {WEB_WORKERS} workers)": psutil.Process(web.pid),
                     "toxicity worker": psutil.Process(worker.pid),
                     "redis-server": psutil.Process(stack.redis_process.pid)}
        try:
            warm = [client.post(index) for index in range(args.warmup)]
            if not any(answer[2] == OK for answer in warm):
                raise SystemExit(f"no warm-up request was scored: {warm[:3]}\n{stack.tail('web')}")
            phases = []
            for name, clients in ((f"closed loop, {c} clients", c) for c in (10, 50)):
                wait_quiet(redis)
                print(f"{name}, {args.seconds:g} s …", file=sys.stderr, flush=True)
                meter = Meter(processes).start()
                answers, span = client.closed_loop(clients, args.seconds)
                phases.append(summarize(name, answers, span, meter.stop(span), jobs_left=analyze_jobs(redis)))
            wait_quiet(redis)
            name = f"open loop, {args.rate:g} requests/s"
            print(f"{name}, {args.seconds:g} s …", file=sys.stderr, flush=True)
            meter = Meter(processes).start()
            answers, span = client.open_loop(args.rate, args.seconds, args.connections)
            phases.append(summarize(name, answers, span, meter.stop(span), jobs_left=analyze_jobs(redis),
                                    offered_rate=args.rate))
            time.sleep(RESULT_TTL + 1)
            left = analyze_jobs(redis)
        finally:
            redis.close()
        storage = stack.describe_database()
    return {
        "settings": {"seconds": args.seconds, "rate": args.rate, "connections": args.connections,
                     "warmup": args.warmup, "budget_ms": args.budget_ms, "quota_per_minute": QUOTA,
                     "database": storage, "gunicorn_workers": WEB_WORKERS,
                     "toxicity_workers": 1, "bodies": BODIES},
        "results": {"ready_seconds": round(ready, 1), "analyze_jobs_left_in_redis": left, "phases": phases},
    }


# -- the report ----------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def target_met(phase: dict) -> bool:
    latency = phase["latency"]
    return (not phase["failures"] and latency["p50_ms"] is not None
            and latency["p50_ms"] < TARGET_P50_MS and latency["p99_ms"] < TARGET_P99_MS)


def report(info: dict, data: dict) -> str:
    s, r = data["settings"], data["results"]
    phases = r["phases"]
    open_loop = phases[-1]
    rows = []
    for phase in phases:
        latency = phase["latency"]
        is_target = phase is open_loop and s["rate"] == TARGET_RATE
        rows.append([
            phase["phase"], f"{phase['requests']:,}", f"{phase['achieved_rate']:.1f}",
            *(ms(latency[key]) for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
            f"{phase['answers'].get(OK, 0):,}", f"{sum(phase['failures'].values()):,}",
            ("✅ met" if target_met(phase) else "❌ missed") if is_target else "–",
        ])
    cpu_names = [*phases[0]["cpu_pct_of_core"]]
    cpu_rows = [[phase["phase"], *(f"{phase['cpu_pct_of_core'][name]:.0f}" for name in cpu_names),
                 f"{phase['other_processes_pct_of_machine']:.0f}", f"{phase['machine_busy_pct']:.0f}",
                 ms(phase["worker_cpu_ms_per_score"])] for phase in phases]
    failures = [f"- {phase['phase']}: " + "; ".join(f"{count:,} × {kind}" for kind, count in phase["failures"].items())
                for phase in phases if phase["failures"]]
    languages = "; ".join(f"{phase['phase']}: " + ", ".join(f"{code} {count:,}" for code, count in
                                                          sorted(phase["detected_languages"].items()))
                          for phase in phases)
    lines = [
        "### Perspective API: POST /perspective/v1alpha1/comments:analyze, one toxicity worker",
        "",
        f"{machine_line(info)}. **{info['nproc']} cores shared by everything**: this client, gunicorn "
        f"(deploy/gunicorn.conf.py, {s['gunicorn_workers']} sync workers), one `python -m workers toxicity` "
        f"(RQ SimpleWorker, ready {r['ready_seconds']:.0f} s after start), a private redis-server without "
        f"persistence and {s['database']}. "
        f"Coral Talk's body (`TOXICITY`, `doNotStore: true`, `languages: [\"en\"]`), key in the query string, "
        f"{s['bodies']:,} texts of bench/corpus.py cycled (Indonesian and English; benign, spam, toxic). "
        f"Site time budget {s['budget_ms']} ms; quota raised to {s['quota_per_minute']:,}/min (still counted). "
        f"{s['seconds']:g} s per phase after {s['warmup']} warm-up requests. A new TCP connection per request "
        "(gunicorn's sync workers close each). A sync worker is blocked while its view waits for the score, so at "
        f"most {s['gunicorn_workers']} analyze jobs are in flight; closed-loop clients beyond that "
        "wait in gunicorn's listen backlog, before the time budget starts. "
        "Latency: every answer, whatever its status; in the open loop "
        f"from when the request was due ({s['connections']} client threads).",
        "",
        markdown_table(["Phase", "Requests", "Req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", OK, "Other",
                        f"Target: p50 < {TARGET_P50_MS:g} ms, p99 < {TARGET_P99_MS:g} ms at {TARGET_RATE}/s"],
                       rows, align="lrrrrrrrrl"),
        "",
        "**Failures** (answers other than a 200 with a TOXICITY score):" if failures
        else "Every request was answered 200 with a TOXICITY score in 0..1.",
        *failures,
        "",
        "CPU, % of one core over each phase (PostgreSQL is among the other processes, as % of the whole "
        "machine); worker CPU per score is the toxicity worker's CPU over the answers scored:",
        "",
        markdown_table(["Phase", *cpu_names, "other processes (% machine)", "machine busy (%)",
                        "worker CPU ms / score"], cpu_rows),
        "",
        f"Detected languages (every request hinted \"en\"): {languages}.",
        "",
        "Analyze jobs (each with its text) in Redis right after each phase: " + ", ".join(
            f"{phase['analyze_jobs_in_redis_after']}" for phase in phases)
        + f"; {RESULT_TTL + 1} s after the last phase: {r['analyze_jobs_left_in_redis']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30, help="seconds per phase (default 30)")
    parser.add_argument("--rate", type=float, default=TARGET_RATE,
                        help=f"the open loop's requests per second (default {TARGET_RATE}, the issue's target)")
    parser.add_argument("--connections", type=int, default=32, help="the open loop's client threads (default 32)")
    parser.add_argument("--warmup", type=int, default=50, help="requests sent one by one first, not measured")
    parser.add_argument("--budget-ms", type=int, default=PerspectiveOptions().time_budget_ms,
                        help="the site's time budget per request (default: the policy's, "
                             f"{PerspectiveOptions().time_budget_ms} ms)")
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--database-url", default=POSTGRES_URL,
                         help="the PostgreSQL server to create (and drop) the run's database on")
    storage.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the processes' logs")
    args = parser.parse_args()
    if not (0 < args.seconds <= 600 and 0 < args.rate <= 2000 and 1 <= args.connections <= 256
            and 1 <= args.warmup <= 1000 and 50 <= args.budget_ms <= 4000):
        parser.error("--seconds in (0, 600], --rate in (0, 2000], --connections in [1, 256], "
                     "--warmup in [1, 1000], --budget-ms in [50, 4000]")
    run_and_report("perspective", run, report, args)


if __name__ == "__main__":
    main()
