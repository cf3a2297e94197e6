#!/usr/bin/env bash
# Fleet PKI for portwatch with the openssl CLI: one CA, a certificate per agent host, operator
# certificates for portwatchctl, the collector's certificate, revocation and the CRL. Every file
# is written to a temporary name and renamed into place, so a collector or agent that re-reads
# it never sees half a file. See deploy/pki/README.md for rotation and revocation.
#
#   pki.sh [--dir DIR] init [--days N] [--name "CA NAME"]
#   pki.sh [--dir DIR] host NAME [--days N]           agent certificate: clientAuth, DNS SAN NAME
#   pki.sh [--dir DIR] operator NAME [--days N]       portwatchctl: clientAuth,
#                                                     URI SAN urn:portwatch:operator:NAME
#   pki.sh [--dir DIR] collector [--days N] NAME...   serverAuth; NAMEs are DNS names or IPs
#                                                     (default: localhost 127.0.0.1 ::1)
#   pki.sh [--dir DIR] renew CERT.pem [--days N]      new key and certificate, same names
#   pki.sh [--dir DIR] revoke CERT.pem [--reason R]   revoke, then regenerate the CRL
#   pki.sh [--dir DIR] crl [--days N]                 regenerate DIR/crl.pem (do it before
#                                                     its nextUpdate: default every 30 days)
#   pki.sh [--dir DIR] list                           every issued certificate and its state
#   pki.sh [--dir DIR] expiring [--days N]            certificates expiring within N days
#                                                     (default 30) and a CRL due within 7 days;
#                                                     exit 1 if there are any
#
# DIR (default ./pki) holds ca.pem, ca.key, crl.pem, hosts/NAME.pem|.key,
# operators/NAME.pem|.key, collector.pem|.key and the CA's database (index.txt, serial,
# crlnumber). host, operator and collector also take --start and --end (YYYYMMDDHHMMSSZ) to set
# the validity period exactly, e.g. to check that the collector refuses an expired certificate.
set -euo pipefail

die() { echo "pki.sh: $*" >&2; exit 2; }
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
command -v openssl >/dev/null || die "openssl is not installed; apt-get install openssl"

dir=./pki
if [ "${1:-}" = "--dir" ]; then dir=${2:?--dir needs a directory}; shift 2; fi
dir=$(realpath -m "$dir")  # openssl ca runs from DIR: every path handed to it is absolute
cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
case "$cmd" in -h|--help|help) usage; exit 0 ;; esac
shift

days=""
reason=unspecified
ca_name="portwatch fleet CA"
start="" end=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --days) days=${2:?--days needs a number}; shift 2
            [[ "$days" =~ ^[0-9]+$ ]] && [ "$days" -gt 0 ] || die "--days needs a positive number" ;;
    --reason) reason=${2:?--reason needs a reason}; shift 2 ;;
    --name) ca_name=${2:?--name needs a name}; shift 2 ;;
    --start) start=${2:?--start needs YYYYMMDDHHMMSSZ}; shift 2 ;;
    --end) end=${2:?--end needs YYYYMMDDHHMMSSZ}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) args+=("$1"); shift ;;
  esac
done

valid_name() {
  [[ "$1" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$ ]] ||
    die "'$1' is not a valid name (letters, digits, dots and dashes)"
}
is_ip() { [[ "$1" =~ ^[0-9.]+$ || "$1" == *:* ]]; }

need_ca() {
  [ -s "$dir/ca.pem" ] && [ -s "$dir/ca.key" ] && [ -f "$dir/index.txt" ] ||
    die "no CA in '$dir': run 'pki.sh --dir $dir init' first"
}

# The CA's openssl configuration: a database of issued certificates, so that revocation and the
# CRL know every serial. unique_subject=no lets a renewal reuse the subject.
write_config() {
  cat > "$dir/openssl.cnf" <<CNF
[ ca ]
default_ca = fleet
[ fleet ]
dir = .
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir/issued
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_crl_days = 30
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[ anything ]
commonName = supplied
organizationName = optional
CNF
}

# Runs openssl ca from DIR, where the configuration's relative paths point.
ca_cmd() { (cd "$dir" && openssl ca -config openssl.cnf -batch "$@"); }

# Writes DIR/crl.pem atomically.
gen_crl() {
  local d=${days:-30}
  ca_cmd -gencrl -crldays "$d" -out crl.pem.tmp 2>"$dir/.err" || { cat "$dir/.err" >&2; die "cannot generate the CRL"; }
  mv -f "$dir/crl.pem.tmp" "$dir/crl.pem"
  chmod 0644 "$dir/crl.pem"
  echo "pki.sh: wrote $dir/crl.pem (valid $d days; regenerate before then)" >&2
}

# issue OUT.pem CN SAN EKU: a new key and a certificate, each renamed into place (key first, so
# that a reader that sees the new certificate also finds its key).
issue() {
  local out=$1 cn=$2 san=$3 eku=$4
  local base=${out%.pem} tmp
  tmp=$(mktemp -d "$dir/.issue.XXXXXX")
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$tmp/key" -out "$tmp/csr" -subj "/O=portwatch/CN=$cn" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' \
    "$eku" "$san" > "$tmp/ext"
  local validity=(-days "${days:-365}")
  if [ -n "$start" ] || [ -n "$end" ]; then
    [ -n "$start" ] && [ -n "$end" ] || die "--start and --end go together"
    validity=(-startdate "$start" -enddate "$end")
  fi
  if ! ca_cmd -notext -in "$tmp/csr" -out "$tmp/cert" -extfile "$tmp/ext" "${validity[@]}" \
       2>"$tmp/err"; then
    cat "$tmp/err" >&2; rm -rf "$tmp"; die "cannot issue $out"
  fi
  mkdir -p "$(dirname "$out")"
  chmod 0600 "$tmp/key"; chmod 0644 "$tmp/cert"
  mv -f "$tmp/key" "$base.key"
  mv -f "$tmp/cert" "$out"
  rm -rf "$tmp"
  echo "pki.sh: issued $out for $cn (serial $(openssl x509 -in "$out" -noout -serial | cut -d= -f2), expires $(openssl x509 -in "$out" -noout -enddate | cut -d= -f2))" >&2
}

