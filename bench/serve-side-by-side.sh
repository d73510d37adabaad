#!/usr/bin/env bash
# `pinpipe serve` as users run it (the CLI, its data folder .pinpipe inside its working folder), two builds side by side:
# wrk posts 500-record and 1-record produce requests to each build in turn, in fresh working folders, for several rounds.
#   bench/serve-side-by-side.sh <build A's PinPipe.Cli.dll> <build B's PinPipe.Cli.dll> [rounds (3)] [seconds (10)]
# Build each with `dotnet build src/PinPipe.Cli -c Release` (a git worktree for the older one); run with nothing else on
# the machine. Prints one line per build and round: req/s and p99 of each load (500/request: 16 connections; 1/request: 64).
set -euo pipefail
A="$1"; B="$2"; ROUNDS="${3:-3}"; SECONDS_EACH="${4:-10}"
command -v wrk >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
WORK="$(mktemp -d /tmp/pinpipe-serve-bench.XXXXXX)"
SERVE=""
trap 'kill "$SERVE" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18082
# The machine's baseline first, as every harness run prints it (the bench's own probes, when it is built).
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/PinPipe.Bench/bin/Release/net10.0/PinPipe.Bench"
if [[ -x "$BENCH" ]]; then "$BENCH" baseline 2>/dev/null | grep -m1 '^Baseline' || true; else echo "no baseline: build bench/PinPipe.Bench in Release first"; fi
python3 - "$WORK" <<'PY'
import sys, json
work = sys.argv[1]
rec = json.dumps({"index": 7528, "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "title": "No Title Data Available",
                  "description": "No description available Story format", "poster_name": "User Info Error",
                  "follower_count": "User Info Error", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
                  "is_image_or_video": "multi-video(story page format)", "image_src": "Image src error.", "downloaded": 0,
                  "save_location": "Local save in /data/mens-fashion", "category": "mens-fashion"}, separators=(",", ":"))
for name, n in (("single", 1), ("batch", 500)):
    open(f"{work}/{name}.json", "w").write('{"records":[' + ",".join(['{"value":%s}' % rec] * n) + "]}")
    open(f"{work}/{name}.lua", "w").write(
        f'wrk.method = "POST"\nlocal f = io.open("{work}/{name}.json", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        'wrk.headers["Content-Type"] = "application/vnd.kafka.json.v2+json"\n')
PY
measure() { wrk -t2 -c"$1" -d"${SECONDS_EACH}s" --latency -s "$WORK/$2.lua" "http://127.0.0.1:$PORT/topics/bench.pin" \
  | awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} END {printf "%s req/s, p99 %s", r, p}'; }
for round in $(seq 1 "$ROUNDS"); do
  for build in A B; do
    dll="$A"; [[ $build == B ]] && dll="$B"
    rm -rf "$WORK/wd" && mkdir "$WORK/wd"
    (cd "$WORK/wd" && exec dotnet "$dll" serve --urls "http://127.0.0.1:$PORT" --user-id bench >serve.log 2>&1) &
    SERVE=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    wrk -t2 -c16 -d3s -s "$WORK/batch.lua" "http://127.0.0.1:$PORT/topics/bench.pin" >/dev/null # warm-up
    echo "round $round, build $build: 500 records/request: $(measure 16 batch); 1 record/request: $(measure 64 single)"
    kill -INT "$SERVE"; wait "$SERVE" || true
  done
done
