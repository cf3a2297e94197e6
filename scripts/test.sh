#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test with ctest, then the
# unit tests again under sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 "$@")
# The whole suite also runs the unit tests under ASan + UBSan, in build-asan/ (about 3.5 min on
# two cores from a cold build directory); a filtered run (arguments given) skips it.
# It also runs every fuzzing seed once through its libFuzzer target (build-fuzz/; the first build
# of the nine targets, which include the agent's gRPC sink and the yaml-cpp policy reader, took
# about 20 min on a busy two-core machine; later runs take seconds).
if [ $# -eq 0 ]; then
  scripts/test-sanitizers.sh
  scripts/fuzz.sh 0
fi
