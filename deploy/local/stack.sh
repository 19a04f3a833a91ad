#!/usr/bin/env bash
# The production topology on one machine, without Docker:
#   PostgreSQL -> eosc-perf init -> gunicorn command service + gunicorn query service
#   + eosc-perf project (read-model projector) + eosc-perf mailer + nginx in front (one base URL).
#
#   deploy/local/stack.sh up     check the configuration and the ports, then start everything;
#                                the LAST line of stdout is the base URL, printed once the
#                                services answer and the projector and the mailer are set up
#                                (a write before the mailer's first start sends no mail). If a
#                                piece fails to start, what did start is stopped again.
#   deploy/local/stack.sh up --kafka
#                                the same with Kafka in the path: deploy/local/kafka.sh's broker,
#                                eosc-perf relay, the projector and the mailer as Kafka consumers
#   deploy/local/stack.sh status what runs where (exit 1 if a piece is down)
#   deploy/local/stack.sh down   stop everything this script started (the broker too)
#
# Service configuration passes through from the environment (TRUSTED_OP_LIST,
# ADMIN_ENTITLEMENTS, IMAGE_CHECK, IMAGE_REGISTRY_URL, IMAGE_REGISTRIES, MAIL_*, BACKEND_ROUTE,
# EOSC_PERF_ENV, ...). This is production: ADMIN_ENTITLEMENTS must be set, and tokens of
# `eosc-perf dev-token` are refused unless EOSC_PERF_ENV=development.
#
# Settings of the script itself (default):
#   STACK_PORT (8080, nginx: the base URL), COMMAND_PORT (8081), QUERY_PORT (8082)
#   GUNICORN_WORKERS (see deploy/gunicorn/service.py)
#   EOSC_PERF_STACK_DIR (/var/tmp/eosc-perf/stack-$STACK_PORT): pids, logs, nginx config
#   EOSC_PERF_PG_DB (eosc_perf on STACK_PORT 8080, else eosc_perf_$STACK_PORT): the database,
#     on deploy/local/postgres.sh's server (EOSC_PERF_PG_PORT); EVENT_STORE_URL and
#     READ_STORE_URL override it.
#   METRICS_ALLOW (127.0.0.1 ::1): addresses/networks nginx serves /metrics to (others: 403)
#   PROJECTOR_METRICS_PORT, MAILER_METRICS_PORT (unset: off): their GET /metrics on 127.0.0.1
# Two stacks on different STACK_PORTs keep their own state folder and database.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STACK_PORT=${STACK_PORT:-8080}
COMMAND_PORT=${COMMAND_PORT:-8081}
QUERY_PORT=${QUERY_PORT:-8082}
STATE=${EOSC_PERF_STACK_DIR:-/var/tmp/eosc-perf/stack-$STACK_PORT}
if [ "$STACK_PORT" = 8080 ]; then default_db=eosc_perf; else default_db=eosc_perf_$STACK_PORT; fi
export EOSC_PERF_PG_DB=${EOSC_PERF_PG_DB:-$default_db}
BIN="$ROOT/.venv/bin"
PIECES="command query projector mailer relay"

log() { echo "stack: $*" >&2; }

start() {  # start NAME COMMAND...: a background process in its own session, logged and remembered
  local name=$1; shift
  # Where this start's lines begin in the log (`wait_for_line` reads from there).
  stat -c %s "$STATE/$name.log" 2>/dev/null >"$STATE/$name.logstart" || echo 0 >"$STATE/$name.logstart"
  setsid "$@" >>"$STATE/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE/$name.pid"
  log "$name started (pid $!, log $STATE/$name.log)"
}

