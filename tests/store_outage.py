"""Outages of the store: appends failing as on a full disk (SQLSTATE 53100), or the database unreachable.

``Outage``: every append fails as PostgreSQL does when its disk is full.

A trigger on ``events`` raises the error until the outage ends; reads go on, as
they do on a full disk. The failure is the store's own, so everything between
an activity and PostgreSQL (the pool, psycopg, the store's error mapping) sees
what it would see in the real outage.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

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


class Unreachable:
    """The store's database refusing every connection, its open ones ended, from ``begin`` to ``end``.

    A database cannot refuse connections to itself: the switch is thrown from the server's own database.
    """

    def __init__(self, database_url: str) -> None:
        self.database = str(psycopg.conninfo.conninfo_to_dict(database_url)["dbname"])
        self.conn = psycopg.connect(psycopg.conninfo.make_conninfo(database_url, dbname="postgres"), autocommit=True)

    def _allow(self, connections: bool) -> None:
        switch = sql.SQL("true" if connections else "false")
        self.conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(sql.Identifier(self.database), switch)
        )

    def begin(self) -> None:
        self._allow(False)
        self.conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.database,))

    def end(self) -> None:
        self._allow(True)

    def close(self) -> None:
        self.conn.close()
