// portwatch-agent: watches this host's TCP socket table and streams summaries to the collector.
#include <malloc.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <string>

#include "portwatch/files.h"
#include "portwatch/process.h"
#include "src/agent_util.h"
#include "src/agent_core.h"
#include "src/audit_command.h"
#include "src/delivery_setup.h"
#include "src/log.h"
#include "src/report_format.h"
#include "src/sampler.h"
#include "src/source_port.h"
#include "src/report_sink.h"
#include "src/transport.h"

#ifndef PORTWATCH_VERSION
#define PORTWATCH_VERSION "0.0.0"
#endif

namespace pw = portwatch;
namespace pa = portwatch::agent;

namespace {

int Fail(const std::string& msg) {
  pa::LogError(msg);
  return 2;
}

std::string LocalHostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

uint64_t StatusKb(const char* field) {
  auto text = pw::ReadFileLimited("/proc/self/status", 1 << 16, "status");
  if (!text.ok()) return 0;
  size_t pos = text->find(field);
  return pos == std::string::npos ? 0 : std::strtoull(text->c_str() + pos + std::strlen(field), nullptr, 10);
}

double CpuMs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

struct Timing {
  double wall_median = 0, wall_max = 0, cpu_median = 0, first_wall = 0;
};

// Times `iterations` samples after one warm-up: wall and CPU (user + system) milliseconds. CPU
// time is what a sample costs the host, and unlike wall time it does not grow while the process
// waits for a core on a busy machine.
Timing TimeSamples(pa::Sampler& sampler, int iterations) {
  std::vector<double> ms, cpu;
  Timing t;
  pw::Report r;
  for (int i = 0; i <= iterations; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = CpuMs();
    pw::Status st = sampler.Sample(&r);
    const double c = CpuMs() - c0;
    double d = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                   .count();
    if (!st.ok()) {
      pa::LogError("bench sample failed: " + st.message());
      std::exit(1);
    }
    if (i == 0) {
      t.first_wall = d;
      continue;  // the first sample fills caches: reported apart
    }
    ms.push_back(d);
    cpu.push_back(c);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  t.wall_median = ms[ms.size() / 2];
  t.wall_max = ms.back();
  t.cpu_median = cpu[cpu.size() / 2];
  return t;
}

// Prints the cost of one scan + summary (socket table only), and of the full sample the agent
// takes every interval (with process attribution, settings and counters), in steady state.
int RunBench(int iterations, const pa::SamplerOptions& opts) {
  pa::Sampler bare(pa::MakeSocketTable(), nullptr, nullptr, opts);
  const Timing scan = TimeSamples(bare, iterations);
  auto full_sampler = pa::Sampler::ForThisHost(opts);
  const Timing full = TimeSamples(*full_sampler, iterations);
  pw::Report r;
  (void)full_sampler->Sample(&r);
  std::printf(
      "{\"sockets\": %u, \"scan_ms_median\": %.3f, \"scan_ms_max\": %.3f, "
      "\"scan_cpu_ms_median\": %.3f, \"full_first_ms\": %.3f, \"full_ms_median\": %.3f, "
      "\"full_ms_max\": %.3f, \"full_cpu_ms_median\": %.3f, \"rss_kb\": %llu, "
      "\"rss_peak_kb\": %llu}\n",
      r.sockets.total_sockets, scan.wall_median, scan.wall_max, scan.cpu_median, full.first_wall,
      full.wall_median, full.wall_max, full.cpu_median,
      static_cast<unsigned long long>(StatusKb("VmRSS:")),
      static_cast<unsigned long long>(StatusKb("VmHWM:")));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // gRPC's threads would each get a glibc malloc arena; the agent allocates little, so two
  // arenas keep its private memory small (see BENCHMARKS.md).
  mallopt(M_ARENA_MAX, 2);
  CLI::App app{
      "portwatch-agent: watches this host's TCP ports (socket states, ephemeral range use) and "
      "streams summaries to a portwatch collector over mutual TLS."};
  app.set_version_flag("--version", PORTWATCH_VERSION);
  app.require_subcommand(1);
  app.set_config("--config", "",
                 "Read options from this INI/TOML file: a [run] section, keys as long flags");

  pa::CoreFlags core;
  core.host_name = LocalHostName();
  CLI::App* run = app.add_subcommand("run", "Collect every interval and stream to the collector");
  pa::AddRunFlags(run, &core);
  pa::SinkOptions sink_options;
  sink_options.bind_source_ports = [](std::vector<uint16_t> ports, pa::TransportOptions* t) {
    pa::ConnectFromSourcePorts(std::move(ports), t);
  };
  pa::AddSinkOptions(run, &sink_options);
  // On Linux the agent exists to stream: certificates are required, --output is an extra copy.
  for (const char* name : {"--ca", "--cert", "--key"}) run->get_option(name)->required();

  bool json = false;
  CLI::App* snapshot = app.add_subcommand(
      "snapshot", "Print one report of this host (sockets, destinations, processes, settings, "
                  "kernel counters) and exit; no collector needed");
  snapshot->add_flag("--json", json, "JSON instead of a table");
  pa::AddTopKFlag(snapshot, &core.top_k);

  int bench_iterations = 20;
  CLI::App* bench = app.add_subcommand(
      "bench", "Measure scan cost on this host and print JSON (see BENCHMARKS.md)");
  bench->add_option("--iterations", bench_iterations, "Scans to time per mode")
      ->capture_default_str()->check(CLI::Range(1, 100000));

  pa::AuditFlags audit_flags;
  CLI::App* audit = pa::AddAuditCommand(app, &audit_flags);

  CLI11_PARSE(app, argc, argv);

  const pa::SamplerOptions sopts = pa::SamplerOptionsFor(core);
  auto sampler = pa::Sampler::ForThisHost(sopts);

  if (bench->parsed()) return RunBench(bench_iterations, sopts);
  if (audit->parsed()) return pa::RunAudit(audit_flags, core.host_name, *sampler);

  if (snapshot->parsed()) {
    pw::Report r;
    pw::Status st = sampler->Sample(&r);
    if (!st.ok()) return Fail(st.message());
    std::fputs((json ? pa::ReportToJson(core.host_name, r) : pa::ReportToTable(core.host_name, r))
                   .c_str(),
               stdout);
    return 0;
  }

  auto interval_ms = pa::ParseIntervalMs(core.interval_text);
  if (!interval_ms.ok()) return Fail(interval_ms.error());
  // Fail early on a host without what the agent reads, rather than streaming nothing.
  auto probe = pa::ProbeHost(sampler.get());
  if (!probe.ok()) return Fail(probe.error());

  pa::HostFacts host;
  host.os = pw::OsKind::kLinux;
  utsname u{};
  if (uname(&u) == 0) host.os_version = u.release;
  auto boot = pw::ReadFileLimited("/proc/sys/kernel/random/boot_id", 128, "boot_id");
  if (boot.ok()) host.boot_id = Trimmed(*boot);
  const pw::AgentHello hello =
      pa::MakeHello(core.host_name, host, *interval_ms, PORTWATCH_VERSION);

  // Signals are taken synchronously by the collection loop below; block them in every thread
  // (the transport's included, so it is started after this).
  sigset_t sigs = pw::BlockTerminationSignals();
  auto sink = pa::StartReportSink(sink_options, hello);
  if (!sink.ok()) return Fail(sink.error());
  pa::LogInfo("reporting as '" + core.host_name + "' to " + sink_options.collector + " every " +
              std::to_string(*interval_ms) + " ms");

  pa::RunHooks hooks;
  hooks.sample = [&](pw::Report* r) { return sampler->Sample(r); };
  hooks.wait_for_stop = [&](std::chrono::nanoseconds wait) {
    timespec ts{static_cast<time_t>(wait.count() / 1000000000),
                static_cast<long>(wait.count() % 1000000000)};
    const int sig = sigtimedwait(&sigs, nullptr, &ts);
    return sig == SIGINT || sig == SIGTERM;
  };
  // A scan's temporary maps are freed now; give the pages back rather than keep the peak.
  hooks.after_report = [] { malloc_trim(0); };
  pa::RunCollection(hooks, std::chrono::milliseconds(*interval_ms), sink->get());
  pa::LogInfo("stopping");
  (*sink)->Stop();
  return 0;
}
