"""Alembic environment.  Always driven from ``store.migrate``, which hands over a connection
already inside a locked transaction; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from store.tables import full_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through store.migrate (python -m store.migrate), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=full_metadata(),
    compare_type=True,
    compare_server_default=True,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
)
with context.begin_transaction():
    context.run_migrations()
