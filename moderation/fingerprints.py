"""Rotating the fingerprint key over the stored data: `flask rotate-fingerprint-key`.

Every comment's email fingerprint is computed again, with the configured key, from its
decrypted email, a batch per transaction, writing a row only if it still holds what was read
(as moderation.rotation does for the email key). Bans hold only a fingerprint: a ban takes the
new fingerprint of its author's comments, in the transaction that rewrites the first of them,
so a stopped run loses no mapping. A ban whose author has no comment left (all erased or
deleted as spam) cannot be mapped: it is left as it is and reported. A comment that the new
fingerprint makes a duplicate (the same author's same text in the same thread, accepted while
the keys differed) stays, but no longer counts as the thread's copy of the text. IP
fingerprints cannot be computed again (the IPs were never stored): they are left as they are,
and nothing compares a stored one with a new one. Resumable, and a second run changes nothing."""
from dataclasses import dataclass, field

import click
from cryptography.fernet import InvalidToken
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .audit import record_event
from .db import transaction
from .privacy import Vault
from .retention import checkpoint
from .rotation import ACTOR, BATCH, Tally, report_undecryptable
from .tables import Ban, Comment, Site, utcnow

ERASED = "erased:"  # the prefix of an erased author's random fingerprint (moderation.authors)


@dataclass
class Recomputed:
    comments: Tally = field(default_factory=Tally)
    erased: int = 0  # comments of erased authors: no email, nothing to compute
    duplicates: int = 0  # comments that no longer count as their thread's copy of a text
    bans: int = 0  # bans given their author's new fingerprint
    unmapped_bans: list[tuple[Ban, str]] = field(default_factory=list)  # with the site's slug


def recompute_fingerprints(sessions: sessionmaker, vault: Vault, dry_run: bool = False,
                           batch: int = BATCH) -> Recomputed:
    """Give every comment, and the bans of its author, the fingerprint `vault` computes from
    the comment's decrypted email (see the module's doc)."""
    report, last, mapped = Recomputed(), 0, set()
    while True:
        with transaction(sessions) as session:
            rows = session.execute(
                select(Comment.id, Comment.article_id, Comment.author_email, Comment.author_fingerprint,
                       Comment.content_digest).where(Comment.id > last).order_by(Comment.id).limit(batch)
            ).all()
            if not rows:
                break
            last = rows[-1].id
            changes = fingerprint_changes(rows, vault, report)
            if not changes:
                continue
            release_duplicates(session, changes, report)
            new = {change["old"]: change["new"] for change in changes}
            bans = session.execute(select(Ban.id, Ban.author_fingerprint)
                                   .where(Ban.author_fingerprint.in_(list(new)))).all()
            if dry_run:
                report.comments.changed += len(changes)
                report.bans += len({ban_id for ban_id, _ in bans} - mapped)
                mapped.update(ban_id for ban_id, _ in bans)
                continue
            report.comments.changed += sum(rewrite(session, Comment, change) for change in changes)
            report.bans += sum(rewrite(session, Ban, {"row": ban_id, "old": old, "new": new[old]})
                               for ban_id, old in bans)
    with sessions() as session:
        report.unmapped_bans = session.execute(
            select(Ban, Site.slug).join(Site, Site.id == Ban.site_id)
            .where(~exists().where(Comment.author_fingerprint == Ban.author_fingerprint)).order_by(Ban.id)
        ).all()
    if not dry_run:
        checkpoint(sessions.kw["bind"])  # SQLite: the old fingerprints leave the write-ahead log too
    return report


def fingerprint_changes(rows, vault: Vault, report: Recomputed) -> list[dict]:
    """The comments among `rows` whose fingerprint differs from the one computed now."""
    changes = []
    report.comments.checked += len(rows)
    for row in rows:
        if row.author_fingerprint.startswith(ERASED):
            report.erased += 1
            continue
        try:
            email = vault.decrypt(row.author_email)
        except InvalidToken:
            report.comments.undecryptable.append(row.id)
            continue
        fingerprint = vault.fingerprint(email) if email else None
        if fingerprint and fingerprint != row.author_fingerprint:
            changes.append({"row": row.id, "old": row.author_fingerprint, "new": fingerprint,
                            "article": row.article_id, "digest": row.content_digest, "duplicate": False})
    return changes


