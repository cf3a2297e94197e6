#!/usr/bin/env bash
# Installs the Debian 12 packages portwatch needs to build, run and test. Idempotent: installs
# only what is missing, and skips apt entirely when everything is present.
#   scripts/install-deps.sh [run|test]   (default: test, which is a superset of run)
set -euo pipefail
mode=${1:-test}
run_pkgs=(build-essential cmake ninja-build pkg-config openssl curl ca-certificates
  libssl-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  prometheus-cpp-dev libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev python3
  libsqlite3-dev libyaml-cpp-dev ccache libcpp-httplib-dev libcrypt-dev)
# mingw-w64 and Wine: the Windows agent is cross-built and its tests run under Wine.
# chromium: the status page is checked in a real headless browser.
# clang-14 + libclang-rt-14-dev: the libFuzzer targets and the ASan/UBSan build.
test_pkgs=("${run_pkgs[@]}" prometheus iproute2 g++-mingw-w64-x86-64 wine wine64 python3-yaml
  chromium clang-14 libclang-rt-14-dev)
case "$mode" in
  run) pkgs=("${run_pkgs[@]}") ;;
  test) pkgs=("${test_pkgs[@]}") ;;
  *) echo "install-deps: unknown mode '$mode' (use run or test)" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The dashboards' schema check runs on node + npm: Debian's nodejs/npm unless a node is already
# installed some other way.
if [ "$mode" = test ] && ! { command -v node && command -v npm; } >/dev/null; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: need root to install: ${missing[*]} (run as root or install sudo)" >&2
    exit 2
  fi
else SUDO=; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# --no-install-recommends: the prometheus package otherwise pulls in node-exporter, and wine a
# desktop's worth of fonts and audio libraries.
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
