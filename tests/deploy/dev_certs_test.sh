#!/usr/bin/env bash
# deploy/make-dev-certs.sh makes certificates our processes accept: a real
# sac-replay serves with mutual TLS and a bearer token from them; sacctl status
# reaches it by the name "localhost" with the client certificate and token, and
# is refused without the client certificate. Also: a second run refuses to
# overwrite the CA. Usage: dev_certs_test.sh SOURCE_DIR BIN_DIR WORK_DIR
set -euo pipefail
src="$1"; bin="$2"; work="$3"
rm -rf "$work"; mkdir -p "$work"
c="$work/certs"
"$src/deploy/make-dev-certs.sh" "$c"
if "$src/deploy/make-dev-certs.sh" "$c" 2>/dev/null; then echo "FAIL: a second run overwrote the CA" >&2; exit 1; fi
[ "$(stat -c %a "$c/server.key")" = 600 ] || { echo "FAIL: server.key is not mode 600" >&2; exit 1; }

"$bin/sac-replay" --task=InvertedPendulum-v5 --capacity=1000 --durability.enabled=false \
  --server.port_file="$work/ports" --server.tls.cert_file="$c/server.pem" \
  --server.tls.key_file="$c/server.key" --server.tls.ca_file="$c/ca.pem" \
  --server.tls.require_client_cert=true --server.auth_token_file="$c/token" \
  > "$work/replay.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
deadline=$((SECONDS + 60))
until [ -s "$work/ports" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "FAIL: sac-replay exited:"; cat "$work/replay.log"; exit 1; } >&2
  [ "$SECONDS" -lt "$deadline" ] || { echo "FAIL: sac-replay wrote no port file in 60 s" >&2; exit 1; }
  sleep 0.1
done
port="$(sed -n 's/.*grpc=\([0-9]*\).*/\1/p' "$work/ports")"
ok="$("$bin/sacctl" status --replay="localhost:$port" --client.tls.ca_file="$c/ca.pem" \
  --client.tls.cert_file="$c/client.pem" --client.tls.key_file="$c/client.key" \
  --client.auth_token_file="$c/token" 2>&1 || true)"
echo "with client certificate: $ok"
case "$ok" in *"shard 0"*) ;; *) echo "FAIL: mutual TLS with the dev certificates did not reach the shard" >&2; exit 1 ;; esac
refused="$("$bin/sacctl" status --replay="localhost:$port" --client.tls.ca_file="$c/ca.pem" \
  --client.auth_token_file="$c/token" 2>&1 || true)"
echo "without client certificate: $refused"
case "$refused" in *"shard 0"*) echo "FAIL: the shard served a client without a certificate" >&2; exit 1 ;; esac
echo "ok: dev CA, server and client certificates work with sac-replay and sacctl"
