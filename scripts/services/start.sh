#!/usr/bin/env bash
# Starts a private MariaDB and PostgreSQL for PinPipe's integration tests.
#
# Both run as ordinary background processes (not system services), each with its own data
# directory under $TEST_PINPIPE_SERVICES_DIR (default /tmp/pinpipe-services), listening only on
# 127.0.0.1 on non-default ports. Each gets a database `pinpipe` owned by user `pinpipe`.
# Writes $TEST_PINPIPE_SERVICES_DIR/env with TEST_PINPIPE_MYSQL and TEST_PINPIPE_POSTGRES; source it
# before `dotnet test`. Idempotent: instances already running are reused.
#
# Environment: TEST_PINPIPE_SERVICES_DIR, TEST_PINPIPE_MYSQL_PORT (13306), TEST_PINPIPE_POSTGRES_PORT (15432),
# TEST_PINPIPE_SERVICES_PASSWORD (pinpipe-test).
set -euo pipefail

DIR="${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}"
MYSQL_PORT="${TEST_PINPIPE_MYSQL_PORT:-13306}"
PG_PORT="${TEST_PINPIPE_POSTGRES_PORT:-15432}"
PASSWORD="${TEST_PINPIPE_SERVICES_PASSWORD:-pinpipe-test}"
DB=pinpipe
DB_USER=pinpipe

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "installing packages needs root; install $1 yourself or run as root"
}

APT_UPDATED=0
apt_install() {
  need_root "$*"
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_packages() {
  local missing=()
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  # The pandas port of the original notebook (bench/peers) is checked against the fixtures by the tests.
  /usr/bin/python3 -c 'import pandas' >/dev/null 2>&1 || missing+=(python3-pandas)
  # A real Prometheus scrapes /metrics in the metrics tests (each test starts its own on a private port).
  [ -x /usr/bin/prometheus ] || missing+=(prometheus)
  # The dashboard's browser tests drive Debian's chromium through Playwright (which never downloads a browser).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# Waits until "$@" succeeds, for at most $1 seconds.
wait_for() {
  local seconds=$1; shift
  local i
  for ((i = 0; i < seconds * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  return 1
}

# ---------------------------------------------------------------- MariaDB
MY_DIR="$DIR/mariadb"
MY_SOCK="$MY_DIR/mysqld.sock"
MY_PID="$MY_DIR/mysqld.pid"

mariadb_running() {
  [ -f "$MY_PID" ] && kill -0 "$(cat "$MY_PID")" 2>/dev/null \
    && mariadb-admin --socket="$MY_SOCK" --user=root ping >/dev/null 2>&1
}

start_mariadb() {
  mkdir -p "$MY_DIR"
  if mariadb_running; then
    log "MariaDB already running on 127.0.0.1:$MYSQL_PORT (pid $(cat "$MY_PID"))"
  else
    if [ ! -d "$MY_DIR/data/mysql" ]; then
      log "initialising MariaDB in $MY_DIR/data"
      mariadb-install-db --user=root --datadir="$MY_DIR/data" --auth-root-authentication-method=socket \
        --skip-test-db >"$MY_DIR/install.log" 2>&1 || { cat "$MY_DIR/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    log "starting MariaDB on 127.0.0.1:$MYSQL_PORT"
    # --no-defaults: ignore /etc/mysql so a system instance's settings never leak in.
    nohup mariadbd --no-defaults --user=root --datadir="$MY_DIR/data" --socket="$MY_SOCK" \
      --pid-file="$MY_PID" --port="$MYSQL_PORT" --bind-address=127.0.0.1 \
      --log-error="$MY_DIR/error.log" --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
      --innodb-flush-log-at-trx-commit=2 --skip-name-resolve >/dev/null 2>&1 &
    wait_for 60 mariadb-admin --socket="$MY_SOCK" --user=root ping \
      || { tail -n 30 "$MY_DIR/error.log" >&2 || true; die "MariaDB did not start (log: $MY_DIR/error.log)"; }
  fi
  mariadb --socket="$MY_SOCK" --user=root <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$PASSWORD';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON \`$DB\`.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`$DB\`.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
  wait_for 30 mariadb --host=127.0.0.1 --port="$MYSQL_PORT" --user="$DB_USER" --password="$PASSWORD" "$DB" -e 'SELECT 1' \
    || die "MariaDB does not accept TCP connections for $DB_USER on 127.0.0.1:$MYSQL_PORT"
}

# ---------------------------------------------------------------- PostgreSQL
PG_DIR="$DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_BIN=""

find_pg_bin() {
  local initdb
  initdb=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1) || true
  [ -n "$initdb" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql"
  PG_BIN=$(dirname "$initdb")
}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  find_pg_bin
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DIR"; chmod 700 "$PG_DIR"; fi
  if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
      log "initialising PostgreSQL in $PG_DATA"
      as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust \
        --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=on -c synchronous_commit=off" \
      start >/dev/null || { tail -n 30 "$PG_DIR/server.log" >&2 || true; die "PostgreSQL did not start (log: $PG_DIR/server.log)"; }
  fi
  local psql=("$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q -X)
  as_pg "${psql[@]}" -d postgres <<SQL
SELECT 'CREATE ROLE $DB_USER LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
ALTER ROLE $DB_USER WITH LOGIN PASSWORD '$PASSWORD';
SELECT 'CREATE DATABASE $DB OWNER $DB_USER ENCODING ''UTF8''' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB') \gexec
SQL
  wait_for 30 env PGPASSWORD="$PASSWORD" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB" -X -q -c 'SELECT 1' \
    || die "PostgreSQL does not accept TCP connections for $DB_USER on 127.0.0.1:$PG_PORT"
}

mkdir -p "$DIR"
ensure_packages
start_mariadb
start_postgres

cat >"$DIR/env" <<ENV
export TEST_PINPIPE_MYSQL='Server=127.0.0.1;Port=$MYSQL_PORT;Database=$DB;User ID=$DB_USER;Password=$PASSWORD'
export TEST_PINPIPE_POSTGRES='Host=127.0.0.1;Port=$PG_PORT;Database=$DB;Username=$DB_USER;Password=$PASSWORD'
ENV
log "ready; run: source $DIR/env"
