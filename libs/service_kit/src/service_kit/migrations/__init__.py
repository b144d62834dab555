"""The Alembic environment every service's migrations run in (``env.py``), and the kit's
own revisions (``versions/``: processed event ids, the outbox)."""