wait_for() {  # wait_for URL SECONDS: until URL answers, a piece dies, or SECONDS pass
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    local name
    for name in $PIECES; do
      if [ -f "$STATE/$name.pid" ] && ! kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
        log "$name stopped at start; its log $STATE/$name.log ends:"; tail -n 20 "$STATE/$name.log" >&2; return 1
      fi
    done
    if [ $SECONDS -ge $deadline ]; then
      log "no answer from $1 after $2 s; logs in $STATE"; tail -n 20 "$STATE"/*.log >&2 || true; return 1
    fi
    sleep 0.2
  done
}

# wait_for_line NAME TEXT SECONDS: until the piece's log since its start holds TEXT (the line it
# prints once it is set up), it dies, or SECONDS pass. The mailer, say, takes the log's head when
# it first starts as the point before which it sends nothing: a write before that sends no mail.
wait_for_line() {
  local name=$1 text=$2 deadline=$((SECONDS + $3)) from
  from=$(($(cat "$STATE/$name.logstart") + 1))
  until tail -c "+$from" "$STATE/$name.log" | grep -qF "$text"; do
    if ! kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
      log "$name stopped at start; its log $STATE/$name.log ends:"; tail -n 20 "$STATE/$name.log" >&2; return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      log "$name not set up after $3 s; its log $STATE/$name.log ends:"; tail -n 20 "$STATE/$name.log" >&2; return 1
    fi
    sleep 0.2
  done
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check() {  # refuse, before starting anything, what would fail later
  local name port
  for name in STACK_PORT COMMAND_PORT QUERY_PORT; do
    port=${!name}
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || { log "$name=$port is not a port"; return 1; }
    if listening "$port"; then
      log "port $port ($name) is in use on 127.0.0.1: set $name to a free port (or stop what listens there)"
      return 1
    fi
  done
  if [ -f "$STATE/nginx.pid" ] || ls "$STATE"/*.pid >/dev/null 2>&1; then
    log "a stack already runs from $STATE: stop it first ($0 down), or set STACK_PORT or EOSC_PERF_STACK_DIR"
    return 1
  fi
  [ -x "$BIN/eosc-perf" ] || make -C "$ROOT" install >&2
  command -v nginx >/dev/null 2>&1 || "$ROOT/deploy/local/install-test-deps.sh" >&2
  local url; url=$("$ROOT/deploy/local/postgres.sh" url)
  EVENT_STORE_URL=${EVENT_STORE_URL:-$url} READ_STORE_URL=${READ_STORE_URL:-$url} \
    "$BIN/eosc-perf" check-config >&2 || { log "configuration refused (above): nothing started"; return 1; }
}

metrics_allow() {  # METRICS_ALLOW's addresses and networks as nginx `allow` lines
  local network lines=""
  for network in ${METRICS_ALLOW:-127.0.0.1 ::1}; do lines="$lines allow $network;"; done
  echo "$lines"
}

nginx_conf() {
  mkdir -p "$STATE/nginx"
  sed -e "s|\${QUERY_UPSTREAM}|127.0.0.1:$QUERY_PORT|" -e "s|\${COMMAND_UPSTREAM}|127.0.0.1:$COMMAND_PORT|" \
      -e "s|\${LISTEN}|127.0.0.1:$STACK_PORT|" -e "s|\${METRICS_ALLOW}|$(metrics_allow)|" \
      "$ROOT/deploy/nginx/eosc-perf.conf" >"$STATE/nginx/eosc-perf.conf"
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
  check
  # From here on a failure (set -e) stops what did start: nothing is left holding ports or pid files.
  echo "COMMAND_PORT=$COMMAND_PORT QUERY_PORT=$QUERY_PORT" >"$STATE/ports"  # for `status`
  UP_DONE=no  # global: the trap runs after this function has returned
  trap '[ $UP_DONE = yes ] || { log "start failed: stopping what started"; down; }' EXIT
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
  # Each service's workers share their metrics through their own folder (deploy/gunicorn/service.py).
  PROMETHEUS_MULTIPROC_DIR="$STATE/metrics-command" \
  GUNICORN_BIND="127.0.0.1:$COMMAND_PORT" start command "$BIN/gunicorn" -c deploy/gunicorn/service.py \
    --name eosc-perf-command eosc_perf.command_wsgi:app
  PROMETHEUS_MULTIPROC_DIR="$STATE/metrics-query" \
  GUNICORN_BIND="127.0.0.1:$QUERY_PORT" start query "$BIN/gunicorn" -c deploy/gunicorn/service.py \
    --name eosc-perf-query eosc_perf.query_wsgi:app
  if [ $kafka = yes ]; then
    start relay "$BIN/eosc-perf" relay
    start projector "$BIN/eosc-perf" project --source kafka --metrics-port "${PROJECTOR_METRICS_PORT:-0}"
    start mailer "$BIN/eosc-perf" mailer --source kafka --metrics-port "${MAILER_METRICS_PORT:-0}"
  else
    start projector "$BIN/eosc-perf" project --metrics-port "${PROJECTOR_METRICS_PORT:-0}"
    start mailer "$BIN/eosc-perf" mailer --metrics-port "${MAILER_METRICS_PORT:-0}"
  fi
  nginx_conf
  nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf"
  wait_for "http://127.0.0.1:$QUERY_PORT/api-spec.json" 60
  wait_for "http://127.0.0.1:$STACK_PORT/api-spec.json" 30
  # The command service has no GET route: an OPTIONS answer shows it is up.
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null -X OPTIONS "http://127.0.0.1:$COMMAND_PORT/benchmarks" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { log "command service did not start"; tail -n 30 "$STATE/command.log" >&2; false; }
    sleep 0.2
  done
  wait_for_line projector "projecting from" 60
  wait_for_line mailer "mailer: events from" 60
  UP_DONE=yes
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
  rm -f "$file" "$STATE/$1.logstart"
}

down() {
  [ -f "$STATE/nginx.pid" ] && nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -s quit 2>/dev/null || true
  for name in $PIECES; do stop_pid "$name"; done
  if [ -f "$STATE/kafka.started" ]; then "$ROOT/deploy/local/kafka.sh" down; rm -f "$STATE/kafka.started"; fi
  if [ -f "$STATE/postgres.started" ]; then "$ROOT/deploy/local/postgres.sh" down; rm -f "$STATE/postgres.started"; fi
  rm -f "$STATE/ports"
  log "stopped"
}

status() {  # what runs where; exit 1 when a piece this stack started is down
  local name pid down=0
  # shellcheck disable=SC1091
  [ -f "$STATE/ports" ] && . "$STATE/ports"
  echo "stack in $STATE: http://127.0.0.1:$STACK_PORT (command 127.0.0.1:$COMMAND_PORT, query 127.0.0.1:$QUERY_PORT)"
  for name in $PIECES nginx; do
    [ -f "$STATE/$name.pid" ] || continue
    pid=$(cat "$STATE/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then echo "  $name: running (pid $pid)"; else echo "  $name: DOWN (log $STATE/$name.log)"; down=1; fi
  done
  ls "$STATE"/*.pid >/dev/null 2>&1 || { echo "  nothing runs"; return 0; }
  "$ROOT/deploy/local/postgres.sh" status && echo "  postgresql: running ($("$ROOT/deploy/local/postgres.sh" url | sed 's|//[^@]*@|//|'))"
  return $down
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up [--kafka]|status|down" >&2; exit 2 ;;
esac
