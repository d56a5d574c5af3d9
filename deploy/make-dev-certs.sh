#!/usr/bin/env bash
# Makes a development CA and certificates for TLS / mutual TLS between sac
# processes (--server.tls.*, --client.tls.*, --replay_client.tls.*), plus a
# bearer token file (--server.auth_token_file, --client.auth_token_file).
# NOT for production: the CA key sits next to the certificates, unencrypted.
#
# Usage: deploy/make-dev-certs.sh OUT_DIR [EXTRA_DNS_NAME ...]
# Writes into OUT_DIR (mode 0700; keys 0600):
#   ca.pem ca.key            the CA (10 years)
#   server.pem server.key    one server certificate for every process, with the
#                            names of the compose services and the Kubernetes
#                            Services/pods (learner, replay-N, replay-N.replay,
#                            actor, *.sac.svc...), localhost, 127.0.0.1, ::1 and
#                            the extra names given
#   client.pem client.key    a client certificate (mutual TLS; CN sac-client)
#   token                    a random 256-bit bearer token (hex)
# Refuses to overwrite an existing OUT_DIR/ca.pem (delete the folder to renew).
set -euo pipefail
[ "$#" -ge 1 ] || { sed -n '2,17p' "$0"; exit 2; }
out="$1"; shift
command -v openssl >/dev/null || { echo "make-dev-certs: openssl missing: run deploy/install-deps.sh" >&2; exit 1; }
[ -e "$out/ca.pem" ] && { echo "make-dev-certs: $out/ca.pem exists; delete $out to make new ones" >&2; exit 1; }
mkdir -p "$out" && chmod 700 "$out"
umask 077

names=(localhost learner actor prometheus)
for i in $(seq 0 15); do names+=("replay-$i" "replay-$i.replay"); done
for ns in sac sac-dev; do
  names+=("learner.$ns" "learner.$ns.svc" "learner.$ns.svc.cluster.local" "*.replay.$ns.svc" "*.replay.$ns.svc.cluster.local")
done
names+=("$@")
san="IP:127.0.0.1,IP:::1"
for n in "${names[@]}"; do san="$san,DNS:$n"; done

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=sac-cluster dev CA" -keyout "$out/ca.key" -out "$out/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() {  # issue NAME CN EXTENSIONS
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$out/$1.key" -out "$out/$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$out/$1.ext"
  openssl x509 -req -in "$out/$1.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -days 825 -extfile "$out/$1.ext" -out "$out/$1.pem" 2>/dev/null
  rm -f "$out/$1.csr" "$out/$1.ext"
}
issue server sac-server "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san"
issue client sac-client "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
rm -f "$out/ca.srl"
openssl rand -hex 32 > "$out/token"
chmod 644 "$out/ca.pem" "$out/server.pem" "$out/client.pem"
openssl verify -CAfile "$out/ca.pem" "$out/server.pem" "$out/client.pem" >/dev/null
echo "make-dev-certs: wrote $out: ca.pem, server.pem/.key, client.pem/.key, token"
