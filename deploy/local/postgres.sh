#!/usr/bin/env bash
# A local PostgreSQL for development, tests and CI: no Docker, loopback only, idempotent.
#   deploy/local/postgres.sh up      install (Debian package) if absent, create/start the cluster,
#                                    role and database; prints the database URL as its last line
#   deploy/local/postgres.sh down    stop the cluster (data kept)
#   deploy/local/postgres.sh url     print the URL
#   deploy/local/postgres.sh status  exit 0 when the cluster is running
#   deploy/local/postgres.sh reset   stop and delete the cluster's data
# Settings: EOSC_PERF_PG_PORT (55432), EOSC_PERF_PG_DIR (/var/tmp/eosc-perf/postgres),
#           EOSC_PERF_PG_USER / _PASSWORD / _DB (eosc_perf).
set -euo pipefail

PORT=${EOSC_PERF_PG_PORT:-55432}
DIR=${EOSC_PERF_PG_DIR:-/var/tmp/eosc-perf/postgres}
ROLE=${EOSC_PERF_PG_USER:-eosc_perf}
PASSWORD=${EOSC_PERF_PG_PASSWORD:-eosc_perf}
DB=${EOSC_PERF_PG_DB:-eosc_perf}
URL="postgresql://${ROLE}:${PASSWORD}@127.0.0.1:${PORT}/${DB}"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_postgres() {
  [ -n "$(pg_bin)" ] && return 0
  echo "installing PostgreSQL (Debian package)" >&2
  local sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >/dev/null
}

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { as_owner "$(pg_bin)/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

psql_admin() {
  as_owner "$(pg_bin)/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

up() {
  install_postgres
  local bin; bin=$(pg_bin)
  mkdir -p "$DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
  if [ ! -s "$DIR/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
shared_buffers = 256MB
work_mem = 16MB
fsync = on
CONF
    # The superuser may connect over loopback without a password (for this script);
    # everyone else authenticates.
    sed -i '1i host all postgres 127.0.0.1/32 trust' "$DIR/data/pg_hba.conf"
  fi
  if ! running; then
    as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
    psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
  fi
  if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
  fi
  echo "$URL"
}

down() {
  [ -n "$(pg_bin)" ] && [ -d "$DIR/data" ] && running && as_owner "$(pg_bin)/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  url) echo "$URL" ;;
  status) [ -n "$(pg_bin)" ] && [ -d "$DIR/data" ] && running ;;
  reset) down; rm -rf "$DIR" ;;
  *) echo "usage: $0 up|down|url|status|reset" >&2; exit 2 ;;
esac
