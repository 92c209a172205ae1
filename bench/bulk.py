"""Benchmark: clearing a big backlog with one bulk rule (Coral talk#4384: 60,000 unmoderated
comments and no "approve all").

Builds a fresh database (SQLite file, or a new database on `--database-url`'s PostgreSQL
server), fills one article with `--count` flagged comments that carry both check results,
then approves them with the workspace's own code path: `preview_rule` (the dry run), then
`apply_rule` in rounds of BULK_LIMIT comments, each round one transaction and one audited
batch with its labels — what the page and the API do per request. Prints the seconds per
round (one request's work) and the whole backlog's.

    .venv/bin/python bench/bulk.py [--count 60000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--json PATH]
"""
import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import machine, machine_line, markdown_table, percentile  # noqa: E402
from moderation import review  # noqa: E402
from moderation.db import connect, transaction  # noqa: E402
from moderation.migrate import upgrade_database  # noqa: E402
from moderation.moderators import create_moderator  # noqa: E402
from moderation.queue import QueueFilter  # noqa: E402
from moderation.review import apply_rule, preview_rule  # noqa: E402
from moderation.sites import create_site  # noqa: E402
from moderation.tables import Article, AuditEvent, CheckResult, Comment, Label, Moderator, utcnow  # noqa: E402

TARGET_ROUND_SECONDS = 5.0  # one request's work must stay well inside gunicorn's 30 s timeout
THRESHOLDS = {"flag": 0.5, "reject": 0.9, "attributes": {}}


def fill(sessions, count: int) -> int:
    """A site, an article and `count` flagged comments with scores; returns the moderator id."""
    with transaction(sessions) as session:
        site, _ = create_site(session, "bench", "Bench")
        article = Article(site_id=site.id, external_id="backlog", title="Backlog", is_open=True, premoderated=True)
        session.add(article)
        moderator = create_moderator(session, "bench", "bench password 123", "moderator", ["bench"])
        session.flush()
        site_id, article_id, moderator_id = site.id, article.id, moderator.id
    now = utcnow()
    for start in range(0, count, 5000):
        rows = [{"public_id": uuid.uuid4().hex[:16], "site_id": site_id, "article_id": article_id,
                 "author_name": f"Reader {i}", "author_email": b"encrypted", "author_fingerprint": f"{i % 997:064x}",
                 "content": f"Komentar nomor {i} tentang berita ini.", "language": "id", "status": "flagged",
                 "reason": "premoderation", "priority": 0.1, "created_at": now, "decided_at": now}
                for i in range(start, min(start + 5000, count))]
        with sessions.kw["bind"].begin() as connection:
            connection.execute(insert(Comment), rows)
            ids = connection.scalars(select(Comment.id).where(Comment.public_id.in_([r["public_id"] for r in rows])))
            connection.execute(insert(CheckResult), [
                {"comment_id": comment_id, "check": check, "score": 0.1, "attributes": {}, "terms": [],
                 "thresholds": THRESHOLDS, "model_version": f"{check}-bench", "created_at": now}
                for comment_id in ids for check in ("spam", "toxicity")])
    return moderator_id


def run(database_url: str, count: int) -> dict:
    upgrade_database(database_url)
    sessions = connect(database_url)
    moderator_id = fill(sessions, count)
    rule = QueueFilter(article="backlog")
    started = time.perf_counter()
    with sessions() as session:
        expect = preview_rule(session, session.get(Moderator, moderator_id), rule)["count"]
    preview_seconds = time.perf_counter() - started
    rounds = []
    while expect:
        round_started = time.perf_counter()
        with transaction(sessions) as session:
            outcome = apply_rule(session, session.get(Moderator, moderator_id), rule, "approve", expect=expect)
        rounds.append(time.perf_counter() - round_started)
        expect = outcome.remaining
    total = time.perf_counter() - started
    with sessions() as session:
        approved = session.scalar(select(func.count()).where(Comment.status == "approved"))
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        labels = session.scalar(select(func.count()).select_from(Label))
    sessions.kw["bind"].dispose()
    return {"comments": count, "approved": approved, "audit_events": events, "labels": labels,
            "rounds": len(rounds), "per_round": review.BULK_LIMIT, "preview_seconds": round(preview_seconds, 3),
            "round_p50_seconds": round(percentile(rounds, 50), 3), "round_max_seconds": round(max(rounds), 3),
            "total_seconds": round(total, 2), "comments_per_second": round(count / total)}


def with_database(server_url: str | None, count: int) -> tuple[str, dict]:
    if server_url is None:
        with tempfile.TemporaryDirectory(prefix="saring-bulk-") as directory:
            return "SQLite", run(f"sqlite:///{directory}/bulk.db", count)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"saring_bulk_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'create database "{name}"'))
    try:
        return "PostgreSQL", run(make_url(server_url).set(database=name).render_as_string(hide_password=False), count)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'drop database "{name}" with (force)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=60_000, help="flagged comments in the backlog (default 60000)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL to create (and drop) a database on")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    if not 1 <= args.count <= 1_000_000:
        parser.error("--count is 1..1000000")
    info = machine()
    database, result = with_database(args.database_url, args.count)
    result["database"] = database
    met = result["round_max_seconds"] <= TARGET_ROUND_SECONDS and result["approved"] == args.count
    print(machine_line(info))
    print(markdown_table(
        ["database", "backlog", "rounds × comments", "dry run s", "round p50 s", "round max s", "total s",
         "comments/s", f"round ≤ {TARGET_ROUND_SECONDS:g} s, all approved"],
        [[database, f"{args.count:,}", f"{result['rounds']} × {result['per_round']:,}", result["preview_seconds"],
          result["round_p50_seconds"], result["round_max_seconds"], result["total_seconds"],
          f"{result['comments_per_second']:,}", "met" if met else "MISSED"]]))
    print(f"audit events {result['audit_events']:,} (a bulk event per round and a transition per comment), "
          f"labels {result['labels']:,}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "result": result, "met": met}, indent=2) + "\n")


if __name__ == "__main__":
    main()
