"""Alembic's environment and revisions (a package so that `lint-imports` sees what the
revisions import: frozen history imports nothing of crmsync but db.layout and db.types)."""
