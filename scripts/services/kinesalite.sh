#!/usr/bin/env bash
# Starts or stops a local Amazon Kinesis stand-in (npm package kinesalite) for PinPipe's Kinesis tests.
#   scripts/services/kinesalite.sh start   installs kinesalite when missing, starts it on 127.0.0.1:14567 (in memory)
#                                          and writes ${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/kinesis.env
#   scripts/services/kinesalite.sh stop    stops it (its streams are gone: it keeps them in memory)
# Then: source "${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/kinesis.env" before `dotnet test`.
# kinesalite accepts any credentials; the tests sign with dummy ones.
set -euo pipefail

DIR="${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}"
HOST=127.0.0.1
PORT="${TEST_PINPIPE_KINESALITE_PORT:-14567}"
INSTALL="$DIR/kinesalite-install"
PIDFILE="$DIR/kinesalite.pid"
LOGFILE="$DIR/kinesalite.log"
ENVFILE="$DIR/kinesis.env"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  mkdir -p "$DIR"
  if running; then echo "kinesalite already running (pid $(cat "$PIDFILE"))"; write_env; return; fi
  if [[ ! -f "$INSTALL/node_modules/kinesalite/cli.js" ]]; then
    command -v npm >/dev/null || { echo "npm is required to install kinesalite" >&2; exit 1; }
    mkdir -p "$INSTALL"
    # Without its optional leveldown (a native module): the streams are kept in memory, which is all the tests need.
    (cd "$INSTALL" && { [[ -f package.json ]] || npm init -y >/dev/null; } && npm install --no-audit --no-fund --omit=optional kinesalite@3.3.3 >/dev/null)
  fi
  # kinesalite's own cli.js listens on every interface: start its server on 127.0.0.1 only. createStreamMs etc. 0: a
  # stream is ACTIVE at once (kinesalite's default keeps it CREATING for 500 ms); up to 100 shards (its default is 10).
  nohup node -e '
    const [main, host, port] = process.argv.slice(1);
    const server = require(main)({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
    server.listen(Number(port), host, () => console.log("Listening at http://" + host + ":" + port));
  ' "$INSTALL/node_modules/kinesalite/index.js" "$HOST" "$PORT" >"$LOGFILE" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then write_env; echo "kinesalite listening on http://$HOST:$PORT (pid $(cat "$PIDFILE"))"; return; fi
    if ! running; then echo "kinesalite exited; see $LOGFILE" >&2; cat "$LOGFILE" >&2; exit 1; fi
    sleep 0.1
  done
  echo "kinesalite did not open port $PORT within 10 s; see $LOGFILE" >&2
  exit 1
}

write_env() { echo "export TEST_PINPIPE_KINESIS=http://$HOST:$PORT" >"$ENVFILE"; }

stop() {
  if running; then kill "$(cat "$PIDFILE")"; echo "kinesalite stopped"; else echo "kinesalite not running"; fi
  rm -f "$PIDFILE" "$ENVFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
