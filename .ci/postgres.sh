#!/usr/bin/env bash
# Installs Debian's PostgreSQL server if missing, starts it on loopback and creates the test role
# and database. Prints the connection string the tests read from ELASTICTRAIN_TEST_POSTGRES.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster "$version" main start >/dev/null 2>&1 || true  # "already running" is fine
for _ in $(seq 1 30); do
  if su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1; then break; fi
  sleep 1
done
su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname = 'elastictrain'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"create role elastictrain login superuser password 'elastictrain'\"" >&2
su postgres -c "psql -qAtc \"select 1 from pg_database where datname = 'elastictrain'\"" | grep -q 1 ||
  su postgres -c "createdb -O elastictrain elastictrain" >&2
echo "Host=127.0.0.1;Port=5432;Username=elastictrain;Password=elastictrain;Database=elastictrain"
