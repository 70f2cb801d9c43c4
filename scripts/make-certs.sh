#!/usr/bin/env bash
# Makes a private CA and the certificates for mutual TLS between the controller and agents.
#
#   scripts/make-certs.sh DIR ca                       # DIR/ca.crt, DIR/ca.key (keep ca.key offline)
#   scripts/make-certs.sh DIR agent HOST_ID [SAN...]   # DIR/agent-HOST_ID.{crt,key}: server cert,
#                                                      #   SANs like DNS:web-01.example IP:10.0.0.5
#   scripts/make-certs.sh DIR controller               # DIR/controller.{crt,key}: client cert
#
# Agent config:      rpc: { listen: "0.0.0.0:7443", tls: { ca: ca.crt, cert: agent-ID.crt, key: agent-ID.key } }
# Controller config: rpc_client: { tls: { ca: ca.crt, cert: controller.crt, key: controller.key } }
# The agent then accepts only clients with a certificate from this CA, and the controller
# checks the agent's certificate against the address it dials (or rpc_client.tls.server_name).
set -euo pipefail
usage() { sed -n '2,13p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
dir=$1; kind=$2; shift 2
command -v openssl >/dev/null || { echo "make-certs: openssl is required (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"; cd "$dir"
days=${DAYS:-825}
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; chmod 600 "$1"; }
sign() { # name subject extfile
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" -out "$1.crt" -extfile "$3" 2>/dev/null
  rm -f "$1.csr" "$3"
  echo "make-certs: wrote $dir/$1.crt and $dir/$1.key"
}
case "$kind" in
  ca)
    [ -e ca.key ] && { echo "make-certs: $dir/ca.key exists; refusing to overwrite" >&2; exit 1; }
    newkey ca.key
    openssl req -x509 -new -key ca.key -subj "/CN=opsfleet CA" -days 3650 -out ca.crt \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    echo "make-certs: wrote $dir/ca.crt and $dir/ca.key"
    ;;
  agent)
    [ $# -ge 1 ] || usage
    id=$1; shift
    [ -e ca.key ] || { echo "make-certs: no $dir/ca.key; run: $0 $dir ca" >&2; exit 1; }
    sans="DNS:$id"; for s in "$@"; do sans="$sans,$s"; done
    newkey "agent-$id.key"
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' "$sans" > "agent-$id.ext"
    sign "agent-$id" "/CN=$id" "agent-$id.ext"
    ;;
  controller)
    [ -e ca.key ] || { echo "make-certs: no $dir/ca.key; run: $0 $dir ca" >&2; exit 1; }
    newkey controller.key
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n' > controller.ext
    sign controller "/CN=opsfleet-controller" controller.ext
    ;;
  *) usage ;;
esac
