"""Schema migrations (Alembic). SCHEMA_HEAD names the newest revision so that checking
whether a database is current needs no Alembic import; a test keeps the two in step."""

SCHEMA_HEAD = "0003"
