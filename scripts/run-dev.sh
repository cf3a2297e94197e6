#!/usr/bin/env bash
# The main job on one machine: builds portwatch, makes development certificates for this host
# (kept in run/pki, reused next time), then runs a collector and an agent for this host until you
# press Ctrl-C. Metrics: http://127.0.0.1:9464/metrics. Environment: PORTWATCH_LISTEN (agents'
# address, 127.0.0.1:7443), PORTWATCH_METRICS (127.0.0.1:9464), PORTWATCH_INTERVAL (5s),
# PORTWATCH_RUN_DIR (run/: certificates, the collector's database, the agent's spool),
# PORTWATCH_NO_BUILD=1 to skip install + build.
# PORTWATCH_SIM_HOSTS=N adds a simulated fleet of N hosts (portwatch-sim) with leaks, TIME_WAIT
# storms and bad settings among them; its time runs PORTWATCH_SIM_SCALE (120) times faster, and
# so does the collector's analysis, so drifting hosts show in `portwatchctl top` within minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PORTWATCH_NO_BUILD:-}" ]; then
  scripts/install-deps.sh run
  scripts/build.sh
fi
B=${BUILD_DIR:-build}
R=${PORTWATCH_RUN_DIR:-run}
host=$(hostname)
grpc=${PORTWATCH_LISTEN:-127.0.0.1:7443}
metrics=${PORTWATCH_METRICS:-127.0.0.1:9464}
deploy/pki/make-dev-pki.sh --out "$R/pki" --operator portwatchctl "$host"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 0' INT TERM

sim_hosts=${PORTWATCH_SIM_HOSTS:-0}
sim_scale=${PORTWATCH_SIM_SCALE:-120}
collector_args=()
if [ "$sim_hosts" != 0 ]; then
  # The analysis runs on the fleet's compressed clock; the silent-after time is stretched to
  # match, so this host's agent (real time) is not called silent between its reports.
  collector_args=(--analysis-time-scale "$(awk "BEGIN { print 1 / $sim_scale }")"
                  --silent-after "$(( sim_scale / 2 ))m")
fi

rm -f "$R/collector.ready"
"$B/collector/portwatch-collector" --listen "$grpc" --metrics-listen "$metrics" \
  --ca "$R/pki/ca.pem" --cert "$R/pki/collector.pem" --key "$R/pki/collector.key" \
  --ready-file "$R/collector.ready" --db "$R/collector.db" "${collector_args[@]}" &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$R/collector.ready" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "run-dev: the collector did not start (see above)" >&2; exit 1; }
  sleep 0.1
done
[ -s "$R/collector.ready" ] || { echo "run-dev: the collector did not become ready in 10 s" >&2; exit 1; }
# Read back the ports the collector actually bound (they differ from the request for port 0).
gport=$(sed -n 's/.*"grpc_port": \([0-9]*\).*/\1/p' "$R/collector.ready")
mport=$(sed -n 's/.*"metrics_port": \([0-9]*\).*/\1/p' "$R/collector.ready")
metrics="${metrics%:*}:$mport"
"$B/agent/portwatch-agent" run --collector "127.0.0.1:$gport" --ca "$R/pki/ca.pem" \
  --cert "$R/pki/agents/$host.pem" --key "$R/pki/agents/$host.key" --host-name "$host" \
  --interval "${PORTWATCH_INTERVAL:-5s}" --spool-dir "$R/spool" &
pids+=($!)
if [ "$sim_hosts" != 0 ]; then
  "$B/tools/portwatch-sim" --collector "127.0.0.1:$gport" --ca "$R/pki/ca.pem" \
    --ca-key "$R/pki/ca.key" --hosts "$sim_hosts" --interval 2s --time-scale "$sim_scale" \
    --mix healthy=60,leak_slow=5,leak_fast=10,leak_destination=5,leak_process=5,tw_storm=5,syn_flood=2,misconfigured=4,flapping=2,clock_skew=1,restart=1 \
    --plan-file "$R/sim-plan.json" &
  pids+=($!)
  echo "run-dev: $sim_hosts simulated hosts (sim-00001 ...) report too; their scenarios are in $R/sim-plan.json" >&2
fi
echo "run-dev: collector and agent for '$host' running; metrics at http://$metrics/metrics (Ctrl-C stops both)" >&2
echo "run-dev: ask it: $B/tools/portwatchctl --collector 127.0.0.1:$gport --ca $R/pki/ca.pem --cert $R/pki/operators/portwatchctl.pem --key $R/pki/operators/portwatchctl.key hosts" >&2
wait -n "${pids[@]}"
echo "run-dev: a process exited; stopping" >&2
exit 1
