#!/usr/bin/env bash
# Every figure of docs/performance.md, bounded in time, loopback only:
#   for each size in BENCH_SIZES: the embedded default and the PostgreSQL production topology
#   (deploy/local/stack.sh), seeded through the event store (bench/seed.py), then bench/load.py
#   (scenarios a-f, write, projection lag, worker RSS), then `eosc-perf verify` (replay speed).
#
#   bench/run_all.sh                       # sizes 10000 100000, both backends
#   BENCH_SIZES="10000" BENCH_BACKENDS=postgres BENCH_DURATION=10 bench/run_all.sh
#   BENCH_SIZES="1000000" bench/run_all.sh # 10^6: seeding takes minutes (see the docs)
#
# Settings: BENCH_DIR (/var/tmp/eosc-perf/bench: data, stack state, results.jsonl),
# BENCH_DURATION (seconds per scenario, 15), BENCH_PORT (18610: nginx; +1 command, +2 query,
# +10 embedded), BENCH_PG_PORT (55610: a PostgreSQL cluster of its own, reset per size),
# GUNICORN_WORKERS / GUNICORN_THREADS (passed to the stack), BENCH_REUSE=1 keeps seeded data,
# BENCH_SCENARIOS (a,b,c,d,e,f,write: the order too), BENCH_VERIFY=0 skips the replay,
# BENCH_PAUSE (seconds between scenarios, 0: at 10^6 the server finishes abandoned requests),
# BENCH_QUERY_CACHE_MB (0: the query service's response cache off), BENCH_LAG=0 skips the
# projection-lag probe (for runs that only compare the CPU per request of reads), BENCH_RUNS (1):
# everything this many times, for medians (bench/medians.py).
# Figures go to stdout (one JSON line per scenario) and are appended to $BENCH_DIR/results.jsonl.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/.venv/bin"
PY="$BIN/python"
DIR=${BENCH_DIR:-/var/tmp/eosc-perf/bench}
SIZES=${BENCH_SIZES:-"10000 100000"}
BACKENDS=${BENCH_BACKENDS:-"embedded postgres"}
DURATION=${BENCH_DURATION:-15}
PORT=${BENCH_PORT:-18610}
EMBEDDED_PORT=$((PORT + 10))
OUT="$DIR/results.jsonl"
SCENARIOS=${BENCH_SCENARIOS:-a,b,c,d,e,f,write}
VERIFY=${BENCH_VERIFY:-1}
PAUSE=${BENCH_PAUSE:-0}
RUNS=${BENCH_RUNS:-1}
LAG=()
[ "${BENCH_LAG:-1}" = 0 ] || LAG=(--lag --lag-duration "$DURATION")
ADMIN_ENTITLEMENT="urn:mace:egi.eu:group:eosc-perf:role=admin"

# The response cache would answer the unvarying scenarios (a), (d), (e) from memory: the main
# figures are taken without it; BENCH_QUERY_CACHE_MB=32 measures it separately.
export QUERY_CACHE_MB=${BENCH_QUERY_CACHE_MB:-0}
# The per-user write limit (120 uploads a minute) off: 4 writers measure the capacity, not the
# policy (with it, most uploads of the write and lag scenarios are answered 429).
export WRITE_RATE_PER_MINUTE=0
export EOSC_PERF_PG_PORT=${BENCH_PG_PORT:-55610}
export EOSC_PERF_PG_DIR="$DIR/postgres"
# One database for the seed (postgres.sh) and the stack (stack.sh names its own by port otherwise).
export EOSC_PERF_PG_DB=eosc_perf
export EOSC_PERF_STACK_DIR="$DIR/stack"
export STACK_PORT=$PORT COMMAND_PORT=$((PORT + 1)) QUERY_PORT=$((PORT + 2))

log() { echo "bench: $*" >&2; }
mkdir -p "$DIR"
cd "$ROOT"
command -v wrk >/dev/null 2>&1 || { log "installing wrk (Debian package)"; apt-get install -y -qq wrk >/dev/null 2>&1 || log "wrk unavailable: the Python client measures instead"; }
log "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"

wait_http() {  # wait_http URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { log "no answer from $1"; return 1; }
    sleep 0.3
  done
}

SERVER_PID="" OIDC_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
  [ -n "$OIDC_PID" ] && kill -TERM "$OIDC_PID" 2>/dev/null || true
  [ -f "$EOSC_PERF_STACK_DIR/query.pid" ] && "$ROOT/deploy/local/stack.sh" down >/dev/null 2>&1 || true
  "$ROOT/deploy/local/postgres.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

