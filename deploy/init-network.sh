#!/bin/sh
# Prepares compose.yaml's five-relay network: creates each relay's key in its volume (the relay's
# --print-peer-id), then writes deploy/.env (the PeerIds and a metrics token, read by compose) and
# deploy/config.json (the web app's relays). Safe to run again: existing keys are kept.
set -eu
cd "$(dirname "$0")"
compose="docker compose -f compose.yaml"
token_file=.metrics-token
[ -s "$token_file" ] || (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "$token_file")
METRICS_TOKEN=$(cat "$token_file")
export METRICS_TOKEN
# compose needs every variable to render the file, even to run one service: placeholders first.
for i in 1 2 3 4 5; do export "RELAY${i}_ID=pending"; done
env_file=.env
: > "$env_file.tmp"
relays=""
for i in 1 2 3 4 5; do
  id=$($compose run --rm --no-deps "relay$i" --print-peer-id | tail -n 1)
  echo "RELAY${i}_ID=$id" >> "$env_file.tmp"
  relays="$relays${relays:+, }\"/ip4/127.0.0.1/tcp/909$i/ws/p2p/$id\""
done
echo "METRICS_TOKEN=$METRICS_TOKEN" >> "$env_file.tmp"
mv "$env_file.tmp" "$env_file"
# A local demo reaches the relays on 127.0.0.1; on the internet list their wss or webrtc-direct
# addresses instead and keep allowPrivateAddresses false (docs/operations.md, "The web app").
cat > config.json <<JSON
{
  "relays": [$relays],
  "iceServers": [],
  "allowPrivateAddresses": true
}
JSON
echo "wrote $(pwd)/.env and $(pwd)/config.json; now: docker compose -f deploy/compose.yaml up -d"
