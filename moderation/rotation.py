"""Rotating the email key over the stored data: `flask rotate-email-key`.

Every encrypted column (ENCRYPTED) is decrypted with any configured email key and encrypted
again with the first (MultiFernet.rotate, which keeps each token's timestamp), a batch per
transaction, on a live database: a batch reads rows by id and writes a row only if it still
holds what was read, so nothing is locked for long and nothing written meanwhile is lost. A
value already encrypted with the first key is left alone, so the command resumes where it
stopped and a second run changes nothing. (moderation.fingerprints does the same for the
fingerprint key.)"""
from dataclasses import dataclass, field

import click
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from .audit import record_event
from .db import transaction
from .retention import checkpoint
from .tables import CallbackSecret, Comment

BATCH = 500
ENCRYPTED = ((Comment, "author_email"), (CallbackSecret, "secret"))  # every Fernet-encrypted column
ACTOR = "cli"


@dataclass
class Tally:
    """What a rotation found in one table: rows read, rows rewritten (in a dry run: to be
    rewritten), and the ids of rows no configured key decrypts."""

    checked: int = 0
    changed: int = 0
    undecryptable: list[int] = field(default_factory=list)


def reencrypt(sessions: sessionmaker, email_keys, dry_run: bool = False, batch: int = BATCH) -> dict[str, Tally]:
    """Encrypt every encrypted value with the first of `email_keys`; a tally per column."""
    newest, every = Fernet(email_keys[0]), MultiFernet([Fernet(key) for key in email_keys])
    tallies = {}
    for table, name in ENCRYPTED:
        column, tally, last = getattr(table, name), Tally(), 0
        tallies[f"{table.__tablename__}.{name}"] = tally
        while True:
            with transaction(sessions) as session:
                rows = session.execute(select(table.id, column).where(table.id > last).order_by(table.id)
                                       .limit(batch)).all()
                if not rows:
                    break
                last, tally.checked = rows[-1][0], tally.checked + len(rows)
                changes = []
                for row_id, token in rows:
                    try:
                        newest.decrypt(token)
                        continue  # already encrypted with the newest key
                    except InvalidToken:
                        pass
                    try:
                        changes.append((row_id, token, every.rotate(token)))
                    except InvalidToken:
                        tally.undecryptable.append(row_id)
                if dry_run:
                    tally.changed += len(changes)
                    continue
                for row_id, old, new in changes:
                    tally.changed += session.execute(
                        update(table).where(table.id == row_id, column == old).values({name: new})
                        .execution_options(synchronize_session=False)).rowcount
    if not dry_run:
        checkpoint(sessions.kw["bind"])  # SQLite: the old tokens leave the write-ahead log too
    return tallies


def report_undecryptable(table: str, tally: Tally, what: str) -> None:
    for row_id in tally.undecryptable:
        click.echo(f"error: {table} row {row_id}: no configured key decrypts its {what}", err=True)


@click.command("rotate-email-key")
@click.option("--dry-run", is_flag=True, help="Only count what would be re-encrypted; change nothing.")
@click.option("--batch", default=BATCH, show_default=True, type=click.IntRange(1, 10_000), help="Rows per transaction.")
@with_appcontext
def rotate_email_key_command(dry_run: bool, batch: int):
    """Re-encrypt every stored email address and callback secret with the newest email key.

    \b
    1. Generate a key: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
    2. Put it FIRST in MODERATION_EMAIL_KEYS (newest first: the first encrypts, every one
       decrypts) on every web and worker process, and restart them. (Restarting one by one?
       Then first add it LAST everywhere, and only then move it first: a process without
       the new key cannot read what it encrypts.)
    3. Run this command. It rewrites every value not yet encrypted with the first key
       (comments.author_email, callback_secrets.secret), a batch per transaction, on the
       live database, and prints counts per table. It can be stopped and run again: it
       resumes, and a run with nothing left to do changes nothing.
    4. Once it ends without an error, remove the old key from MODERATION_EMAIL_KEYS.

    A value that no configured key decrypts is reported by table and row id, and the
    command exits with status 1: keep every old key until those rows are dealt with.
    Rotating because a key leaked? Old ciphertexts also live in backups and, on PostgreSQL,
    in dead rows until VACUUM: run VACUUM on comments and callback_secrets afterwards."""
    settings = current_app.config["SETTINGS"]
    tallies = reencrypt(current_app.extensions["sessions"], settings.email_keys, dry_run, batch)
    would = "would be " if dry_run else ""
    for table, tally in tallies.items():
        click.echo(f"{table}: {tally.checked} checked, {tally.changed} {would}re-encrypted, "
                   f"{len(tally.undecryptable)} undecryptable")
        report_undecryptable(table.partition(".")[0], tally, table.partition(".")[2])
    failed = sum(len(tally.undecryptable) for tally in tallies.values())
    if not dry_run and any(tally.changed for tally in tallies.values()):
        with transaction(current_app.extensions["sessions"]) as session:
            record_event(session, "email_key_rotated", ACTOR, details={
                table: {"checked": t.checked, "changed": t.changed, "undecryptable": len(t.undecryptable)}
                for table, t in tallies.items()})
    if failed:
        raise click.ClickException(f"{failed} values could not be decrypted with any configured key: "
                                   "keep the old keys in MODERATION_EMAIL_KEYS")
    if not dry_run:
        click.echo("every value is encrypted with the first key: the other keys may now be removed")
