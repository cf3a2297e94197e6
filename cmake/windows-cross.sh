#!/usr/bin/env bash
# Cross-builds the Windows agent with mingw-w64 and runs its tests under Wine.
#   cmake/windows-cross.sh build SOURCE_DIR BUILD_DIR   configure (once) and build
#   cmake/windows-cross.sh test  SOURCE_DIR BUILD_DIR   run agent_windows_test.exe under Wine
#   cmake/windows-cross.sh prefix SOURCE_DIR BUILD_DIR  create the Wine prefix (once), print it
# Needs g++-mingw-w64-x86-64 and wine (scripts/install-deps.sh test installs both).
set -euo pipefail
mode=$1 src=$2 bin=$3
mkdir -p "$bin"
bin=$(cd "$bin" && pwd)  # Wine wants absolute paths

need() {
  command -v "$1" >/dev/null || {
    echo "windows-cross: '$1' not found; install it with scripts/install-deps.sh test" >&2
    exit 1
  }
}

# The one Wine prefix the Windows tests share (ctest runs them one at a time: RESOURCE_LOCK).
ensure_prefix() {
  export WINEPREFIX="$bin/wineprefix" WINEDEBUG=-all WINEARCH=win64
  # No display, and no prompts to download Mono / Gecko (the tests need neither).
  export DISPLAY= WINEDLLOVERRIDES="mscoree,mshtml="
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    start=$(date +%s)
    wine wineboot --init >/dev/null 2>&1 || true
    wineserver -w
    [ -f "$WINEPREFIX/system.reg" ] || { echo "windows-cross: cannot create $WINEPREFIX" >&2; exit 1; }
    echo "windows-cross: created the Wine prefix in $(( $(date +%s) - start )) s"
  fi
}

case "$mode" in
  build)
    need x86_64-w64-mingw32-g++-posix
    # The default policy is embedded by the host build's policy_embed (no mingw yaml-cpp).
    embed=${PORTWATCH_POLICY_EMBED_TOOL:-$src/build/policy/policy_embed}
    [ -x "$embed" ] || { echo "windows-cross: $embed missing; build the Linux tree first" >&2; exit 1; }
    if [ ! -f "$bin/build.ninja" ]; then
      cmake -S "$src" -B "$bin" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_TOOLCHAIN_FILE="$src/cmake/mingw-w64-x86_64.cmake" \
        -DPORTWATCH_POLICY_EMBED_TOOL="$embed"
    elif ! grep -q "^PORTWATCH_POLICY_EMBED_TOOL:.*=$embed\$" "$bin/CMakeCache.txt"; then
      cmake -B "$bin" -DPORTWATCH_POLICY_EMBED_TOOL="$embed" >/dev/null
    fi
    start=$(date +%s)
    cmake --build "$bin" --target portwatch-agent agent_windows_test windows_grpc_syntax
    echo "windows-cross: build took $(( $(date +%s) - start )) s"
    ;;
  prefix)
    need wine
    ensure_prefix >&2
    echo "$WINEPREFIX"
    ;;
  test)
    need wine
    exe="$bin/agent/src/windows/agent_windows_test.exe"
    [ -f "$exe" ] || { echo "windows-cross: $exe missing; run the build step first" >&2; exit 1; }
    ensure_prefix
    start=$(date +%s)
    rc=0
    wine "$exe" --gtest_brief=0 || rc=$?
    echo "windows-cross: tests under $(wine --version) took $(( $(date +%s) - start )) s, exit $rc"
    # The Windows example config must be read by the agent: every key known, the first failure
    # is that this build cannot stream (the full MSVC build fails on the absent CA file instead).
    agent="$bin/agent/src/windows/portwatch-agent.exe"
    example=$(winepath -w "$src/deploy/windows/agent.ini.example")
    if out=$(wine "$agent" --config "$example" run 2>&1); then
      echo "windows-cross: agent.ini.example: the agent did not refuse to start: $out" >&2; rc=1
    elif ! grep -q "built without gRPC" <<<"$out"; then
      echo "windows-cross: agent.ini.example not accepted: $out" >&2; rc=1
    else
      echo "windows-cross: deploy/windows/agent.ini.example is read by portwatch-agent.exe"
    fi
    # The one-box audit runs the built-in default policy (this build has no YAML parser).
    if ! out=$(wine "$agent" audit --json 2>&1) && ! grep -q '"policy": "built-in default policy"' <<<"$out"; then
      echo "windows-cross: portwatch-agent.exe audit failed: $out" >&2; rc=1
    elif ! grep -q '"policy": "built-in default policy"' <<<"$out"; then
      echo "windows-cross: portwatch-agent.exe audit did not use the built-in policy: $out" >&2; rc=1
    else
      echo "windows-cross: portwatch-agent.exe audit ran the built-in default policy"
    fi
    wineserver -k 2>/dev/null || true
    exit $rc
    ;;
  *)
    echo "usage: $0 build|test|prefix SOURCE_DIR BUILD_DIR" >&2
    exit 2
    ;;
esac
