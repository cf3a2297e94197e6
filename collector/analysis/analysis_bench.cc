// Prints the cost of drift analysis for a simulated fleet: updates per second in two phases and
// bytes per host. Usage:
//   analysis_bench [--hosts N] [--destinations K] [--processes K] [--warmup-hours H]
//                  [--steady-minutes M] [--interval-s S]
// Phase 1 fills every host's window with one report per host bucket (each report closes a bucket
// and refits: the worst case per report). Phase 2 runs at the agents' interval with full windows
// (the steady state). Memory is counted by this program's own operator new.
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "portwatch/analysis/fleet_analyzer.h"

namespace {

size_t g_live_bytes = 0;

}  // namespace

void* operator new(size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  g_live_bytes += malloc_usable_size(p);
  return p;
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  g_live_bytes -= malloc_usable_size(p);
  std::free(p);
}
void operator delete(void* p, size_t) noexcept { operator delete(p); }

namespace {

using portwatch::analysis::FleetAnalyzer;
using portwatch::analysis::HostSample;
using portwatch::analysis::HostState;
using portwatch::analysis::Options;
using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Args {
  int hosts = 10'000;
  int destinations = 10;
  int processes = 10;
  double warmup_hours = 48;
  double steady_minutes = 30;
  double interval_s = 15;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const double v = std::atof(argv[i + 1]);
    if (flag == "--hosts")
      a->hosts = static_cast<int>(v);
    else if (flag == "--destinations")
      a->destinations = static_cast<int>(v);
    else if (flag == "--processes")
      a->processes = static_cast<int>(v);
    else if (flag == "--warmup-hours")
      a->warmup_hours = v;
    else if (flag == "--steady-minutes")
      a->steady_minutes = v;
    else if (flag == "--interval-s")
      a->interval_s = v;
    else
      return false;
  }
  return argc % 2 == 1 && a->hosts > 0 && a->interval_s > 0;
}

// One simulated host: a baseline, a leak for some, noise; top-K lists drawn from fleet-wide pools
// so destinations and processes are shared across hosts as in a real fleet.
struct SimHost {
  std::string name;
  HostSample sample;
  double base = 0;
  double leak_per_hour = 0;
};