def release_duplicates(session: Session, changes: list[dict], report: Recomputed) -> None:
    """Mark the changes that would collide, in the duplicate index, with a comment that has
    the new fingerprint already (or with another change): that one loses its digest."""
    taken = set(session.execute(
        select(Comment.article_id, Comment.author_fingerprint, Comment.content_digest)
        .where(Comment.author_fingerprint.in_({change["new"] for change in changes}),
               Comment.content_digest.is_not(None))
    ).all())
    for change in changes:
        slot = (change["article"], change["new"], change["digest"])
        if change["digest"] is not None and slot in taken:
            change["duplicate"] = True
            report.duplicates += 1
        taken.add(slot)


def rewrite(session: Session, table, change: dict) -> int:
    """Set one row's fingerprint from `old` to `new` (and drop a duplicate's digest), only if
    it still holds `old`; returns 1 if it did."""
    values = {"author_fingerprint": change["new"], **({"content_digest": None} if change.get("duplicate") else {})}
    return session.execute(
        update(table).where(table.id == change["row"], table.author_fingerprint == change["old"])
        .values(values).execution_options(synchronize_session=False)
    ).rowcount


@click.command("rotate-fingerprint-key")
@click.option("--dry-run", is_flag=True, help="Only count what would change; change nothing.")
@click.option("--batch", default=BATCH, show_default=True, type=click.IntRange(1, 10_000), help="Rows per transaction.")
@with_appcontext
def rotate_fingerprint_key_command(dry_run: bool, batch: int):
    """Recompute every email fingerprint with the fingerprint key set now.

    \b
    1. Set a new MODERATION_FINGERPRINT_KEY on every web and worker process and restart them
       all together, at a quiet time.
    2. Run this command at once. It computes each comment's fingerprint again from its
       decrypted email, and moves its author's bans to the new fingerprint, so bans, author
       history and duplicate detection survive. A batch per transaction, on the live
       database; it can be stopped and run again (it resumes), and a run with nothing left
       to do changes nothing.
    3. Run it once more when no process with the old key is left (a rolling restart).

    Until it ends, comments under the new key are not matched with those under the old
    one: a banned author may get a comment in, a duplicate may be accepted (it is kept and
    stops counting as the thread's copy of the text), and flood-limit and login-throttle
    counters (in Redis, kept for minutes) start again.

    Bans whose author has no comment left (all erased, or deleted as spam) cannot be mapped:
    they are listed by id and left as they are, matching no one under the new key (they work
    again if the old key is restored); ban the author again on their next comment. (A ban
    already under the new key whose comments were deleted since is listed too, and works:
    without an email nothing tells the two apart.)
    IP fingerprints cannot be recomputed (the IP addresses were never stored): they are left
    as they are; nothing compares a stored one with a new one.

    A comment whose email no configured key decrypts is reported by id and keeps its
    fingerprint; the command then exits with status 1."""
    sessions = current_app.extensions["sessions"]
    try:
        report = recompute_fingerprints(sessions, current_app.extensions["vault"], dry_run, batch)
    except IntegrityError:
        raise click.ClickException("a comment written meanwhile took a duplicate's place: run the command "
                                   "again (it resumes)") from None
    tally, would = report.comments, "would be " if dry_run else ""
    click.echo(f"comments: {tally.checked} checked, {tally.changed} {would}recomputed, {report.erased} of erased "
               f"authors skipped, {len(tally.undecryptable)} undecryptable, {report.duplicates} duplicates "
               f"{would}released")
    click.echo(f"bans: {report.bans} {would}mapped, {len(report.unmapped_bans)} without a comment to map them by "
               "(left as they are)")
    now = utcnow()
    for ban, slug in report.unmapped_bans:
        over = ban.lifted_at is not None or (ban.expires_at is not None and ban.expires_at <= now)
        state = "over" if over else "in force"
        click.echo(f"  ban {ban.id}: site {slug}, by {ban.created_by} on {ban.created_at:%Y-%m-%d}, {state}")
    click.echo("ip fingerprints: left as they are (the IP addresses were never stored)")
    report_undecryptable("comments", tally, "author_email")
    if not dry_run and (tally.changed or report.bans):
        with transaction(sessions) as session:
            record_event(session, "fingerprint_key_rotated", ACTOR, details={
                "checked": tally.checked, "changed": tally.changed, "duplicates": report.duplicates,
                "bans": report.bans, "unmapped_bans": [ban.id for ban, _ in report.unmapped_bans],
                "undecryptable": len(tally.undecryptable)})
    if tally.undecryptable:
        raise click.ClickException(f"{len(tally.undecryptable)} comments' emails could not be decrypted: "
                                   "their fingerprints were not recomputed")
