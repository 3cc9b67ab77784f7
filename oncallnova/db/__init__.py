"""PostgreSQL (or SQLite on the embedded default) is the source of truth."""