embedded() {  # embedded SIZE
  local size=$1 seeded="$DIR/embedded-$size" data="$DIR/embedded-$size.run"
  if [ "${BENCH_REUSE:-0}" != 1 ] || [ ! -f "$seeded/seeded.json" ]; then
    rm -rf "$seeded"
    log "embedded $size: seeding through the event store"
    "$PY" "$ROOT/bench/seed.py" --results "$size" --data "$seeded" --summary "$seeded/seeded.json" >/dev/null
  fi
  echo "{\"label\": \"embedded-$size\", \"scenario\": \"seed\", \"summary\": $(cat "$seeded/seeded.json")}" | tee -a "$OUT"
  rm -rf "$data" && cp -r "$seeded" "$data"  # the writes of this run do not change the seeded data
  local tokens="$DIR/embedded-tokens"
  for n in 1 2 3 4; do
    EOSC_PERF_ENV=development "$BIN/eosc-perf" dev-token --data "$data" --sub "bench-writer-$n" \
      --email "bench-writer-$n@example.org" --lifetime 21600
  done >"$tokens"
  # (no job control here: setsid execs in place, so $! is the server's own pid)
  EOSC_PERF_ENV=development setsid "$BIN/eosc-perf" serve --data "$data" --port "$EMBEDDED_PORT" \
     >"$DIR/embedded-serve.log" 2>&1 < /dev/null &
  SERVER_PID=$!
  wait_http "http://127.0.0.1:$EMBEDDED_PORT/api-spec.json" 300
  "$PY" "$ROOT/bench/load.py" --url "http://127.0.0.1:$EMBEDDED_PORT" --tokens "$tokens" --duration "$DURATION" \
    --scenarios "$SCENARIOS" --pause "$PAUSE" \
    "${LAG[@]}" --rss "$SERVER_PID" --cpu "$SERVER_PID" --label "embedded-$size" --out "$OUT"
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
  while kill -0 "$SERVER_PID" 2>/dev/null; do sleep 0.2; done
  SERVER_PID=""
  local replay
  if [ "$VERIFY" = 1 ]; then
    replay=$("$BIN/eosc-perf" verify --data "$data" 2>/dev/null | head -n 1 || true)
    echo "{\"label\": \"embedded-$size\", \"scenario\": \"replay\", \"line\": \"$replay\"}" | tee -a "$OUT"
  fi
  rm -rf "$data"
}

postgres() {  # postgres SIZE
  local size=$1 url
  "$ROOT/deploy/local/postgres.sh" reset >/dev/null 2>&1 || true
  url=$("$ROOT/deploy/local/postgres.sh" up | tail -n 1)
  EVENT_STORE_URL=$url READ_STORE_URL=$url EOSC_PERF_ENV=development "$BIN/eosc-perf" init >&2
  log "postgres $size: seeding through the event store"
  # The mailer caught up here too: else it would spend the first scenario's window on the seed.
  "$PY" "$ROOT/bench/seed.py" --results "$size" --event-store "$url" --read-store "$url" --mailer yes \
    --summary "$DIR/postgres-$size-seeded.json" >/dev/null
  echo "{\"label\": \"postgres-$size\", \"scenario\": \"seed\", \"summary\": $(cat "$DIR/postgres-$size-seeded.json")}" | tee -a "$OUT"
  rm -rf "$DIR/oidc"
  "$PY" "$ROOT/bench/oidc.py" --out "$DIR/oidc" --writers 4 >"$DIR/oidc.log" 2>&1 &
  OIDC_PID=$!
  for _ in $(seq 100); do [ -s "$DIR/oidc/issuer" ] && break; sleep 0.1; done
  local base
  base=$(EOSC_PERF_ENV=production TRUSTED_OP_LIST=$(cat "$DIR/oidc/issuer") \
         ADMIN_ENTITLEMENTS=$ADMIN_ENTITLEMENT IMAGE_CHECK=off MAIL_SERVER="" GUNICORN_ACCESSLOG="" \
         "$ROOT/deploy/local/stack.sh" up | tail -n 1)
  local services cpu
  services="$(cat "$EOSC_PERF_STACK_DIR/query.pid"),$(cat "$EOSC_PERF_STACK_DIR/command.pid"),$(cat "$EOSC_PERF_STACK_DIR/projector.pid"),$(cat "$EOSC_PERF_STACK_DIR/mailer.pid")"
  # CPU charged to a scenario: the services, the projector and the mailer, nginx, and PostgreSQL
  # (the postmaster's children)
  cpu="$services,$(cat "$EOSC_PERF_STACK_DIR/nginx.pid"),$(head -n 1 "$EOSC_PERF_PG_DIR/data/postmaster.pid")"
  "$PY" "$ROOT/bench/load.py" --url "$base" --tokens "$DIR/oidc/tokens" --duration "$DURATION" --scenarios "$SCENARIOS" --pause "$PAUSE" \
    "${LAG[@]}" --lag-db "$url" --rss "$services" --cpu "$cpu" \
    --label "postgres-$size" --out "$OUT"
  "$ROOT/deploy/local/stack.sh" down >/dev/null 2>&1
  kill -TERM "$OIDC_PID" 2>/dev/null || true
  OIDC_PID=""
  if [ "$VERIFY" = 1 ]; then
    "$ROOT/deploy/local/postgres.sh" up >/dev/null
    local replay
    replay=$(EVENT_STORE_URL=$url READ_STORE_URL=$url EOSC_PERF_ENV=development "$BIN/eosc-perf" verify 2>/dev/null | head -n 1 || true)
    echo "{\"label\": \"postgres-$size\", \"scenario\": \"replay\", \"line\": \"$replay\"}" | tee -a "$OUT"
    "$ROOT/deploy/local/postgres.sh" down >/dev/null
  fi
}

for run in $(seq "$RUNS"); do
  [ "$RUNS" = 1 ] || log "run $run of $RUNS"
  for size in $SIZES; do
    for backend in $BACKENDS; do
      case $backend in
        embedded) embedded "$size" ;;
        postgres) postgres "$size" ;;
        *) log "unknown backend $backend"; exit 2 ;;
      esac
    done
  done
done
log "done; figures in $OUT"
