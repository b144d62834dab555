"""The Alembic environment of ``service_kit.schema.migrate``: it runs on the connection the
caller opened and locked, never on a URL of its own."""

from alembic import context

connection = context.config.attributes["connection"]
# Batch mode: SQLite alters a table by copying it (PostgreSQL alters it in place).
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
