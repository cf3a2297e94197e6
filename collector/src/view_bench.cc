// view_bench: the readers' cost at fleet scale, without the network. Builds a fleet view of N
// hosts through the real state path (FleetCore::Step with each host's hello and a busy report:
// 20 destinations, 20 processes, settings, counters), then times, median of --runs:
//   - publishing one view after a batch of reports (the state thread's step);
//   - rendering /metrics from it and serialising it as a scrape does;
//   - answering ListHosts (every host to protobuf, as the query API does);
// and prints the scrape's size and the process's RSS per host. See BENCHMARKS.md.
#include <prometheus/text_serializer.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "portwatch/v1/query.pb.h"
#include "src/fleet_core.h"
#include "src/fleet_metrics.h"
#include "src/query_service.h"

namespace pc = portwatch::collector;
namespace pw = portwatch;

namespace {

long RssKiB() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

pw::Report Busy(uint64_t seq, int64_t at, int i) {
  pw::Report r;
  r.sequence = seq;
  r.collected_unix_ms = at;
  r.sockets.ephemeral_range = {49152, 65535};
  r.sockets.ephemeral_ports_usable = 16384;
  r.sockets.ephemeral_ports_in_use = 2000 + static_cast<uint32_t>(i % 5000);
  r.sockets.counts[0][static_cast<int>(pw::TcpState::kEstablished)] = 1200;
  r.sockets.counts[0][static_cast<int>(pw::TcpState::kTimeWait)] = 800;
  for (int d = 0; d < 20; ++d) {
    pw::DestinationUsage u;
    pw::Endpoint::Parse("10.0." + std::to_string(d) + "." + std::to_string(i % 250) + ":1433",
                        &u.remote);
    u.local_ports = 50 + d;
    u.states[static_cast<int>(pw::TcpState::kEstablished)] = 20;
    u.states[static_cast<int>(pw::TcpState::kTimeWait)] = 30 + d;
    r.destinations.top.push_back(u);
    pw::ProcessUsage p;
    p.pid = 1000 + d;
    p.name = "service" + std::to_string(d) + ".exe";
    p.program = "C:\\Program Files\\svc\\" + p.name;
    p.ephemeral_ports = 40 + d;
    p.states[static_cast<int>(pw::TcpState::kEstablished)] = 40 + d;
    r.processes.top.push_back(p);
  }
  r.has_config = seq == 1;
  if (r.has_config) {
    for (const char* k : {"Tcpip.TcpTimedWaitDelay", "Tcpip.MaxUserPort", "Tcpip.SynAttackProtect",
                          "Tcpip.TcpMaxHalfOpen", "Tcpip.DynamicPortRange.TCP.StartPort"}) {
      r.config.values.push_back({k, true, pw::ConfigValue::Type::kInt, 240, ""});
    }
  }
  for (const char* c : {"Tcpip.4226", "Tcpip.4227", "Tcpip.4231", "Tcpip.4266"}) {
    r.events.counters.push_back({c, static_cast<uint64_t>(i % 7), 0});
  }
  return r;
}

template <typename Fn>
double MedianMs(int runs, Fn&& fn) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Readers' cost of a fleet view of N hosts: publish, /metrics, ListHosts"};
  int hosts = 10000, runs = 5, reports = 3, batch_size = 500;
  app.add_option("--hosts", hosts)->capture_default_str();
  app.add_option("--runs", runs)->capture_default_str();
  app.add_option("--reports", reports, "reports per host before measuring")->capture_default_str();
  app.add_option("--batch", batch_size, "reports in the measured state-thread step")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const long rss0 = RssKiB();
  auto drift = pc::DriftMonitor::Create(pw::analysis::Options{});
  if (!drift.ok()) return 2;
  pc::FleetState fleet;
  pc::ViewPublisher views;
  prometheus::Registry registry;
  pc::FleetCore core(fleet, **drift, views, registry);
  const int64_t t0 = 1'800'000'000'000;
  for (int k = 1; k <= reports; ++k) {
    std::vector<pc::StateEvent> batch;
    for (int i = 0; i < hosts; ++i) {
      const std::string name = "host-" + std::to_string(i);
      if (k == 1) {
        pc::StateEvent h;
        h.kind = pc::StateEvent::Kind::kHello;
        h.host = name;
        h.received_unix_ms = t0;
        h.hello.hostname = name;
        h.hello.os = pw::OsKind::kWindows;
        h.hello.os_version = "10.0.20348";
        batch.push_back(std::move(h));
      }
      pc::StateEvent e;
      e.host = name;
      e.received_unix_ms = t0 + k * 15000;
      e.report = Busy(static_cast<uint64_t>(k), e.received_unix_ms, i);
      batch.push_back(std::move(e));
    }
    core.Step(batch, false, t0 + k * 15000);
  }
  const long rss1 = RssKiB();

  // One batch of --batch reports (a busy state-thread step), then publish.
  int64_t at = t0 + (reports + 1) * 15000;
  const double step_ms = MedianMs(runs, [&] {
    std::vector<pc::StateEvent> batch;
    for (int i = 0; i < std::min(hosts, batch_size); ++i) {
      pc::StateEvent e;
      e.host = "host-" + std::to_string(i);
      e.received_unix_ms = at;
      e.report = Busy(static_cast<uint64_t>(at / 1000), at, i);
      batch.push_back(std::move(e));
    }
    core.Step(batch, false, at);
    at += 15000;
  });
  const auto view = views.Current();
  size_t bytes = 0;
  const double render_ms = MedianMs(runs, [&] {
    const std::string text =
        prometheus::TextSerializer().Serialize(pc::RenderFleet(*view, {}, at));
    bytes = text.size();
  });
  const double list_ms = MedianMs(runs, [&] {
    portwatch::v1::ListHostsResponse resp;
    for (const pc::HostView* h : view->ranked) pc::HostInfoToProto(*h, resp.add_hosts());
    std::string wire;
    resp.SerializeToString(&wire);
  });
  std::printf("hosts %d: publish after a %d-report batch %.1f ms; /metrics render+serialise %.1f "
              "ms, %zu bytes (%.0f B/host); ListHosts %.1f ms; RSS %.1f KiB/host for fleet "
              "state, views and analysis\n",
              hosts, batch_size, step_ms, render_ms, bytes, static_cast<double>(bytes) / hosts, list_ms,
              static_cast<double>(rss1 - rss0) / hosts);
  return 0;
}
