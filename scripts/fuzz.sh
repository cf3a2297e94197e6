#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz/ and runs each for a given
# time, starting from its seed corpus in fuzz/corpus/ (new inputs it finds go to
# build-fuzz/corpus/NAME, crashes to build-fuzz/crashes/).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
#
# SECONDS 0 runs every seed once and stops: the brief check that each recorded input still goes
# through cleanly. Targets: text report sock_diag proc_counters windows_tables windows_events
# spool config policy (fuzz/README.md says what each checks and what each run found).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
B=${FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$B/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPORTWATCH_FUZZ=ON -DPORTWATCH_BUILD_TESTS=OFF \
    "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(text report sock_diag proc_counters windows_tables windows_events spool config policy)
cmake --build "$B" --target "${targets[@]/#/fuzz_}"
mkdir -p "$B/crashes"
for t in "${targets[@]}"; do
  mkdir -p "$B/corpus/$t"
  echo "fuzz: $t for ${secs}s" >&2
  if [ "$secs" = 0 ]; then
    "$B/fuzz/fuzz_$t" -runs=0 "fuzz/corpus/$t"
  else
    "$B/fuzz/fuzz_$t" -max_total_time="$secs" -artifact_prefix="$B/crashes/$t-" \
      "$B/corpus/$t" "fuzz/corpus/$t"
  fi
done
