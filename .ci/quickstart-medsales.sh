#!/usr/bin/env bash
# Runs the README's medsales quick start on a fresh embedded database and
# checks that a provider profile and /health answer.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))
go build -o "$work/medsales" ./cmd/medsales
cd "$work"
LISTEN_ADDR=127.0.0.1:$port ./medsales serve --sample 500 >serve.out 2>serve.log &
pid=$!
for _ in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:$port/readyz >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat serve.out serve.log; exit 1; fi
  sleep 0.5
done
npi=$(sed -n 2p data/sample/npidata_pfile_20050523-20260810.csv | cut -d, -f1 | tr -d '"')
# Capture first, then match: grep -q on a pipe can close it early, and the
# writer's SIGPIPE would fail the pipeline under pipefail.
profile=$(curl -fsS "http://127.0.0.1:$port/v1/providers/$npi")
grep -q "\"npi\":\"$npi\"" <<<"$profile"
health=$(curl -fsS http://127.0.0.1:$port/health)
grep -q '"dataFreshness"' <<<"$health"
datasets=$(./medsales datasets)
grep -q '^nppes ' <<<"$datasets"
echo "medsales quick start ok (profile of $npi served)"
