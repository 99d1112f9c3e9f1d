#!/usr/bin/env bash
# bench/bench_serve.sh — load test of `drux serve` with wrk (make bench runs it).
#
# Starts a server on a free port with a throw-away store, asks one question so
# there is something to read, then runs wrk against the pages (when built in)
# and the API, first alone and then with SSE clients following a question that
# is being answered (the models busy on the CPU meanwhile). Prints requests/s
# and p99 latency per target. wrk is installed from Debian when missing.
#
#   bench/bench_serve.sh [SECONDS] [CONNECTIONS] [SSE_CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} conns=${2:-32} sse=${3:-20}
drux=${DRUX_BIN:-build/release/drux}
smol=${DRUX_BENCH_SMOL:-/root/.cache/drux-dev/SmolLM2-135M-Instruct.Q4_1.gguf}
gemma=${DRUX_BENCH_GEMMA:-/root/.cache/drux-dev/gemma-3-270m-q4_k_m.gguf}

if ! command -v wrk >/dev/null; then
    echo "bench_serve: installing wrk (Debian package)"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo=sudo; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null ||
        { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
fi
for m in "$smol" "$gemma"; do
    [ -f "$m" ] || { echo "bench_serve: skip: model $m not found"; exit 0; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${srv:-}" ] && kill -INT "$srv" 2>/dev/null && wait "$srv" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/council.ini" <<INI
[council]
max_tokens = 96
timeout_s = 300
[member.smol]
type = local
model = $smol
[member.gemma]
type = local
model = $gemma
INI
DRUX_HOME=$tmp/home "$drux" serve --port 0 --db "$tmp/drux.db" --config "$tmp/council.ini" \
    --rate-limit 0 >"$tmp/out" 2>"$tmp/err" &
srv=$!
for _ in $(seq 50); do grep -q http "$tmp/out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -oE 'http://[0-9.]+:[0-9]+' "$tmp/out")
[ -n "$base" ] || { cat "$tmp/err"; exit 1; }

post() { curl -s -H 'Content-Type: application/json' -d "{\"question\": \"$1\"}" "$base/api/v1/questions"; }
qid() { sed -E 's/.*"id":"([a-z0-9]+)".*/\1/' <<<"$1" | head -c 32; }
id=$(qid "$(post 'What is the capital of France?')")
curl -s -N "$base/api/v1/questions/$id/events" >/dev/null # until it is done
pages=$(curl -s "$base/api/v1/health" | grep -q '"pages":true' && echo 1 || echo 0)

targets=("/api/v1/health" "/api/v1/questions?limit=20" "/api/v1/questions/$id" "/v1/models")
[ "$pages" = 1 ] && targets=("/" "/q/$id" "/static/style.css" "${targets[@]}")

run() { # label path
    local out rps p99
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$base$2" 2>&1)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
    printf '| %-32s | %-8s | %9s | %8s | %s\n' "$2" "$1" "$rps" "$p99" "${non2xx:-0} non-2xx"
}

echo "drux serve under wrk: $secs s per target, $conns connections, 2 threads; $(nproc) cores"
echo "| target                           | load     | req/s     | p99      |"
for t in "${targets[@]}"; do run idle "$t"; done
# now the models busy answering (questions queued so they stay busy for the
# whole run), each followed by SSE clients, $sse in all
qs=()
for q in 'Name the planets of the solar system in order.' 'Why is the sky blue?' \
         'How do vaccines work?' 'What causes the seasons on Earth?' 'Explain how a bicycle stays upright.' \
         'What is the difference between weather and climate?' 'How does a refrigerator work?' \
         'Why do cats purr?'; do
    qs+=("$(qid "$(post "$q")")")
done
for i in $(seq "$sse"); do
    curl -s -N "$base/api/v1/questions/${qs[$((i % ${#qs[@]}))]}/events" >/dev/null &
    pids+=($!)
done
sleep 1
for t in "${targets[@]}"; do run "sse x$sse" "$t"; done
echo "questions still running or queued at the end: $(curl -s "$base/api/v1/health" |
    sed -E 's/.*"running":([0-9]+),"queued":([0-9]+).*/\1 running, \2 queued/')"
