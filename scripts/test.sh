#!/usr/bin/env bash
# Runs every test of PinPipe. Installs what the tests need when it is missing (Debian's mariadb-server, postgresql, python3-pandas, prometheus
# npm's s3rver and kinesalite), starts those services on 127.0.0.1 on private ports, runs
# `dotnet test`, and stops the services afterwards, whatever the outcome. Before the tests, scripts/tool-check.sh
# packs the `pinpipe` .NET tool, installs it into a temporary tool path and runs it (silent when it works).
#   scripts/test.sh                      # everything
#   scripts/test.sh --filter "FullyQualifiedName~Ingest"   # extra arguments go to dotnet test
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_PINPIPE_SERVICES_DIR="${TEST_PINPIPE_SERVICES_DIR:-/tmp/pinpipe-services}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

stop_services() {
  scripts/services/s3rver.sh stop || true
  scripts/services/kinesalite.sh stop || true
  scripts/services/stop.sh || true
}
trap stop_services EXIT

scripts/services/start.sh
scripts/services/s3rver.sh start
scripts/services/kinesalite.sh start
# shellcheck disable=SC1091
source "$TEST_PINPIPE_SERVICES_DIR/env"
# shellcheck disable=SC1091
source "$TEST_PINPIPE_SERVICES_DIR/s3.env"
# shellcheck disable=SC1091
source "$TEST_PINPIPE_SERVICES_DIR/kinesis.env"

dotnet build PinPipe.slnx -c Release -warnaserror
# Formatting (whitespace and code style as the SDK's defaults and .editorconfig set them), offline.
if ! { dotnet format whitespace PinPipe.slnx --verify-no-changes && dotnet format style PinPipe.slnx --verify-no-changes; }; then
  echo "error: the code is not formatted; fix it with: dotnet format PinPipe.slnx" >&2
  exit 1
fi
scripts/tool-check.sh
log="$(mktemp)"
set +e
# Tests send Ctrl-C (SIGINT) to `pinpipe` children. Started with SIGINT ignored (nohup, a background job of a
# non-interactive shell), this script would pass that on to every child, which then rightly ignores it: reset it.
reset_sigint=()
if env --default-signal=INT true 2>/dev/null; then reset_sigint=(env --default-signal=INT); fi
"${reset_sigint[@]}" dotnet test tests/PinPipe.Tests/PinPipe.Tests.csproj -c Release --no-build --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line, whatever the runner printed.
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
# The failed tests and their messages again at the end, where a CI log's tail shows them.
if [ "$failed" != "0" ]; then
  echo "failed tests:"
  awk '/^ +Failed PinPipe/ {n=25} n>0 {print; n--}' "$log" | head -n 200
fi
rm -f "$log"
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
