"""Operator commands: flask --app moderation <command>."""
import json
import secrets

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .db import transaction
from .errors import InvalidFields
from .migrate import upgrade_database
from .moderators import create_moderator, issue_token
from .policy import changed_fields, parse_policy, set_policy, site_policy
from .sites import create_site, find_site
from .retention import purge_command
from .sweep import sweep_pending
from .tables import ROLES, Site, SitePolicy


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
    """Create a site and print its API key (shown once; stored hashed)."""
    with transaction(current_app.extensions["sessions"]) as session:
        try:
            _, key = create_site(session, slug, name or slug, key)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
    click.echo(key)


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
    """Enqueue pending comments that have no live job; apply the fail policy to failed ones."""
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
        site = policy_site(session, slug)
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
        site = policy_site(session, slug)
        if version is None:
            policy = site_policy(site).model_dump(mode="json")
        else:
            policy = session.scalar(
                select(SitePolicy.policy).where(SitePolicy.site_id == site.id, SitePolicy.version == version))
            if policy is None:
                raise click.ClickException(f"{slug} has no policy version {version} (the current one is "
                                           f"{site.policy_version}).")
    click.echo(json.dumps(policy, indent=2, ensure_ascii=False))


def policy_site(session, slug: str) -> Site:
    site = find_site(session, slug)
    if site is None:
        raise click.ClickException(f"no site {slug!r}")
    return site


def init_app(app) -> None:
    for command in (migrate_command, create_site_command, create_moderator_command, sweep_command, purge_command,
                    set_policy_command, show_policy_command):
        app.cli.add_command(command)
