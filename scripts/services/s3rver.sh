#!/usr/bin/env bash
# Starts or stops a local S3-compatible server (npm package s3rver) for PinPipe's S3 tests.
#   scripts/services/s3rver.sh start   installs s3rver when missing, starts it on 127.0.0.1:14568 and writes
#                                      ${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/s3.env
#   scripts/services/s3rver.sh stop    stops it (the data folder is kept)
# Then: source "${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}/s3.env" before `dotnet test`.
# s3rver accepts the access key S3RVER / secret S3RVER; the tests use them.
set -euo pipefail

DIR="${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOST=127.0.0.1
PORT="${TEST_PINPIPE_S3RVER_PORT:-14568}"
INSTALL="$DIR/s3rver-install"
DATA="$DIR/s3rver-data"
PIDFILE="$DIR/s3rver.pid"
LOGFILE="$DIR/s3rver.log"
ENVFILE="$DIR/s3.env"

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  mkdir -p "$DIR" "$DATA"
  if running; then echo "s3rver already running (pid $(cat "$PIDFILE"))"; write_env; return; fi
  if [[ ! -f "$INSTALL/node_modules/s3rver/bin/s3rver.js" ]]; then
    command -v npm >/dev/null || { echo "npm is required to install s3rver" >&2; exit 1; }
    mkdir -p "$INSTALL"
    (cd "$INSTALL" && { [[ -f package.json ]] || npm init -y >/dev/null; } && npm install --no-audit --no-fund s3rver@3.7.1 >/dev/null)
  fi
  # s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only has in its legacy provider.
  # Through s3rver-atomic.js: s3rver with its writes made atomic, as S3's are (see that file).
  nohup node --openssl-legacy-provider "$HERE/s3rver-atomic.js" "$INSTALL" -d "$DATA" -a "$HOST" -p "$PORT" --silent >"$LOGFILE" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then write_env; echo "s3rver listening on http://$HOST:$PORT (pid $(cat "$PIDFILE"))"; return; fi
    if ! running; then echo "s3rver exited; see $LOGFILE" >&2; cat "$LOGFILE" >&2; exit 1; fi
    sleep 0.1
  done
  echo "s3rver did not open port $PORT within 10 s; see $LOGFILE" >&2
  exit 1
}

write_env() { echo "export TEST_PINPIPE_S3=http://$HOST:$PORT" >"$ENVFILE"; }

stop() {
  if running; then kill "$(cat "$PIDFILE")"; echo "s3rver stopped"; else echo "s3rver not running"; fi
  rm -f "$PIDFILE" "$ENVFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
