#!/usr/bin/env bash
# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, in a build directory
# of their own (build-asan/), so memory errors and undefined behaviour fail the suite. The
# end-to-end tests keep running against the normal build (scripts/test.sh).
#
#   scripts/test-sanitizers.sh [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${ASAN_BUILD_DIR:-build-asan}
if [ ! -f "$B/build.ninja" ]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
    "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined"
fi
units=(common_test agent_test collector_test analysis_test windows_mapping_test policy_test
  recovery_test web_config_test status_pages_test status_source_live_test revocation_test
  portwatchctl_format_test sim_test)
cmake --build "$B" --target "${units[@]}"
cd "$B"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --timeout 600 -R '^([A-Z]|revocation_test$)' -E '^(e2e|deploy|fuzz|windows)\.' "$@"
