"""Alembic environment: runs on the connection GAS hands it (``gas db upgrade``, start-up),
or on ``sqlalchemy.url`` when alembic is run by hand from the repository root."""

from __future__ import annotations

from alembic import context

from gas.adapters.sql.tables import metadata

config = context.config


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    from gas.adapters.sql.database import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        run_migrations(conn)
        conn.commit()
