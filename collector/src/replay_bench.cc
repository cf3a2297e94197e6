// replay_bench: what a collector restart costs in drift replay. Stores, in a scratch SQLite
// database, `--hosts` hosts with `--days` of reports every `--interval-s` seconds (each a real
// serialized portwatch.v1.Report: 20 destinations with owners, 20 processes, counters, settings
// hourly), then times RestoreFleet + RestoreDrift three ways, each from a fresh analysis:
//   48h-full      what restarts replayed before: the host bucket ring only (2 days);
//   8d-coarse     today: 48 h report by report, the 6 days before coarse (summary columns);
//   8d-full       the same 8 days decoded report by report, for comparison.
// Prints wall and CPU milliseconds, reports replayed and the seasonal days the host's baseline
// then holds.
//
//   replay_bench [--dir DIR] [--hosts N] [--days D] [--interval-s S]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <vector>

#include "portwatch/files.h"
#include "portwatch/wire.h"
#include "src/recovery.h"

namespace pc = portwatch::collector;
namespace pw = portwatch;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kHour = 3'600'000;

// One report of a busy web host: a daily cycle on its ports, TIME_WAIT toward its database.
pw::Report MakeReport(uint64_t seq, int64_t at, std::mt19937* rng) {
  pw::Report r;
  r.sequence = seq;
  r.collected_unix_ms = at;
  const double day = static_cast<double>(at % (24 * kHour)) / (24 * kHour);
  const auto ports = static_cast<uint32_t>(4000 + 2500 * std::sin(2 * M_PI * day) + (*rng)() % 50);
  const int tw = static_cast<int>(pw::TcpState::kTimeWait);
  const int est = static_cast<int>(pw::TcpState::kEstablished);
  r.sockets.counts[0][tw] = ports / 2;
  r.sockets.counts[0][est] = ports - ports / 2;
  r.sockets.total_sockets = ports;
  r.sockets.ephemeral_range = {49152, 65535};
  r.sockets.ephemeral_ports_usable = 16384;
  r.sockets.ephemeral_ports_in_use = ports;
  for (int i = 0; i < 20; ++i) {
    pw::DestinationUsage d;
    pw::Endpoint::Parse("10.0." + std::to_string(i) + ".12:1433", &d.remote);
    d.states[tw] = ports / (2 * (i + 2));
    d.states[est] = ports / (4 * (i + 2));
    d.local_ports = d.states[tw] + d.states[est];
    d.top_process = "w3wp.exe";
    d.top_process_pid = 4000 + static_cast<uint32_t>(i);
    d.top_process_connections = d.states[est];
    r.destinations.top.push_back(d);
  }
  for (int i = 0; i < 20; ++i) {
    pw::ProcessUsage p;
    p.pid = 4000 + static_cast<uint32_t>(i);
    p.name = "worker" + std::to_string(i) + ".exe";
    p.program = "C:\\Program Files\\Service\\bin\\" + p.name;
    p.states[est] = ports / (4 * (i + 2));
    p.ephemeral_ports = p.states[est];
    r.processes.top.push_back(p);
  }
  for (const char* name : {"Tcpip.4226", "Tcpip.4227", "Tcpip.4231", "Tcpip.4266"}) {
    r.events.counters.push_back({name, 3, 0});
  }
  if (seq % 120 == 1) {
    r.has_config = true;
    r.config.os_version = "Windows 10.0.20348";
    r.config.values.push_back(
        {"Tcpip.TcpTimedWaitDelay", true, pw::ConfigValue::Type::kInt, 60, ""});
  }
  return r;
}

double CpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1000 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Measures the collector's drift replay at restart"};
  std::string dir = fs::temp_directory_path().string();
  int hosts = 1;
  double days = 8;
  int interval_s = 30;
  app.add_option("--dir", dir, "Where to put the scratch database")->capture_default_str();
  app.add_option("--hosts", hosts, "Hosts stored")->capture_default_str();
  app.add_option("--days", days, "Days of history per host")->capture_default_str();
  app.add_option("--interval-s", interval_s, "Seconds between a host's reports")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const fs::path path =
      fs::path(dir) / ("replay-bench-" + std::to_string(std::random_device{}()) + ".db");
  pc::StoreOptions so;
  so.path = path.string();
  so.synchronous_full = false;
  so.history_max_age_ms = static_cast<int64_t>(days * 24 * kHour) + kHour;
  const int64_t now = pw::NowUnixMs();
  const int64_t start = now - static_cast<int64_t>(days * 24 * kHour);
  size_t stored = 0, bytes = 0;
  {
    auto store = pc::Store::Open(so);
    if (!store.ok()) {
      std::fprintf(stderr, "replay_bench: %s\n", store.error().c_str());
      return 2;
    }
    std::mt19937 rng(7);
    std::vector<pc::StoreOp> ops;
    for (int h = 0; h < hosts; ++h) {
      const std::string host = "web" + std::to_string(h);
      pc::StoreOp hello;
      hello.kind = pc::StoreOp::Kind::kHello;
      hello.host = host;
      hello.now_unix_ms = start;
      hello.hello.hostname = host;
      hello.hello.os = pw::OsKind::kWindows;
      hello.hello.instance_id = "bench";
      ops.push_back(hello);
      uint64_t seq = 1;
      for (int64_t at = start; at < now; at += interval_s * 1000LL, ++seq) {
        const pw::Report r = MakeReport(seq, at, &rng);
        pw::v1::Report wire;
        pw::ToProto(r, &wire);
        pc::StoreOp op;
        op.host = host;
        op.report.host = host;
        op.report.instance_id = "bench";
        op.report.sequence = seq;
        op.report.collected_unix_ms = at;
        op.report.received_unix_ms = at;
        op.report.ports_in_use = r.sockets.ephemeral_ports_in_use;
        op.report.ports_usable = r.sockets.ephemeral_ports_usable;
        op.report.time_wait = r.sockets.counts[0][static_cast<int>(pw::TcpState::kTimeWait)];
        op.report.has_config = r.has_config;
        op.report.payload = wire.SerializeAsString();
        bytes += op.report.payload.size();
        ops.push_back(std::move(op));
        if (ops.size() >= 2048) {
          stored += ops.size();
          auto w = (*store)->Write(ops);
          if (!w.ok()) {
            std::fprintf(stderr, "replay_bench: %s\n", w.error().c_str());
            return 1;
          }
          ops.clear();
        }
      }
    }
    if (!ops.empty() && !(*store)->Write(ops).ok()) return 1;
    stored += ops.size();
  }
  std::printf("%d host(s), %.1f days of %d-s reports: %zu rows, %.0f bytes a report\n", hosts, days,
              interval_s, stored, static_cast<double>(bytes) / static_cast<double>(stored));
  std::printf("%-12s %10s %10s %10s %12s\n", "replay", "wall ms", "cpu ms", "reports",
              "season days");
  struct Mode {
    const char* name;
    pc::ReplaySpan span;
  };
  const pc::ReplaySpan today = pc::ReplaySpanFor(pw::analysis::Options{});
  const Mode modes[] = {{"48h-full", {today.full_ms, today.full_ms}},
                        {"8d-coarse", {}},
                        {"8d-full", {today.total_ms, today.total_ms}}};
  for (const Mode& m : modes) {
    auto store = pc::Store::Open(so);
    if (!store.ok()) return 2;
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = CpuMs();
    pc::FleetState fleet;
    auto restored = pc::RestoreFleet(**store, fleet);
    auto drift = pc::DriftMonitor::Create(pw::analysis::Options{});
    if (!restored.ok() || !drift.ok()) return 1;
    auto replayed = pc::RestoreDrift(**store, fleet, **drift, now, m.span);
    if (!replayed.ok()) {
      std::fprintf(stderr, "replay_bench: %s\n", replayed.error().c_str());
      return 1;
    }
    const double cpu = CpuMs() - c0;
    const double wall =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    auto st = (*drift)->Host("web0", now);
    std::printf("%-12s %10.0f %10.0f %10zu %12u\n", m.name, wall, cpu, *replayed,
                st ? st->ports.fit.season_days : 0);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  return 0;
}
