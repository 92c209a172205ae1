"""Operator commands: flask --app moderation <command>."""
import click
from flask import current_app
from flask.cli import with_appcontext

from .db import transaction
from .migrate import upgrade_database
from .sites import create_site
from .sweep import sweep_pending


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


@click.command("sweep")
@with_appcontext
def sweep_command():
    """Enqueue pending comments that have no live job; apply the fail policy to failed ones."""
    report = sweep_pending(current_app.extensions["sessions"], current_app.extensions["checks"], current_app.config["SETTINGS"])
    click.echo(f"pending {report.pending}, re-enqueued {report.enqueued}, failed for good {report.failed}")


def init_app(app) -> None:
    for command in (migrate_command, create_site_command, sweep_command):
        app.cli.add_command(command)
