"""The revisions, oldest first (Alembic loads them by path; it skips this file)."""
