"""SQL metadata store (SQLite by default, PostgreSQL by URL) and its durable queue."""
