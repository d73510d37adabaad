#!/usr/bin/env bash
# Checks the `pinpipe` .NET tool as a user installs it: packs src/PinPipe.Cli (from its Release build), installs the
# package into a temporary tool path from that package alone (a NuGet config naming only the local folder: nothing
# is fetched), runs `pinpipe --help` (its usage line must name `pinpipe`) and `pinpipe seed --rows 100` in a
# temporary data folder (exit 0, the source database written), and removes what it made. Silent on success; on
# failure it names the step, prints that step's output and exits 1. scripts/test.sh runs it after the build; alone:
#   dotnet build PinPipe.slnx -c Release && scripts/tool-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# The tool's launcher finds the runtime through DOTNET_ROOT when dotnet is not where it looks by default.
if [ -z "${DOTNET_ROOT:-}" ]; then
  DOTNET_ROOT="$(dirname "$(readlink -f "$(command -v dotnet)")")"
  export DOTNET_ROOT
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pinpipe-tool.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log="$work/step.log"

fail() {
  echo "tool check: $1" >&2
  if [ -s "$log" ]; then cat "$log" >&2; fi
  exit 1
}

dotnet pack src/PinPipe.Cli -c Release --no-build -o "$work/nupkg" >"$log" 2>&1 \
  || fail "dotnet pack src/PinPipe.Cli -c Release --no-build failed (build it first: dotnet build PinPipe.slnx -c Release)"
packages=("$work"/nupkg/PinPipe.Cli.*.nupkg)
[ "${#packages[@]}" -eq 1 ] && [ -f "${packages[0]}" ] || fail "expected one PinPipe.Cli.<version>.nupkg from dotnet pack, found: ${packages[*]}"
version="$(basename "${packages[0]}" .nupkg)"
version="${version#PinPipe.Cli.}"

cat >"$work/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="pinpipe-local" value="$work/nupkg" />
  </packageSources>
</configuration>
EOF
dotnet tool install --tool-path "$work/tool" --configfile "$work/nuget.config" PinPipe.Cli --version "$version" >"$log" 2>&1 \
  || fail "dotnet tool install --tool-path <tmp> PinPipe.Cli --version $version failed"

"$work/tool/pinpipe" --help >"$log" 2>&1 || fail "pinpipe --help exited with $?"
grep -q '^  pinpipe \[command\] \[options\]' "$log" || fail "pinpipe --help does not show 'pinpipe [command] [options]' as its usage line"

mkdir "$work/data"
# A fresh folder and no PINPIPE_* settings from this shell: the defaults, as on a new machine.
(
  cd "$work/data"
  while read -r name; do unset "$name"; done < <(compgen -e | grep '^PINPIPE_' || true)
  exec "$work/tool/pinpipe" seed --rows 100
) >"$log" 2>&1 || fail "pinpipe seed --rows 100 exited with $?"
grep -q 'Seeded 100 posts' "$log" || fail "pinpipe seed --rows 100 did not report 'Seeded 100 posts'"
[ -s "$work/data/.pinpipe/source.db" ] || fail "pinpipe seed --rows 100 wrote no .pinpipe/source.db"
