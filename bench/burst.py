"""Benchmark: a burst of 20 times the steady rate against the production shape (issue 7).

The same stack as bench/soak.py (gunicorn with deploy/gunicorn.conf.py, 2 spam and 2
toxicity workers, callbacks, scheduler, a fresh PostgreSQL database, a private
redis-server), with a site policy's flood limits set as a site with a steady 100
comments/s would set them (bench/soak.py `realistic_limits`: 12,000 a minute for the site,
the defaults of 10 per address and 5 per author). After a short warm-up it offers `--rate`
comments a second (default 2,000) for `--seconds` (default 30), open-loop, from
`--connections` client threads. Most comments come from readers with an address and
email of their own; a share (`--bots`) from 20 bots, half posting from one address each
under ever new emails, half under one email each from ever new addresses, their spam
varied so that none is a duplicate.

Every answer must be 202 or 429: it counts each status, each 429 by the limit that gave it
(its message), and lists anything else. While the burst lasts and afterwards it samples
the queues from Redis (moderation.fleet.queue_states) twice a second: depth and the age
of the oldest waiting job. Then it waits for the queues to drain and compares accepted
with decided (lost must be 0) and counts duplicates. Exits 1 on an answer other than 202
or 429, a lost comment or a duplicate.

    .venv/bin/python bench/burst.py [--seconds 30] [--rate 2000] [--connections 64] [--bots 0.1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--json PATH]
"""
import argparse
import collections
import resource
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus  # noqa: E402
from bench.soak import (  # noqa: E402
    GAVE_UP, POSTGRES_URL, Fleet, Load, Progress, decision_rows, explain_lost, latency_summary, ms, read_outcome,
    reader_comment, realistic_limits, sec, timeline, wait_for_drain,
)
from bench.stack import CpuMeter, Stack, machine_line, markdown_table, met, percentile, run_and_report  # noqa: E402
from moderation import fleet  # noqa: E402
from moderation.tables import CHECKS  # noqa: E402

BOTS = 20
WARMUP = 20  # comments, at 10/s, decided before the burst


def burst_comment(bots: float):
    """The i-th comment of the burst: a reader's, or every 1/bots-th a bot's."""
    every = round(1 / bots) if bots else 0
    spam = corpus.COMMENTS["spam"]

    def body(index: int) -> dict:
        if not every or index % every != every - 1:
            return reader_comment(index)
        bot = index // every % BOTS
        data = corpus.payload(index, "spam", f"{spam[bot % len(spam)]} #{index}")
        if bot % 2 == 0:
            data["user_ip"] = f"10.255.0.{bot}"  # one address, a new email each time
        else:
            data["author_email"] = f"promo{bot}@example.biz"  # one author, a new address each time
        return data

    return body


class QueueWatch(threading.Thread):
    """Samples every queue's depth and oldest-job age from Redis twice a second."""

    def __init__(self, redis):
        super().__init__(daemon=True)
        self.redis, self.halt = redis, threading.Event()
        self.origin = time.monotonic()
        self.samples: list[tuple[float, dict]] = []

    def run(self) -> None:
        while not self.halt.wait(0.5):
            states = fleet.queue_states(self.redis, minutes=1)
            self.samples.append((time.monotonic() - self.origin,
                                 {q.name: (q.depth, q.oldest_age or 0.0) for q in states if q.name in CHECKS}))

    def peaks(self, until: float | None = None) -> dict[str, dict]:
        """Per check queue, the largest depth and oldest-job age seen (up to `until` s)."""
        chosen = [taken for t, taken in self.samples if until is None or t <= until]
        return {check: {"max_depth": max((s[check][0] for s in chosen), default=0),
                        "max_oldest_age_s": round(max((s[check][1] for s in chosen), default=0.0), 1)}
                for check in CHECKS}


