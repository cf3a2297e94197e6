// status_bench: what a fleet page view costs at fleet scale. Builds a published fleet view of N
// simulated hosts through the real state path (each fed a few reports with its own destinations
// and processes), then times the whole path a request takes: the live source's page of the view
// (worst first) and the rendering of one page, plus the JSON of 1,000 hosts. Prints median and
// worst of several runs (see BENCHMARKS.md).
//   status_bench [--hosts 10000] [--runs 9]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "portwatch/files.h"
#include "src/fleet_core.h"
#include "src/ui/status_pages.h"
#include "src/ui/status_source_live.h"

namespace pc = portwatch::collector;
namespace ui = portwatch::collector::ui;

namespace {

portwatch::Report MakeReport(uint32_t host, uint64_t seq, int64_t t) {
  portwatch::Report r;
  r.sequence = seq;
  r.collected_unix_ms = t;
  r.sockets.ephemeral_range = {32768, 60999};
  r.sockets.ephemeral_ports_usable = 28232;
  r.sockets.ephemeral_ports_in_use = 200 + host % 5000 + static_cast<uint32_t>(seq) * (host % 7);
  for (int d = 0; d < 5; ++d) {
    portwatch::DestinationUsage u;
    u.remote.addr = {10, 0, static_cast<uint8_t>(d), static_cast<uint8_t>(host % 250)};
    u.remote.port = 443;
    u.local_ports = 10 + d + host % 50;
    r.destinations.top.push_back(u);
  }
  for (int p = 0; p < 5; ++p) {
    portwatch::ProcessUsage u;
    u.pid = 100 + p;
    u.name = "proc" + std::to_string(p);
    u.ephemeral_ports = 5 + p;
    r.processes.top.push_back(u);
  }
  return r;
}

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t hosts = 10000;
  int runs = 9;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--hosts")) hosts = static_cast<uint32_t>(std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--runs")) runs = std::max(1, std::atoi(argv[i + 1]));
  }
  pc::FleetState fleet;
  auto drift = pc::DriftMonitor::Create(portwatch::analysis::Options{});
  if (!drift.ok()) {
    std::fprintf(stderr, "status_bench: %s\n", drift.error().c_str());
    return 1;
  }
  pc::ViewPublisher views;
  prometheus::Registry registry;
  pc::FleetCore core(fleet, **drift, views, registry);
  const int64_t now = portwatch::NowUnixMs();
  for (uint64_t s = 1; s <= 4; ++s) {
    std::vector<pc::StateEvent> batch;
    const int64_t t = now - static_cast<int64_t>(5 - s) * 60'000;
    for (uint32_t h = 0; h < hosts; ++h) {
      const std::string name = "host" + std::to_string(h);
      if (s == 1) {
        pc::StateEvent hello;
        hello.kind = pc::StateEvent::Kind::kHello;
        hello.host = name;
        hello.received_unix_ms = t;
        hello.hello.hostname = name;
        hello.hello.agent_version = "0.1.0";
        batch.push_back(std::move(hello));
      }
      pc::StateEvent e;
      e.host = name;
      e.received_unix_ms = t;
      e.report = MakeReport(h, s, t);
      batch.push_back(std::move(e));
    }
    core.Step(batch, false, t);
  }
  ui::LiveStatusSource source(views, nullptr);
  std::vector<double> view_ms, page_ms, json_ms, filtered_ms;
  size_t page_bytes = 0, json_bytes = 0;
  for (int i = 0; i < runs; ++i) {
    const auto a = std::chrono::steady_clock::now();
    ui::FleetView v = source.Fleet(now, ui::FleetQuery{}, 10);
    const auto b = std::chrono::steady_clock::now();
    std::string page = ui::RenderFleetPage(v, ui::FleetQuery{});
    const auto c = std::chrono::steady_clock::now();
    const ui::FleetQuery all = ui::ParseFleetQuery("", "", "", "1000");
    std::string json = ui::FleetJson(source.Fleet(now, all, 0), all);
    const auto d = std::chrono::steady_clock::now();
    // /api/destinations?host=...: summed from every matching host's series, not the view's top.
    const auto e = std::chrono::steady_clock::now();
    const auto dests = source.Aggregates(ui::AggregateKind::kDestinations,
                                         ui::ParseAggregateQuery("h", "", "50"));
    filtered_ms.push_back(Ms(e, std::chrono::steady_clock::now()));
    if (dests.empty()) std::fprintf(stderr, "no destinations summed\n");
    view_ms.push_back(Ms(a, b));
    page_ms.push_back(Ms(a, c));
    json_ms.push_back(Ms(c, d));
    page_bytes = page.size();
    json_bytes = json.size();
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto worst = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  std::printf("hosts %u, runs %d\n", hosts, runs);
  std::printf("fleet page of the published view (source.Fleet): median %.1f ms, worst %.1f ms\n",
              med(view_ms), worst(view_ms));
  std::printf(
      "fleet page '/' (view + render of 100 rows, %zu bytes): median %.1f ms, worst %.1f "
      "ms\n",
      page_bytes, med(page_ms), worst(page_ms));
  std::printf("/api/hosts?per=1000 (view + render) (%zu bytes): median %.1f ms\n", json_bytes,
              med(json_ms));
  std::printf("/api/destinations?host=h (every host's series summed): median %.1f ms, worst %.1f "
              "ms\n",
              med(filtered_ms), worst(filtered_ms));
  return 0;
}
