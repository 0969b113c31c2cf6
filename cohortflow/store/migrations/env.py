"""Alembic environment: the URL comes from the caller (see cohortflow.store.migrate).

The target metadata is the store's tables (cohortflow.store.tables), so ``alembic revision --autogenerate`` drafts a
migration from a change there, compared the way tests/store/test_tables.py checks that none is missing.
"""

from alembic import context
from sqlalchemy import create_engine

from cohortflow.store.migrate import COMPARE
from cohortflow.store.tables import metadata

url = context.config.get_main_option("sqlalchemy.url")
assert url, "cohortflow.store.migrate sets sqlalchemy.url"
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, **COMPARE)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