void Step(SimHost* h, int64_t t, std::mt19937_64* rng) {
  const double hours = static_cast<double>(t) / 3'600'000;
  const double level = h->base + h->leak_per_hour * hours + static_cast<double>((*rng)() % 64);
  h->sample.unix_ms = t;
  h->sample.ports_in_use = static_cast<uint32_t>(std::min(level, 16000.0));
  h->sample.time_wait = h->sample.ports_in_use / 3;
  for (auto& d : h->sample.destinations) d.ports = static_cast<uint32_t>((*rng)() % 400);
  for (auto& p : h->sample.processes) p.ports = static_cast<uint32_t>((*rng)() % 400);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: analysis_bench [--hosts N] [--destinations K] [--processes K] "
                 "[--warmup-hours H] [--steady-minutes M] [--interval-s S]\n");
    return 2;
  }
  const Options options;
  auto created = FleetAnalyzer::Create(options);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.error().c_str());
    return 1;
  }
  std::unique_ptr<FleetAnalyzer> fleet = std::move(created).value();

  std::mt19937_64 rng(1);
  std::vector<std::string> dest_pool, proc_pool;
  for (int i = 0; i < 2000; ++i) {
    dest_pool.push_back("10." + std::to_string(i / 250) + "." + std::to_string(i % 250) +
                        ".7:" + std::to_string(1433 + i % 7));
  }
  for (int i = 0; i < 300; ++i) proc_pool.push_back("service-" + std::to_string(i) + ".exe");
  std::vector<SimHost> hosts(static_cast<size_t>(args.hosts));
  for (size_t i = 0; i < hosts.size(); ++i) {
    SimHost& h = hosts[i];
    h.name = "host" + std::to_string(i) + ".example.internal";
    h.base = 500 + static_cast<double>(rng() % 4000);
    h.leak_per_hour = i % 10 == 0 ? 200 + static_cast<double>(rng() % 1000) : 0;
    h.sample.ports_usable = 16384;
    for (int k = 0; k < args.destinations; ++k) {
      h.sample.destinations.push_back({dest_pool[(i * 7 + k * 131) % dest_pool.size()], 0, 0});
    }
    for (int k = 0; k < args.processes; ++k) {
      h.sample.processes.push_back({proc_pool[(i * 3 + k * 17) % proc_pool.size()], 0, 0});
    }
    h.sample.counters.push_back({"Tcpip.4227", 0});
    h.sample.counters.push_back({"TcpExt.ListenOverflows", 0});
  }
  const size_t sim_bytes = g_live_bytes;

  auto run_phase = [&](int64_t from, int64_t to, int64_t interval, const char* name) {
    uint64_t updates = 0;
    double wall_s = 0;
    double cpu_s = 0;
    for (int64_t t = from; t < to; t += interval) {
      for (SimHost& h : hosts) Step(&h, t, &rng);
      const auto start = Clock::now();
      const double cpu_start = CpuSeconds();
      for (SimHost& h : hosts) {
        if (!fleet->OnSample(h.name, h.sample, t).ok()) std::abort();
      }
      fleet->Tick(t);
      cpu_s += CpuSeconds() - cpu_start;
      wall_s += std::chrono::duration<double>(Clock::now() - start).count();
      updates += hosts.size();
    }
    // CPU time is what capacity planning needs; wall time is shown too because on a shared
    // machine it is inflated by other work.
    const double n = static_cast<double>(updates);
    std::printf("%-8s %10llu updates: %9.0f updates/s of CPU (%6.2f us each); wall %7.2f s\n", name,
                static_cast<unsigned long long>(updates), n / cpu_s, cpu_s * 1e6 / n, wall_s);
    return to;
  };

  const int64_t warm_end = static_cast<int64_t>(args.warmup_hours * 3'600'000);
  int64_t t = run_phase(0, warm_end, options.host.bucket_ms, "warm-up");
  t = run_phase(t, t + static_cast<int64_t>(args.steady_minutes * 60'000),
                static_cast<int64_t>(args.interval_s * 1000), "steady");

  const size_t analysis_bytes = g_live_bytes - sim_bytes;
  const auto q_start = Clock::now();
  const auto worst = fleet->Worst(20, t);
  const auto dests = fleet->Destinations(20);
  const auto procs = fleet->Processes(20);
  const double query_ms = std::chrono::duration<double, std::milli>(Clock::now() - q_start).count();
  const auto& counts = fleet->state_counts();
  std::printf(
      "hosts %d, %d destinations + %d processes each, window %u x %lld s host, %u x %lld s "
      "detail\n",
      args.hosts, args.destinations, args.processes, options.host.window_buckets,
      static_cast<long long>(options.host.bucket_ms / 1000), options.detail.window_buckets,
      static_cast<long long>(options.detail.bucket_ms / 1000));
  std::printf(
      "memory   %.1f MiB for analysis, %.0f bytes/host (counted allocations); "
      "estimate %.0f bytes/host\n",
      static_cast<double>(analysis_bytes) / (1 << 20),
      static_cast<double>(analysis_bytes) / args.hosts,
      static_cast<double>(fleet->MemoryBytes()) / args.hosts);
  std::printf("states   ok %u, drifting %u, critical %u, exhausted %u, silent %u\n",
              counts[static_cast<int>(HostState::kOk)],
              counts[static_cast<int>(HostState::kDrifting)],
              counts[static_cast<int>(HostState::kCritical)],
              counts[static_cast<int>(HostState::kExhausted)],
              counts[static_cast<int>(HostState::kSilent)]);
  std::printf(
      "queries  worst 20 + destinations 20 + processes 20 in %.2f ms (%zu destinations, "
      "%zu process names fleet-wide)\n",
      query_ms, fleet->Destinations(SIZE_MAX).size(), fleet->Processes(SIZE_MAX).size());
  if (!worst.empty()) std::printf("example  %s\n", worst.front().explanation.c_str());
  (void)dests;
  (void)procs;
  return 0;
}
