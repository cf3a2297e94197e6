#!/usr/bin/env bash
# Validates the dashboards against Grafana's published schema (@grafana/schema; see
# check-schema.mjs for how). Installs the pinned npm packages from package-lock.json with
# `npm ci` only when node_modules does not already hold exactly them, so a second run, or a run
# without network after a first one, needs no registry.
set -euo pipefail
cd "$(dirname "$0")"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "check-schema: '$tool' not found: install Debian's nodejs and npm (scripts/install-deps.sh test)" >&2
    exit 2
  fi
done
stamp=node_modules/.portwatch-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! npm ci --no-audit --no-fund --prefer-offline >"$log" 2>&1; then
    cat "$log" >&2
    echo "check-schema: npm ci failed (above): the npm registry must be reachable once to fetch" \
      "@grafana/schema and typescript into dashboards/node_modules" >&2
    exit 2
  fi
  cp package-lock.json "$stamp"
fi
exec node check-schema.mjs
