"""Benchmark: submit-to-decision latency through the whole pipeline (SPEC §12).

Starts a private stack — redis-server, a fresh database, gunicorn (2 sync workers), one
`python -m workers spam` and one `python -m workers toxicity` — waits until both workers
are registered in RQ (their models loaded), warms up, then submits `--count` comments at
a fixed `--rate` (a mix of benign, spam and toxic comments in Indonesian and English) and
polls the database until every comment is decided or `--timeout` passes. The latency of a
comment is `decided_at - created_at` from the comments table. No sweeper runs.

    .venv/bin/python bench/pipeline.py [--count 500] [--rate 50] [--timeout 30]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--json bench/results/pipeline.json]
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
from urllib.parse import urlsplit

import psutil
from redis import Redis
from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus  # noqa: E402
from bench.stack import (CpuMeter, Stack, cpu_seconds, machine, machine_line, markdown_table, met,  # noqa: E402
                         percentile, thread_connection)
from moderation.tables import CHECKS, CheckResult, Comment  # noqa: E402

TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0


class Submitter:
    """POSTs comments from a few threads, each on its own connection; gunicorn's sync
    workers close it after each response and http.client opens a new one."""

    def __init__(self, base: str, auth: str, threads: int):
        self.address = urlsplit(base)
        self.headers = {"Content-Type": "application/json", "Authorization": auth}
        self.local = threading.local()
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="submit")

    def post(self, body: dict) -> dict:
        connection = thread_connection(self.local, self.address)
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/v1/comments", json.dumps(body).encode(), self.headers)
            response = connection.getresponse()
            answer = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            return {"status": None, "error": type(error).__name__, "latency": time.perf_counter() - started}
        latency = time.perf_counter() - started
        comment_id = json.loads(answer).get("id") if status == 202 else None
        return {"status": status, "id": comment_id, "latency": latency}

    def run(self, bodies: list[dict], rate: float) -> tuple[list[dict], float]:
        """Submit the bodies open-loop at `rate` per second; returns the answers in order
        and the seconds from the first send to the last."""
        started = time.monotonic()
        futures = []
        for index, body in enumerate(bodies):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(self.pool.submit(self.post, body))
        span = time.monotonic() - started  # first to last send: (n - 1) intervals
        answers = [future.result() for future in futures]
        return answers, span

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def comment_bodies(count: int, mix: dict[str, float], offset: int = 0) -> tuple[list[dict], list[str]]:
    labels = corpus.labels(count, mix)
    seen = collections.Counter()
    bodies = []
    for label in labels:
        bodies.append(corpus.payload(offset + seen[label], label))
        seen[label] += 1
    return bodies, labels


def count_decided(engine, ids: list[str]) -> int:
    decided = 0
    with engine.connect() as connection:
        for start in range(0, len(ids), 500):
            decided += connection.scalar(
                select(func.count()).select_from(Comment)
                .where(Comment.public_id.in_(ids[start:start + 500]), Comment.decided_at.is_not(None)))
    return decided


def wait_for_decisions(engine, ids: list[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    decided = count_decided(engine, ids)
    while decided < len(ids) and time.monotonic() < deadline:
        time.sleep(0.2)
        decided = count_decided(engine, ids)
    return decided


def read_outcomes(engine, ids: list[str]) -> tuple[dict, collections.Counter]:
    rows, checks = {}, collections.Counter()
    with engine.connect() as connection:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in connection.execute(
                    select(Comment.id, Comment.public_id, Comment.created_at, Comment.decided_at, Comment.status)
                    .where(Comment.public_id.in_(chunk))):
                rows[row.public_id] = row
            for check, jobs in connection.execute(
                    select(CheckResult.check, func.count()).join(Comment, Comment.id == CheckResult.comment_id)
                    .where(Comment.public_id.in_(chunk)).group_by(CheckResult.check)):
                checks[check] += jobs
    return rows, checks


def failed_jobs(redis_url: str) -> int:
    from rq import Queue
    from rq.registry import FailedJobRegistry

    client = Redis.from_url(redis_url)
    try:
        return sum(FailedJobRegistry(queue=Queue(check, connection=client)).count for check in CHECKS)
    finally:
        client.close()


def time_models(repeat: int = 20) -> dict[str, float]:
    """CPU ms of one `Model.score` call per check, in this process, over the corpus: the
    model's share of a check, next to the worker's whole cost per check."""
    from models.scoring import load_model

    texts = corpus.all_texts()
    costs = {}
    for check in CHECKS:
        model = load_model(check)
        model.score(texts[0])
        started = time.process_time()
        for _ in range(repeat):
            for text in texts:
                model.score(text)
        costs[check] = (time.process_time() - started) * 1000 / (repeat * len(texts))
    return costs


def measure_idle(processes: dict[str, psutil.Process], seconds: float) -> dict[str, float]:
    """CPU seconds per second each process spends with nothing to do (RQ heartbeats and
    scheduler, gunicorn's loops), to take out of the per-check and per-request figures."""
    if seconds <= 0:
        return dict.fromkeys(processes, 0.0)
    before = {name: cpu_seconds(process) for name, process in processes.items()}
    time.sleep(seconds)
    return {name: (cpu_seconds(process) - before[name]) / seconds for name, process in processes.items()}


def run(args) -> tuple[dict, dict]:
    info = machine()
    with Stack(args.database_url, keep_logs=args.keep_logs) as stack:
        launched = time.monotonic()
        stack.raise_flood_limits()
        roles = {role: stack.start_worker(role) for role in CHECKS}
        web, base = stack.start_gunicorn("moderation:create_app()", "gunicorn", workers=2)
        print("waiting for the RQ workers to load their models …", file=sys.stderr, flush=True)
        stack.wait_for_rq_workers(roles)
        load_seconds = time.monotonic() - launched
        engine = create_engine(stack.database_url)
        submitter = Submitter(base, stack.auth_header, args.clients)
        try:
            shares = zip(("benign", "spam", "toxic"), args.mix, strict=True)
            mix = {label: share / sum(args.mix) for label, share in shares}
            warm_bodies, _ = comment_bodies(args.warmup, mix, offset=10_000)
            warm, _ = submitter.run(warm_bodies, args.rate)
            warm_ids = [answer["id"] for answer in warm if answer.get("id")]
            if wait_for_decisions(engine, warm_ids, 60) < len(warm_ids):
                raise SystemExit(f"the warm-up comments were not decided within 60 s\n{stack.tail('worker-spam')}")

            processes = {role: psutil.Process(process.pid) for role, process in roles.items()}
            processes["web"] = psutil.Process(web.pid)
            idle = measure_idle(processes, args.idle)
            print(f"submitting {args.count} comments at {args.rate:g}/s …", file=sys.stderr, flush=True)
            spent = {name: cpu_seconds(process) for name, process in processes.items()}
            meter = CpuMeter().start()
            started = time.monotonic()
            bodies, labels = comment_bodies(args.count, mix)
            answers, submit_seconds = submitter.run(bodies, args.rate)
            ids = [answer["id"] for answer in answers if answer.get("id")]
            decided = wait_for_decisions(engine, ids, args.timeout)
            elapsed = time.monotonic() - started
            cpu = meter.stop(elapsed)
            # CPU the work cost: the processes' CPU over the run, less what they burn idle
            spent = {name: cpu_seconds(process) - spent[name] - idle[name] * elapsed
                     for name, process in processes.items()}
            rows, jobs = read_outcomes(engine, ids)
            if not rows:
                raise SystemExit(f"no comment was accepted: {answers[:3]}\n{stack.tail('gunicorn')}")
            failed = failed_jobs(stack.redis_url)
        finally:
            submitter.close()
            engine.dispose()
        database = stack.describe_database()

    latencies = [(row.decided_at - row.created_at).total_seconds() * 1000 for row in rows.values() if row.decided_at]
    first_created = min(row.created_at for row in rows.values())
    last_decided = max((row.decided_at for row in rows.values() if row.decided_at), default=first_created)
    window = (last_decided - first_created).total_seconds()
    outcomes = collections.defaultdict(collections.Counter)
    for label, answer in zip(labels, answers, strict=True):
        row = rows.get(answer.get("id"))
        outcomes[label][row.status if row else f"HTTP {answer['status']}"] += 1
    results = {
        "submitted": len(bodies),
        "accepted": len(ids),
        "http_errors": len(bodies) - len(ids),
        "offered_rate": args.rate,
        "achieved_rate": (len(bodies) - 1) / submit_seconds if submit_seconds > 0 else None,
        "submit_p50_ms": percentile([a["latency"] for a in answers], 50) * 1000,
        "submit_p99_ms": percentile([a["latency"] for a in answers], 99) * 1000,
        "decided": decided,
        "undecided": len(ids) - len(latencies),
        "decision_p50_ms": percentile(latencies, 50),
        "decision_p90_ms": percentile(latencies, 90),
        "decision_p99_ms": percentile(latencies, 99),
        "decision_max_ms": max(latencies, default=None),
        "decisions_per_second": len(latencies) / window if window > 0 else None,
        "worker_cpu_ms_per_check": {role: spent[role] * 1000 / jobs[role] if jobs[role] else None for role in CHECKS},
        "idle_cpu_ms_per_second": {name: rate * 1000 for name, rate in idle.items()},
        "checks_recorded": dict(jobs),
        "web_cpu_ms_per_request": spent["web"] * 1000 / max(1, len(bodies)),
        "failed_jobs": failed,
        "outcomes": {label: dict(counts) for label, counts in outcomes.items()},
        "model_load_seconds": load_seconds,
        "model_cpu_ms_per_score": time_models(),
        **cpu,
    }
    settings = {"count": args.count, "rate": args.rate, "timeout": args.timeout, "warmup": args.warmup,
                "mix": mix, "clients": args.clients, "idle_seconds": args.idle, "database": database,
                "gunicorn_workers": 2}
    return info, {"settings": settings, "results": results}


def report(info: dict, settings: dict, results: dict) -> tuple[str, dict]:
    p50, p99 = results["decision_p50_ms"], results["decision_p99_ms"]
    ms = lambda value: "–" if value is None else f"{value:.1f} ms"  # noqa: E731
    cpu = results["worker_cpu_ms_per_check"]
    outcomes = "; ".join(
        f"{label}: " + ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        for label, counts in results["outcomes"].items()
    )
    rows = [
        ["Comments submitted (HTTP 202)", f"{results['submitted']} at {settings['rate']:g}/s "
         f"(achieved {results['achieved_rate'] or 0:.1f}/s; {results['accepted']} accepted)", "", ""],
        ["Submit HTTP latency p50 / p99", f"{ms(results['submit_p50_ms'])} / {ms(results['submit_p99_ms'])}", "", ""],
        ["Submit-to-decision p50", ms(p50), f"< {TARGET_P50_MS:g} ms", met(p50 is not None and p50 < TARGET_P50_MS)],
        ["Submit-to-decision p99", ms(p99), f"< {TARGET_P99_MS:g} ms", met(p99 is not None and p99 < TARGET_P99_MS)],
        ["Submit-to-decision p90 / max", f"{ms(results['decision_p90_ms'])} / {ms(results['decision_max_ms'])}",
         "", ""],
        ["Decisions/s", f"{results['decisions_per_second']:.1f}" if results["decisions_per_second"] else "–", "", ""],
        [f"Undecided after {settings['timeout']:g} s", str(results["undecided"]), "0",
         met(results["undecided"] == 0)],
        ["Worker CPU per check, net of idle (spam / toxicity)", " / ".join(ms(cpu[check]) for check in CHECKS), "", ""],
        ["Model `score()` CPU per comment (spam / toxicity)",
         " / ".join(ms(results["model_cpu_ms_per_score"][check]) for check in CHECKS), "", ""],
        ["Web CPU per submission, net of idle", ms(results["web_cpu_ms_per_request"]), "", ""],
        ["Failed jobs (RQ failed registry)", str(results["failed_jobs"]), "0", met(results["failed_jobs"] == 0)],
        ["CPU busy: machine / others", f"{results['machine_busy_share']:.0%} / {results['other_processes_share']:.0%}",
         "", ""],
    ]
    mix = ", ".join(f"{share:.0%} {label}" for label, share in settings["mix"].items())
    lines = [
        f"### Pipeline: submit-to-decision latency at {settings['rate']:g} comments/s",
        "",
        f"{machine_line(info)}. gunicorn, 2 sync workers; one `python -m workers spam` and one "
        f"`python -m workers toxicity` (RQ SimpleWorker; models loaded and registered in RQ "
        f"{results['model_load_seconds']:.1f} s after start); "
        f"{settings['database']}; private redis-server without persistence; no sweeper. "
        f"{settings['count']} comments ({mix}; Indonesian and English) after {settings['warmup']} warm-up comments. "
        "Latency is `decided_at − created_at` from the comments table.",
        "",
        markdown_table(["Metric", "Measured", "Target", "Met"], rows, align="lrrl"),
        "",
        "*Worker CPU per check*: the worker process's CPU time during the run (RQ, database, model), less its "
        "idle CPU (measured for a few seconds before the run), over the checks it recorded; *model `score()`*: "
        "the same models timed alone in the benchmark process. At a moderate rate the processes idle between "
        "items, so each item runs with cold caches and costs more CPU than under saturation. "
        f"*Outcomes* — {outcomes}.",
    ]
    markdown = "\n".join(lines)
    data = {"benchmark": "pipeline", "machine": info, "settings": settings, "results": results,
            "targets": {"decision_p50_ms": f"< {TARGET_P50_MS:g}", "decision_p99_ms": f"< {TARGET_P99_MS:g}"},
            "markdown": markdown}
    return markdown, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="comments to submit (default 500)")
    parser.add_argument("--rate", type=float, default=50, help="comments per second (default 50)")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds to wait for decisions after the last submission (default 30)")
    parser.add_argument("--warmup", type=int, default=20, help="comments submitted and decided first, not measured")
    parser.add_argument("--idle", type=float, default=3,
                        help="seconds of idle CPU measured before the run, subtracted from the CPU figures (default 3)")
    parser.add_argument("--mix", type=float, nargs=3, default=[0.7, 0.15, 0.15], metavar=("BENIGN", "SPAM", "TOXIC"),
                        help="shares of benign, spam and toxic comments (default 0.7 0.15 0.15)")
    parser.add_argument("--clients", type=int, default=8, help="submitting threads (default 8)")
    parser.add_argument("--database-url",
                        help="a PostgreSQL server URL to create (and drop) a fresh database on; default SQLite")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the processes' logs")
    args = parser.parse_args()
    if not (1 <= args.count <= 100_000 and 0 < args.rate <= 5_000 and 0 < args.timeout <= 600
            and 0 <= args.warmup <= 1_000 and 0 <= args.idle <= 60 and 1 <= args.clients <= 64
            and args.count / args.rate <= 1_800
            and sum(args.mix) > 0 and min(args.mix) >= 0):
        parser.error("out of bounds: --count 1..100000, --rate ≤ 5000, --timeout ≤ 600, at most 30 min of submitting")
    try:
        info, outcome = run(args)
    except KeyboardInterrupt:
        print("interrupted; every process this benchmark started was stopped", file=sys.stderr)
        raise SystemExit(130) from None
    markdown, data = report(info, outcome["settings"], outcome["results"])
    print(markdown)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


if __name__ == "__main__":
    main()
