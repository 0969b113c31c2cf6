#!/bin/sh
# One-off (compose service temporal-schema, image temporalio/admin-tools): creates
# Temporal's two PostgreSQL databases and brings their schemas to the version the
# server image expects. Safe to run again: an existing database is kept,
# `setup-schema -v 0.0` leaves a stamped schema alone and `update-schema` applies
# only the versions it has not applied yet (the same steps as Temporal's
# samples-server compose/scripts/setup-postgres.sh).
set -eu

sql_tool() {
  # SQL_PASSWORD is read by temporal-sql-tool from the environment.
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "${DB_PORT:-5432}" "$@"
}

schema_dir=/etc/temporal/schema/postgresql/v12
for database in temporal temporal_visibility; do
  if [ "$database" = temporal ]; then versions=$schema_dir/temporal/versioned; else versions=$schema_dir/visibility/versioned; fi
  # PostgreSQL's image already created the database named after its user; `create` refuses an existing one.
  sql_tool --db "$database" create || echo "database $database exists"
  sql_tool --db "$database" setup-schema -v 0.0
  sql_tool --db "$database" update-schema -d "$versions"
done
echo "Temporal schemas are up to date"