def run(args) -> dict:
    limits = realistic_limits(args.steady)
    if args.per_site is not None:
        limits["per_site"] = args.per_site
    offered = int(args.rate * args.seconds)
    with Stack(args.database_url, keep_logs=args.keep_logs) as stack:
        stack.set_flood_limits(**limits)
        shape = Fleet(stack)
        engine = create_engine(stack.database_url)
        watch = progress = None
        try:
            print("starting gunicorn, 4 check workers, callbacks and the scheduler …", file=sys.stderr, flush=True)
            ready_seconds = shape.start()
            warm = Load(shape.base, stack.auth_header, reader_comment, 4)
            warm.run(10, WARMUP / 10, first=10_000_000)
            if wait_for_drain(engine, shape.redis, 120, 120) is None:
                raise SystemExit(f"the warm-up comments were not decided in 120 s: {warm.answers[:3]}")
            load = Load(shape.base, stack.auth_header, burst_comment(args.bots), args.connections,
                        give_up=args.give_up)
            watch, progress = QueueWatch(shape.redis), Progress(load, offered)
            print(f"offering {offered:,} comments at {args.rate:g}/s for {args.seconds:g} s …", file=sys.stderr,
                  flush=True)
            usage, meter = resource.getrusage(resource.RUSAGE_SELF), CpuMeter().start()
            watch.start()
            progress.start()
            span = load.run(args.rate, args.seconds)
            cpu = meter.stop(span)
            after = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
            progress.halt.set()
            burst_end = time.monotonic() - watch.origin
            print(f"burst answered in {span:.1f} s; waiting for the queues to drain …", file=sys.stderr, flush=True)
            drain = wait_for_drain(engine, shape.redis, args.drain_timeout, args.stall)
            watch.halt.set()
            watch.join()
            outcome = read_outcome(engine, shape.redis, load.accepted(), earlier=warm.accepted())
            outcome["lost_explained"] = explain_lost(engine, shape.redis, outcome["lost_ids"])
        finally:
            for thread in (watch, progress):
                if thread is not None:
                    thread.halt.set()
            engine.dispose()
            shape.close()
        database = stack.describe_database()
    latency_of = outcome.pop("latency_of")
    answers = load.answers
    statuses = collections.Counter(answer[3] for answer in answers)
    kinds = collections.Counter(answer[4] for answer in answers if answer[3] != 202)
    offer_to_answer = [answer[1] + answer[2] for answer in answers if answer[3] == 202]
    accepted_span = max((a[0] + a[1] + a[2] for a in answers if a[3] == 202), default=0.0)
    return {
        "settings": {"rate": args.rate, "seconds": args.seconds, "connections": args.connections,
                     "bots": args.bots, "bot_count": BOTS, "give_up_s": args.give_up, "flood_limits": limits,
                     "steady_rate": args.steady, "database": database, "warmup_comments": WARMUP,
                     "drain_timeout": args.drain_timeout, "stall": args.stall},
        "results": {
            "offered": offered, "answered": sum(1 for a in answers if a[3] is not None),
            "span_s": round(span, 1), "ready_seconds": round(ready_seconds, 1),
            "statuses": {str(status): count for status, count in statuses.most_common()},
            "answers_by_kind": dict(kinds.most_common()),
            "only_202_or_429": all(status in (202, 429) for status in statuses if status is not None),
            "client_errors": sum(count for kind, count in kinds.items()
                                 if not kind.startswith("HTTP ") and kind != GAVE_UP),
            "accepted_per_s": round(statuses[202] / accepted_span, 1) if accepted_span else None,
            "http_202": latency_summary(answers),
            "offer_to_202_p50_ms": ms(percentile(offer_to_answer, 50)),
            "offer_to_202_p99_ms": ms(percentile(offer_to_answer, 99)),
            "max_client_lag_s": round(max((a[1] for a in answers), default=0.0), 2),
            "queues_during_burst": watch.peaks(burst_end),
            "queues_overall": watch.peaks(),
            "drain_s": None if drain is None else round(drain, 1),
            **outcome,
            "per_5_seconds": timeline(answers, latency_of, 5),
            "client_cpu_pct_of_core": round(client_cpu / span * 100, 1),
            **cpu,
        },
    }


