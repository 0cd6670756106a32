"""Normalisers of field values (the pure half of mapping; local ORM rows <-> canonical is
`crmsync.engine.local_rows`)."""
