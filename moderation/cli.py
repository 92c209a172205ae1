"""Operator commands: flask --app moderation <command>."""
import json
import re
import secrets
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .audit import record_event
from .db import transaction
from .errors import InvalidFields
from .fingerprints import rotate_fingerprint_key_command
from .migrate import upgrade_database
from .moderators import create_moderator, issue_token
from .ops import requeue_failed_command, status_command
from .policy import changed_fields, parse_policy, set_policy, site_policy
from .retention import purge_command
from .rotation import rotate_email_key_command
from .sites import add_key, create_site, find_site, revoke_keys
from .sweep import sweep_pending
from .tables import ROLES, Site, SitePolicy, utcnow

DURATION = re.compile(r"^(\d+)([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@click.command("migrate")
@with_appcontext
def migrate_command():
    """Bring the database schema up to date (Alembic)."""
    upgrade_database(current_app.config["SETTINGS"].database_url)
    click.echo("database is up to date")


@click.command("create-site")
@with_appcontext
@click.argument("slug")
@click.option("--name", help="Display name (defaults to the slug).")
@click.option("--key", help="Use this API key instead of a random one (sk_<12 hex>_<secret>).")
def create_site_command(slug: str, name: str | None, key: str | None):
    """Create a site and print its API key (shown once; stored hashed). Give the key to the
    site for its server's calls to /api/v1; replace it later with rotate-site-key."""
    with transaction(current_app.extensions["sessions"]) as session:
        try:
            _, key = create_site(session, slug, name or slug, key)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
    click.echo(key)


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):
        match = DURATION.match(str(value).strip())
        if not match:
            self.fail(f"{value!r} is not a duration like 90s, 30m, 24h or 7d", param, ctx)
        return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])


@click.command("rotate-site-key")
@with_appcontext
@click.argument("slug")
@click.option("--keep-old-for", "overlap", type=Duration(), metavar="DURATION",
              help="Keep the old keys working this long (90s, 30m, 24h, 7d) while the site deploys the new one.")
@click.option("--revoke-old", is_flag=True, help="Revoke the old keys now (a leaked key).")
def rotate_site_key_command(slug: str, overlap: timedelta | None, revoke_old: bool):
    """Issue a new API key for a site and print it (shown once; stored hashed).

    Say what happens to the site's old keys: --keep-old-for DURATION keeps them working
    that long, so the site can deploy the new key without a gap (a shorter time already
    set is kept), or --revoke-old revokes them now. A web process trusts a key it looked
    up for MODERATION_SITE_CACHE_SECONDS, so a revoked key may still work that long there.
    The new key goes to standard output, the rest to standard error; audited without
    the key."""
    if (overlap is None) == (not revoke_old):
        raise click.UsageError("give either --keep-old-for DURATION or --revoke-old")
    retire_at = utcnow() + (overlap or timedelta(0))
    with transaction(current_app.extensions["sessions"]) as session:
        site = named_site(session, slug)
        key = add_key(session, site)
        session.flush()
        retired = revoke_keys(session, site, keep=key, at=retire_at)
        record_event(session, "site_key_rotated", "cli", site_id=site.id, details={
            "prefix": key.split("_")[1], "old_keys": retired, "old_keys_until": retire_at.isoformat()})
    click.echo(key)
    cache = current_app.config["SETTINGS"].site_cache_seconds
    when = f"at {retire_at:%Y-%m-%d %H:%M:%S} UTC" if overlap else f"now (up to {cache:g} s more in a web process)"
    click.echo(f"{slug}: new key issued; {retired} old key(s) stop working {when}", err=True)


@click.command("create-moderator")
@with_appcontext
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="moderator", show_default=True,
              help="Admins see every site and manage moderators; moderators see their sites only.")
@click.option("--site", "sites", multiple=True, help="A site the moderator may see (repeat for several).")
@click.option("--password", help="The password (at least 10 characters); asked for when not given, "
              "or generated with --generate-password.")