def report(info: dict, data: dict) -> str:
    s, r = data["settings"], data["results"]
    kinds = r["answers_by_kind"]
    refused = {kind.removeprefix("HTTP 429 (").removesuffix(" limit)"): n for kind, n in kinds.items()
               if kind.startswith("HTTP 429")}
    others = {kind: n for kind, n in kinds.items() if not kind.startswith("HTTP 429")}
    gave_up = others.pop(GAVE_UP, 0)
    limits = s["flood_limits"]
    q_burst, q_all = r["queues_during_burst"], r["queues_overall"]
    http = r["http_202"]
    rows = [
        ["Comments offered", f"{r['offered']:,} at {s['rate']:,.0f}/s for {s['seconds']:g} s", "", ""],
        ["Answered (sent and answered) / not sent (client waited > "
         f"{s['give_up_s']:g} s for a free connection)", f"{r['answered']:,} / {gave_up:,}", "", ""],
        ["202 accepted", f"{r['statuses'].get('202', 0):,} ({r['accepted_per_s'] or 0:,.0f}/s while answering)",
         "", ""],
        ["429 refused, by limit", f"{r['statuses'].get('429', 0):,} ("
         + (", ".join(f"{scope} {n:,}" for scope, n in refused.items()) or "none") + ")", "", ""],
        ["Any other answer or error", ", ".join(f"{n:,} {kind}" for kind, n in others.items()) or "none", "none",
         met(not others)],
        ["202 latency p50 / p99 / max (send → answer)",
         f"{http['p50_ms']} / {http['p99_ms']} / {http['max_ms']} ms", "", ""],
        ["Offer → 202 p50 / p99 (with the wait for a free client connection)",
         f"{r['offer_to_202_p50_ms']} / {r['offer_to_202_p99_ms']} ms", "", ""],
        ["Queue depth max, spam / toxicity (during the burst)",
         f"{q_burst['spam']['max_depth']:,} / {q_burst['toxicity']['max_depth']:,}", "", ""],
        ["Oldest-job age max, spam / toxicity: during the burst; ever",
         f"{sec(q_burst['spam']['max_oldest_age_s'])} / {sec(q_burst['toxicity']['max_oldest_age_s'])}; "
         f"{sec(q_all['spam']['max_oldest_age_s'])} / {sec(q_all['toxicity']['max_oldest_age_s'])}", "", ""],
        ["Time to drain after the burst", sec(r["drain_s"]) if r["drain_s"] is not None
         else "not drained: stuck or out of time", "", ""],
        ["Accepted / decided", f"{r['accepted']:,} / {r['decided']:,}", "", ""],
        *decision_rows(r),
        ["Decided by the fail policy / failed jobs left", f"{r['fail_policy_decisions']} / {r['failed_jobs']}", "", ""],
        ["Client CPU (pacing, HTTP)", f"{r['client_cpu_pct_of_core']:.0f} % of one core", "", ""],
        ["CPU busy during the burst: machine / other processes (PostgreSQL among them) / stolen",
         f"{r['machine_busy_share']:.0%} / {r['other_processes_share']:.0%} / {r['steal_share']:.0%}", "", ""],
    ]
    lines = [
        f"### Burst: {s['rate']:,.0f} comments/s offered for {s['seconds']:g} s "
        f"({s['rate'] / s['steady_rate']:g}× a steady {s['steady_rate']:g}/s)",
        "",
        f"{machine_line(info)}. gunicorn with deploy/gunicorn.conf.py (2 sync workers), 2 spam and 2 toxicity "
        f"workers, a callbacks worker and the scheduler, {s['database']} on the same cores, private redis-server "
        f"without persistence. Flood limits per minute (the site's policy): site {limits['per_site']:,}, "
        f"address {limits['per_ip']}, author {limits['per_email']}. Comments from bench/corpus.py, "
        f"{1 - s['bots']:.0%} by readers with an address and email of their own, {s['bots']:.0%} by "
        f"{s['bot_count']} bots (half from one address each, half under one email each); open-loop pacing "
        f"into {s['connections']} client threads after {s['warmup_comments']} warm-up comments. Queues sampled "
        "from Redis (moderation.fleet.queue_states) twice a second.",
        "",
        markdown_table(["Metric", "Measured", "Target", "Met"], rows, align="lrrl"),
    ]
    if r["lost"]:
        explained = r["lost_explained"]
        lines += ["", "Lost comments' missing checks (RQ job status): " + "; ".join(
            f"{count} × {kind}" for kind, count in explained["missing_checks"].items()) + ". RQ scheduler running "
            "per queue now: " + ", ".join(f"{queue} {'yes' if on else 'NO'}"
                                         for queue, on in explained["rq_scheduler_running"].items()) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30, help="seconds of burst (default 30)")
    parser.add_argument("--rate", type=float, default=2000, help="comments offered per second (default 2000)")
    parser.add_argument("--steady", type=float, default=100,
                        help="the site's steady rate, which sets its flood limit (default 100/s: 12,000 a minute)")
    parser.add_argument("--per-site", type=int, help="the site's flood limit per minute instead")
    parser.add_argument("--bots", type=float, default=0.1, help="share of comments from bots (default 0.1)")
    parser.add_argument("--connections", type=int, default=64, help="client threads (default 64)")
    parser.add_argument("--give-up", type=float, default=10,
                        help="seconds a comment may wait for a free client thread before it is dropped (default 10)")
    parser.add_argument("--drain-timeout", type=float, default=3600,
                        help="seconds to wait at most for the queues to drain after the burst (default 3600)")
    parser.add_argument("--stall", type=float, default=240,
                        help="stop waiting when nothing was decided for this long (default 240 s)")
    parser.add_argument("--database-url", default=POSTGRES_URL,
                        help="the PostgreSQL server to create (and drop) the run's database on")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the processes' logs")
    args = parser.parse_args()
    if not (0 < args.seconds <= 600 and 0 < args.rate <= 20_000 and 1 <= args.connections <= 512
            and 0 <= args.bots < 1):
        parser.error("--seconds in (0, 600], --rate in (0, 20000], --connections in [1, 512], --bots in [0, 1)")
    data = run_and_report("burst", run, report, args)
    r = data["results"]
    if not r["only_202_or_429"] or r["client_errors"] or r["lost"] or r["duplicate_decisions"] \
            or r["duplicate_check_results"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
