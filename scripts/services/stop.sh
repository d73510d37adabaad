#!/usr/bin/env bash
# Stops the private MariaDB and PostgreSQL started by start.sh (data directories are kept;
# pass --purge to delete $TEST_PINPIPE_SERVICES_DIR as well).
set -euo pipefail

DIR="${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}"
log() { printf '[services] %s\n' "$*" >&2; }

MY_DIR="$DIR/mariadb"
if [ -f "$MY_DIR/mysqld.pid" ] && kill -0 "$(cat "$MY_DIR/mysqld.pid")" 2>/dev/null; then
  pid=$(cat "$MY_DIR/mysqld.pid")
  log "stopping MariaDB (pid $pid)"
  mariadb-admin --socket="$MY_DIR/mysqld.sock" --user=root shutdown 2>/dev/null || kill "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then log "MariaDB did not stop in 30 s; killing"; kill -9 "$pid"; fi
else
  log "MariaDB not running"
fi

PG_DATA="$DIR/postgres/data"
if [ -f "$PG_DATA/PG_VERSION" ]; then
  pg_ctl=$(compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' | sort -V | tail -n 1)
  run() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if run "$pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "stopping PostgreSQL"
    run "$pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
  else
    log "PostgreSQL not running"
  fi
else
  log "PostgreSQL not running"
fi

rm -f "$DIR/env"
if [ "${1:-}" = "--purge" ]; then
  log "deleting $DIR"
  rm -rf "$DIR"
fi