@click.option("--generate-password", is_flag=True, help="Generate a random password and print it once.")
@click.option("--token", is_flag=True, help="Also issue an API token for /api/v1/moderation and print it once.")
def create_moderator_command(username, role, sites, password, generate_password, token):
    """Create a moderator (or an admin) who logs in at /moderate."""
    if generate_password:
        password = secrets.token_urlsafe(12)
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with transaction(current_app.extensions["sessions"]) as session:
        try:
            moderator = create_moderator(session, username, password, role, sites)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
        issued = issue_token(session, moderator, "cli") if token else None
    click.echo(f"created {moderator.role} {moderator.username}")
    if generate_password:
        click.echo(f"password: {password}")
    if issued:
        click.echo(f"API token: {issued}")


@click.command("sweep")
@with_appcontext
def sweep_command():
    """Sweep once: enqueue pending comments and callbacks that have no live job, and apply
    the fail policy to those whose jobs failed for good. (The sweeper worker does this
    every MODERATION_SWEEP_INTERVAL seconds.)"""
    report = sweep_pending(current_app.extensions["sessions"], current_app.extensions["checks"], current_app.config["SETTINGS"])
    click.echo(f"pending {report.pending}, re-enqueued {report.enqueued}, failed for good {report.failed}, "
               f"callbacks re-enqueued {report.callbacks}, callbacks failed {report.callbacks_failed}")


@click.command("set-policy")
@with_appcontext
@click.argument("slug")
@click.argument("policy_file", metavar="FILE", type=click.File("r", encoding="utf-8"))
def set_policy_command(slug: str, policy_file):
    """Replace a site's policy with the JSON object in FILE (- reads standard input).

    A field left out gets its default (show-policy prints the whole policy, to edit and
    send back). Prints the new version, audited as the actor `cli`; prints each field
    error and exits 1 when the policy is not valid. The same policy again changes nothing."""
    try:
        data = json.loads(policy_file.read())
    except ValueError as error:
        raise click.ClickException(f"{policy_file.name} is not JSON: {error}") from None
    with transaction(current_app.extensions["sessions"]) as session:
        site = named_site(session, slug)
        try:
            policy = parse_policy(data)
        except InvalidFields as error:
            for field, message in error.fields.items():
                click.echo(f"{field}: {message}", err=True)
            raise click.ClickException(error.message) from None
        changed = changed_fields(site_policy(site), policy)
        version = set_policy(session, site, policy, "cli") if changed else site.policy_version
    click.echo(f"version {version}" + (f" (changed: {', '.join(changed)})" if changed else " (nothing changed)"))


@click.command("show-policy")
@with_appcontext
@click.argument("slug")
@click.option("--version", "version", type=click.IntRange(min=1), help="An earlier version (default: the current one).")
def show_policy_command(slug: str, version: int | None):
    """Print a site's policy as JSON: the current one (the defaults if it never set one), or
    version N. The output is valid input for set-policy."""
    with current_app.extensions["sessions"]() as session:
        site = named_site(session, slug)
        if version is None:
            policy = site_policy(site).model_dump(mode="json")
        else:
            policy = session.scalar(
                select(SitePolicy.policy).where(SitePolicy.site_id == site.id, SitePolicy.version == version))
            if policy is None:
                raise click.ClickException(f"{slug} has no policy version {version} (the current one is "
                                           f"{site.policy_version}).")
    click.echo(json.dumps(policy, indent=2, ensure_ascii=False))


def named_site(session, slug: str) -> Site:
    site = find_site(session, slug)
    if site is None:
        raise click.ClickException(f"no site {slug!r}")
    return site


def init_app(app) -> None:
    for command in (migrate_command, create_site_command, rotate_site_key_command, create_moderator_command,
                    sweep_command, purge_command, rotate_email_key_command, rotate_fingerprint_key_command,
                    set_policy_command, show_policy_command, requeue_failed_command, status_command):
        app.cli.add_command(command)
