"""An outage of the store: every append fails as PostgreSQL does when its disk is full (SQLSTATE 53100).

A trigger on ``events`` raises the error until the outage ends; reads go on, as
they do on a full disk. The failure is the store's own, so everything between
an activity and PostgreSQL (the pool, psycopg, the store's error mapping) sees
what it would see in the real outage.
"""

from __future__ import annotations

import psycopg

DISK_FULL = """
CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
END $$;
CREATE TRIGGER disk_full BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION disk_full();
"""


class Outage:
    """The store's disk full for appends, from ``begin`` to ``end``."""

    def __init__(self, database_url: str) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True)

    def begin(self) -> None:
        self.conn.execute(DISK_FULL)

    def end(self) -> None:
        self.conn.execute("DROP TRIGGER disk_full ON events; DROP FUNCTION disk_full()")

    def close(self) -> None:
        self.conn.close()
