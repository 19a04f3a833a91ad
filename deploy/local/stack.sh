#!/usr/bin/env bash
# The production topology on one machine, without Docker:
#   PostgreSQL -> eosc-perf init -> gunicorn command service + gunicorn query service
#   + eosc-perf project (read-model projector) + eosc-perf mailer + nginx in front (one base URL).
#
#   deploy/local/stack.sh up     start everything; the LAST line of stdout is the base URL
#   deploy/local/stack.sh up --kafka
#                                the same with Kafka in the path: deploy/local/kafka.sh's broker,
#                                eosc-perf relay, the projector and the mailer as Kafka consumers
#   deploy/local/stack.sh down   stop everything this script started (the broker too)
#
# Service configuration passes through from the environment (TRUSTED_OP_LIST,
# ADMIN_ENTITLEMENTS, IMAGE_CHECK, IMAGE_REGISTRY_URL, IMAGE_REGISTRIES, MAIL_*, BACKEND_ROUTE, EOSC_PERF_ENV, ...).
# Ports: STACK_PORT (8080, nginx), COMMAND_PORT (8081), QUERY_PORT (8082); workers: GUNICORN_WORKERS.
# State (pids, logs, nginx config): EOSC_PERF_STACK_DIR (/var/tmp/eosc-perf/stack).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STATE=${EOSC_PERF_STACK_DIR:-/var/tmp/eosc-perf/stack}
STACK_PORT=${STACK_PORT:-8080}
COMMAND_PORT=${COMMAND_PORT:-8081}
QUERY_PORT=${QUERY_PORT:-8082}
BIN="$ROOT/.venv/bin"

log() { echo "stack: $*" >&2; }

start() {  # start NAME COMMAND...: a background process in its own session, logged and remembered
  local name=$1; shift
  setsid "$@" >>"$STATE/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE/$name.pid"
  log "$name started (pid $!, log $STATE/$name.log)"
}

wait_for() {  # wait_for URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      log "no answer from $1 after $2 s; logs in $STATE"; tail -n 20 "$STATE"/*.log >&2 || true; return 1
    fi
    sleep 0.2
  done
}

nginx_conf() {
  mkdir -p "$STATE/nginx"
  sed -e "s|\${QUERY_UPSTREAM}|127.0.0.1:$QUERY_PORT|" -e "s|\${COMMAND_UPSTREAM}|127.0.0.1:$COMMAND_PORT|" \
      -e "s|\${LISTEN}|127.0.0.1:$STACK_PORT|" "$ROOT/deploy/nginx/eosc-perf.conf" >"$STATE/nginx/eosc-perf.conf"
  cat >"$STATE/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $STATE/nginx.pid;
error_log $STATE/nginx.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $STATE/nginx/body;
    proxy_temp_path $STATE/nginx/proxy;
    include $STATE/nginx/eosc-perf.conf;
}
CONF
}

up() {
  local kafka=no
  [ "${1:-}" = "--kafka" ] && kafka=yes
  mkdir -p "$STATE"
  [ -x "$BIN/eosc-perf" ] || make -C "$ROOT" venv >&2
  command -v nginx >/dev/null 2>&1 || "$ROOT/deploy/local/install-test-deps.sh" >&2
  local url
  # Stop PostgreSQL on `down` only if this script started it (tests share one server).
  "$ROOT/deploy/local/postgres.sh" status || touch "$STATE/postgres.started"
  url=$("$ROOT/deploy/local/postgres.sh" up | tail -n 1)
  export EVENT_STORE_URL=${EVENT_STORE_URL:-$url} READ_STORE_URL=${READ_STORE_URL:-$url}
  if [ $kafka = yes ]; then
    local bootstrap
    # As for PostgreSQL: `down` stops the broker only if this script started it.
    "$ROOT/deploy/local/kafka.sh" status >/dev/null || touch "$STATE/kafka.started"
    bootstrap=$("$ROOT/deploy/local/kafka.sh" up | tail -n 1)
    export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-$bootstrap}
  fi
  (cd "$ROOT" && "$BIN/eosc-perf" init >&2)
  cd "$ROOT"
  GUNICORN_BIND="127.0.0.1:$COMMAND_PORT" start command "$BIN/gunicorn" -c deploy/gunicorn/service.py \
    --name eosc-perf-command eosc_perf.command_wsgi:app
  GUNICORN_BIND="127.0.0.1:$QUERY_PORT" start query "$BIN/gunicorn" -c deploy/gunicorn/service.py \
    --name eosc-perf-query eosc_perf.query_wsgi:app
  if [ $kafka = yes ]; then
    start relay "$BIN/eosc-perf" relay
    start projector "$BIN/eosc-perf" project --source kafka
    start mailer "$BIN/eosc-perf" mailer --source kafka
  else
    start projector "$BIN/eosc-perf" project
    start mailer "$BIN/eosc-perf" mailer
  fi
  nginx_conf
  nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf"
  wait_for "http://127.0.0.1:$QUERY_PORT/api-spec.json" 60
  wait_for "http://127.0.0.1:$STACK_PORT/api-spec.json" 30
  # The command service has no GET route: an OPTIONS answer shows it is up.
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null -X OPTIONS "http://127.0.0.1:$COMMAND_PORT/benchmarks" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { log "command service did not start"; tail -n 30 "$STATE/command.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "http://127.0.0.1:$STACK_PORT"
}

stop_pid() {  # stop_pid NAME: TERM, then KILL after 10 s
  local file="$STATE/$1.pid"
  [ -f "$file" ] || return 0
  local pid; pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

down() {
  [ -f "$STATE/nginx.pid" ] && nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -s quit 2>/dev/null || true
  for name in projector mailer relay query command; do stop_pid "$name"; done
  if [ -f "$STATE/kafka.started" ]; then "$ROOT/deploy/local/kafka.sh" down; rm -f "$STATE/kafka.started"; fi
  if [ -f "$STATE/postgres.started" ]; then "$ROOT/deploy/local/postgres.sh" down; rm -f "$STATE/postgres.started"; fi
  log "stopped"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) echo "usage: $0 up [--kafka]|down" >&2; exit 2 ;;
esac
