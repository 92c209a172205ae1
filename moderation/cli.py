"""Operator commands: flask --app moderation <command>."""
import secrets

import click
from flask import current_app
from flask.cli import with_appcontext

from .db import transaction
from .migrate import upgrade_database
from .moderators import create_moderator, issue_token
from .sites import create_site
from .sweep import sweep_pending
from .tables import ROLES


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
    click.echo(f"pending {report.pending}, re-enqueued {report.enqueued}, failed for good {report.failed}")


def init_app(app) -> None:
    for command in (migrate_command, create_site_command, create_moderator_command, sweep_command):
        app.cli.add_command(command)
