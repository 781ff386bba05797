#!/usr/bin/env bash
# Runs the README's adherence quick start on a fresh embedded database:
# bootstrap an org, enrol a patient, set a reminder policy, create a plan
# whose dose is due soon, and check that the console provider printed the
# reminder (redacted) and the notification history shows it sent.
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
base=http://127.0.0.1:$port
go build -o "$work/adherence" ./cmd/adherence
cd "$work"
LISTEN_ADDR=127.0.0.1:$port ./adherence serve >serve.out 2>serve.log &
pid=$!
for _ in $(seq 1 120); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat serve.out serve.log; exit 1; fi
  sleep 0.5
done
boot=$(./adherence admin bootstrap --org "Demo Care")
key=$(sed -n 's/^admin_key=//p' <<<"$boot")
auth=(-H "Authorization: Bearer $key" -H 'Content-Type: application/json')
patient=$(curl -fsS "${auth[@]}" -d '{"givenName":"Ana","timeZone":"UTC","phone":"+15551230001","smsConsent":true}' "$base/v1/patients")
pid_patient=$(sed -E 's/.*"id":"([^"]+)".*/\1/' <<<"$patient")
curl -fsS "${auth[@]}" -X PUT -d '{"programName":"Demo Care","reminderPolicy":{"firstOffsetMinutes":-60,
  "repeatEveryMinutes":15,"maxReminders":3,"validityMinutes":30,"channels":["sms"]}}' "$base/v1/settings/messaging" >/dev/null
due=$(date -u -d '+20 min' +%H:%M:00)
curl -fsS "${auth[@]}" -d "{\"medication\":{\"rxnorm\":\"314076\",\"display\":\"lisinopril\"},
  \"timing\":{\"repeat\":{\"timeOfDay\":[\"$due\"]}}}" "$base/v1/patients/$pid_patient/plans" >/dev/null
history=""
for _ in $(seq 1 60); do
  history=$(curl -fsS "${auth[@]}" "$base/v1/patients/$pid_patient/notifications")
  if grep -q '"status":"sent"' <<<"$history"; then break; fi
  sleep 0.5
done
grep -q '"status":"sent"' <<<"$history" || { echo "no reminder sent: $history"; cat serve.log; exit 1; }
out=$(cat serve.out)
grep -q 'notify console: channel=sms' <<<"$out"
if grep -q '+15551230001' serve.out serve.log; then echo "the phone number was printed"; exit 1; fi
echo "adherence quick start ok (reminder sent through the console provider)"
