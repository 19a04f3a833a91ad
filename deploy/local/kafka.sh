#!/usr/bin/env bash
# A local single-node Apache Kafka (KRaft mode, no ZooKeeper) for development, tests and CI:
# no Docker, loopback only, idempotent.
#   deploy/local/kafka.sh up       fetch the broker's jars with Maven (cached), format the
#                                  storage once, start the broker, wait until it serves;
#                                  prints the bootstrap servers (host:port) as its last line
#   deploy/local/kafka.sh down     stop the broker (data kept)
#   deploy/local/kafka.sh status   exit 0 and say "running" when it runs, exit 3 otherwise
#   deploy/local/kafka.sh url      print the bootstrap servers
#   deploy/local/kafka.sh reset    stop the broker and delete its data
# Settings: KAFKA_PORT (59092), KAFKA_CONTROLLER_PORT (59093),
#           EOSC_PERF_KAFKA_DIR (/var/tmp/eosc-perf/kafka/broker: config, data, pid, log),
#           EOSC_PERF_KAFKA_LIBS (/var/tmp/eosc-perf/kafka/libs: the jars, shared by brokers),
#           KAFKA_HEAP (512m), KAFKA_START_SECONDS (90).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=${KAFKA_PORT:-59092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-59093}
DIR=${EOSC_PERF_KAFKA_DIR:-/var/tmp/eosc-perf/kafka/broker}
LIBS=${EOSC_PERF_KAFKA_LIBS:-/var/tmp/eosc-perf/kafka/libs}
HEAP=${KAFKA_HEAP:-512m}
START_SECONDS=${KAFKA_START_SECONDS:-90}
POM="$ROOT/deploy/kafka/pom.xml"
BOOTSTRAP="127.0.0.1:$PORT"

log() { echo "kafka: $*" >&2; }

install_tools() {
  command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 && return 0
  log "installing Java 17 and Maven (Debian packages)"
  local sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
}

# The jars are fetched once per pom.xml content: the stamp names the pom's checksum. Two
# brokers starting at once on a fresh machine take turns (flock): one fetches, one waits.
fetch_jars() {
  local stamp; stamp="$LIBS/.pom-$(sha256sum "$POM" | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  mkdir -p "$(dirname "$LIBS")"
  (
    flock 9
    [ -f "$stamp" ] && exit 0
    log "fetching the broker's jars from Maven Central into $LIBS"
    started=$SECONDS
    rm -rf "$LIBS.partial"
    mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS.partial" >&2
    rm -rf "$LIBS"
    mv "$LIBS.partial" "$LIBS"
    touch "$stamp"
    log "jars fetched in $((SECONDS - started)) s"
  ) 9>"$LIBS.lock"
}

tool() {  # tool MAIN ARGS...: a Kafka command-line tool with the cached jars, warnings only
  java -cp "$LIBS/*" -Dlog4j.configuration="file:$DIR/log4j-tools.properties" "$@"
}

pid() { [ -f "$DIR/kafka.pid" ] && cat "$DIR/kafka.pid"; }

# Our broker: a live process with that pid that is a Kafka broker (a stale pid file after a
# reboot may name some other process).
running() { local p; p=$(pid) && [ -n "$p" ] && grep -qs kafka.Kafka "/proc/$p/cmdline"; }

write_config() {
  mkdir -p "$DIR/data"
  # Rewritten on every start so that a changed port takes effect; the data stays.
  cat >"$DIR/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/data
# One node: every internal topic has one replica, and acks=all means this broker's write.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
num.partitions=1
# Topics are created on purpose (the relay creates its one with one partition).
auto.create.topics.enable=false
# A consumer group starts consuming at once instead of waiting for more members.
group.initial.rebalance.delay.ms=0
# Events are kept: consumers (a rebuilt projector, a new integration) may read from the start.
log.retention.ms=-1
# Room for any event: the service writes none whose envelope is over 8 MiB.
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
CONF
  cat >"$DIR/log4j.properties" <<'CONF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage=WARN
log4j.logger.kafka.log=WARN
CONF
  cat >"$DIR/log4j-tools.properties" <<'CONF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m (%c)%n
CONF
}

format_storage() {
  [ -f "$DIR/data/meta.properties" ] && return 0
  local cluster_id
  cluster_id=$(tool kafka.tools.StorageTool random-uuid | tail -n 1)
  tool kafka.tools.StorageTool format -t "$cluster_id" -c "$DIR/server.properties" >&2
}

accepts_connections() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# Serving, not just listening: the broker logs this once it has joined its own quorum.
serving() { accepts_connections && grep -q "Kafka Server started" "$DIR/kafka.log" 2>/dev/null; }

up() {
  if running && serving; then echo "$BOOTSTRAP"; return 0; fi
  install_tools
  fetch_jars
  write_config
  format_storage
  if ! running; then
    if accepts_connections; then log "port $PORT is taken by another process"; exit 1; fi
    : >"$DIR/kafka.log"  # fresh log per start: `serving` reads it
    setsid java -Xms256m "-Xmx$HEAP" -XX:+UseG1GC -Djava.awt.headless=true -cp "$LIBS/*" \
      -Dlog4j.configuration="file:$DIR/log4j.properties" kafka.Kafka "$DIR/server.properties" \
      >>"$DIR/kafka.log" 2>&1 </dev/null &
    echo $! >"$DIR/kafka.pid"
    log "broker started (pid $!, log $DIR/kafka.log)"
  fi
  local deadline=$((SECONDS + START_SECONDS))
  until serving; do
    if ! running; then log "the broker exited; its log:"; tail -n 40 "$DIR/kafka.log" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then
      log "not serving on $BOOTSTRAP after $START_SECONDS s; its log:"; tail -n 40 "$DIR/kafka.log" >&2; exit 1
    fi
    sleep 0.2
  done
  echo "$BOOTSTRAP"
}

down() {
  running || { rm -f "$DIR/kafka.pid"; return 0; }
  local p; p=$(pid)
  kill -TERM "$p" 2>/dev/null || true
  # A controlled shutdown takes a few seconds; after 30 s it is killed.
  for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  rm -f "$DIR/kafka.pid"
  log "stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if running; then echo "running (pid $(pid), $BOOTSTRAP)"; else echo "stopped"; exit 3; fi ;;
  url) echo "$BOOTSTRAP" ;;
  reset) down; rm -rf "$DIR" ;;
  *) echo "usage: $0 up|down|status|url|reset" >&2; exit 2 ;;
esac
