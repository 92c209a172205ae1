"""Alembic environment: the URL comes from moderation.migrate (or MODERATION_DATABASE_URL)."""
import os

from alembic import context
from sqlalchemy import create_engine

from moderation.db import Base
from moderation import tables  # noqa: F401  (registers the tables on Base.metadata)

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get(
    "MODERATION_DATABASE_URL", "sqlite:///instance/saring.db"
)


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