collector_san() {
  local san="" n
  [ $# -gt 0 ] || set -- localhost 127.0.0.1 ::1
  for n in "$@"; do
    if is_ip "$n"; then san="$san${san:+,}IP:$n"; else valid_name "$n"; san="$san${san:+,}DNS:$n"; fi
  done
  echo "$san"
}

umask 077
case "$cmd" in
  init)
    [ ! -s "$dir/ca.key" ] || die "'$dir' already holds a CA (ca.key): refusing to replace it"
    mkdir -p "$dir/issued" "$dir/hosts" "$dir/operators"
    write_config
    : > "$dir/index.txt"
    echo "unique_subject = no" > "$dir/index.txt.attr"
    openssl rand -hex 16 > "$dir/serial"
    echo 1000 > "$dir/crlnumber"
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" -days "${days:-3650}" \
      -subj "/O=portwatch/CN=$ca_name" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 0644 "$dir/ca.pem"
    echo "pki.sh: made CA $dir/ca.pem; keep $dir/ca.key offline where you can" >&2
    gen_crl
    ;;
  host)
    need_ca; [ ${#args[@]} -eq 1 ] || die "host needs exactly one NAME"
    valid_name "${args[0]}"
    issue "$dir/hosts/${args[0]}.pem" "${args[0]}" "DNS:${args[0]}" clientAuth
    ;;
  operator)
    need_ca; [ ${#args[@]} -eq 1 ] || die "operator needs exactly one NAME"
    valid_name "${args[0]}"
    # No DNS SAN: an operator certificate can never be taken for a host.
    issue "$dir/operators/${args[0]}.pem" "${args[0]}" "URI:urn:portwatch:operator:${args[0]}" clientAuth
    ;;
  collector)
    need_ca
    issue "$dir/collector.pem" portwatch-collector "$(collector_san "${args[@]+"${args[@]}"}")" serverAuth
    ;;
  renew)
    need_ca; [ ${#args[@]} -eq 1 ] || die "renew needs exactly one CERT.pem"
    old=${args[0]}
    [ -s "$old" ] || die "'$old' does not exist"
    cn=$(openssl x509 -in "$old" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
    san=$(openssl x509 -in "$old" -noout -ext subjectAltName 2>/dev/null | tail -n +2 |
          sed 's/^ *//; s/, /,/g; s/IP Address:/IP:/g')
    eku=$(openssl x509 -in "$old" -noout -ext extendedKeyUsage 2>/dev/null | tail -n +2 |
          sed 's/^ *//; s/TLS Web Client Authentication/clientAuth/; s/TLS Web Server Authentication/serverAuth/; s/, /,/g')
    [ -n "$cn" ] && [ -n "$san" ] && [ -n "$eku" ] || die "'$old' lacks a CN, SAN or EKU to renew"
    # The old certificate stays valid until it expires (revoke it if its key is compromised).
    issue "$old" "$cn" "$san" "$eku"
    ;;
  revoke)
    need_ca; [ ${#args[@]} -eq 1 ] || die "revoke needs exactly one CERT.pem"
    [ -s "${args[0]}" ] || die "'${args[0]}' does not exist"
    if ! ca_cmd -revoke "$(cd "$(dirname "${args[0]}")" && pwd)/$(basename "${args[0]}")" \
         -crl_reason "$reason" 2>"$dir/.err"; then
      cat "$dir/.err" >&2; die "cannot revoke '${args[0]}'"
    fi
    echo "pki.sh: revoked serial $(openssl x509 -in "${args[0]}" -noout -serial | cut -d= -f2)" >&2
    gen_crl
    ;;
  crl)
    need_ca; gen_crl ;;
  list)
    need_ca
    # index.txt: state (V valid, R revoked, E expired), expiry, revocation, serial, file, subject
    awk -F'\t' '{ st = ($1 == "V" ? "valid" : ($1 == "R" ? "revoked" : "expired"));
                  printf "%-8s %-34s expires %s  %s\n", st, $4, $2, $6 }' "$dir/index.txt"
    ;;
  expiring)
    need_ca
    within=$(( ${days:-30} * 86400 )) found=0
    for f in "$dir/ca.pem" "$dir/collector.pem" "$dir"/hosts/*.pem "$dir"/operators/*.pem; do
      [ -s "$f" ] || continue
      if ! openssl x509 -in "$f" -noout -checkend "$within" >/dev/null; then
        echo "$f expires $(openssl x509 -in "$f" -noout -enddate | cut -d= -f2)"; found=1
      fi
    done
    if [ -s "$dir/crl.pem" ]; then
      next=$(openssl crl -in "$dir/crl.pem" -noout -nextupdate | cut -d= -f2)
      if [ "$(date -d "$next" +%s)" -lt $(( $(date +%s) + 7 * 86400 )) ]; then
        echo "$dir/crl.pem next update $next"; found=1
      fi
    fi
    exit $found
    ;;
  *) die "unknown command '$cmd' (see --help)" ;;
esac
