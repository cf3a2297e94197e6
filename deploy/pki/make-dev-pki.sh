#!/usr/bin/env bash
# Makes a development PKI for portwatch with openssl: a fleet CA, a collector certificate and one
# client certificate per agent host (EC P-256, subject alternative names). Idempotent: files that
# exist and are valid for at least another day are kept, so re-running only adds what is missing.
#
#   deploy/pki/make-dev-pki.sh [--out DIR] [--collector-name NAME]... [--operator NAME]...
#                              [--days N] HOST...
#
# Writes DIR/ca.pem, DIR/ca.key, DIR/collector.pem, DIR/collector.key, for each HOST
# DIR/agents/HOST.pem and .key (DNS SAN HOST: the agent kind), and for each --operator
# DIR/operators/NAME.pem and .key (URI SAN urn:portwatch:operator:NAME and no DNS SAN: the
# operator kind, for portwatchctl; the collector answers queries only from names it is told).
# The collector certificate names localhost, 127.0.0.1 and ::1 plus every --collector-name.
# For production, use your own CA; see README.
set -euo pipefail

out=./pki
days=365
collector_names=()
operators=()
hosts=()
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --collector-name) collector_names+=("${2:?--collector-name needs a name}"); shift 2 ;;
    --operator) operators+=("${2:?--operator needs a name}"); shift 2 ;;
    --days) days=${2:?--days needs a number}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "make-dev-pki: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) hosts+=("$1"); shift ;;
  esac
done
command -v openssl >/dev/null || { echo "make-dev-pki: openssl is not installed; apt-get install openssl" >&2; exit 2; }
for h in "${hosts[@]+"${hosts[@]}"}" "${operators[@]+"${operators[@]}"}"; do
  if ! [[ "$h" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]]; then
    echo "make-dev-pki: '$h' is not a valid host name (letters, digits, dots and dashes)" >&2
    exit 2
  fi
done

mkdir -p "$out/agents" "$out/operators"
umask 077

valid() {  # a certificate that exists and is good for at least one more day
  [ -s "$1" ] && [ -s "${1%.pem}.key" ] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1
}

if ! valid "$out/ca.pem"; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$out/ca.key" -out "$out/ca.pem" -days $((days * 2)) \
    -subj "/O=portwatch dev/CN=portwatch dev fleet CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  # A new CA invalidates every certificate it did not sign.
  rm -f "$out/collector.pem" "$out"/agents/*.pem "$out"/operators/*.pem
  echo "make-dev-pki: made CA $out/ca.pem" >&2
fi

issue() {  # issue NAME_FILE CN SAN EKU
  local file=$1 cn=$2 san=$3 eku=$4
  if valid "$file"; then return 0; fi
  local csr ext
  csr=$(mktemp) ext=$(mktemp)
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "${file%.pem}.key" -out "$csr" -subj "/O=portwatch dev/CN=$cn" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$san" > "$ext"
  openssl x509 -req -in "$csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
    -out "$file" -days "$days" -extfile "$ext" 2>/dev/null
  rm -f "$csr" "$ext"
  echo "make-dev-pki: issued $file for $cn" >&2
}

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for n in "${collector_names[@]+"${collector_names[@]}"}"; do san="$san,DNS:$n"; done
issue "$out/collector.pem" "portwatch-collector" "$san" "serverAuth"
for h in "${hosts[@]+"${hosts[@]}"}"; do
  issue "$out/agents/$h.pem" "$h" "DNS:$h" "clientAuth"
done
for o in "${operators[@]+"${operators[@]}"}"; do
  # Operators are told from agents by this URI SAN, never by name; they carry no DNS SAN, so
  # they can never be taken for a host (and an agent certificate never for an operator).
  if [ -s "$out/operators/$o.pem" ] && ! openssl x509 -in "$out/operators/$o.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "URI:urn:portwatch:operator:$o"; then
    rm -f "$out/operators/$o.pem"  # issued before operators had their own kind: issue again
  fi
  issue "$out/operators/$o.pem" "$o" "URI:urn:portwatch:operator:$o" "clientAuth"
done
chmod 0644 "$out"/*.pem "$out"/agents/*.pem "$out"/operators/*.pem 2>/dev/null || true
