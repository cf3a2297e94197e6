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
#include "portwatch/tls.h"
#include "src/agent_util.h"
#include "src/audit_command.h"
#include "src/delivery_setup.h"
#include "src/report_format.h"
#include "src/sampler.h"
#include "src/source_port.h"
#include "src/transport.h"

#ifndef PORTWATCH_VERSION
#define PORTWATCH_VERSION "0.0.0"
#endif

namespace pw = portwatch;
namespace pa = portwatch::agent;

namespace {

int Fail(const std::string& msg) { return pw::ConfigError("portwatch-agent", msg); }

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
      std::fprintf(stderr, "portwatch-agent: bench sample failed: %s\n", st.message().c_str());
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

  std::string collector = "127.0.0.1:7443", ca, cert, key, server_name, host_name = LocalHostName();
  std::string interval_text = "15s";
  size_t max_pending = 5760;
  CLI::App* run = app.add_subcommand("run", "Collect every interval and stream to the collector");
  run->add_option("--collector", collector, "Collector address HOST:PORT")->capture_default_str();
  run->add_option("--ca", ca, "Fleet CA certificate (PEM)")->required();
  run->add_option("--cert", cert, "This host's certificate (PEM), signed by the fleet CA")
      ->required();
  run->add_option("--key", key, "This host's private key (PEM)")->required();
  run->add_option("--server-name", server_name,
                  "Name expected in the collector's certificate, when it differs from HOST");
  run->add_option("--host-name", host_name,
                  "This host's name; must match its certificate")->capture_default_str();
  run->add_option("--interval", interval_text, "Collection interval, e.g. 15s or 500ms")
      ->capture_default_str();
  run->add_option("--max-pending", max_pending,
                  "Reports kept in memory while the collector is unreachable (without "
                  "--spool-dir, or while the spool's disk fails)")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  pa::DeliveryFlags delivery_flags;
  pa::AddDeliveryFlags(run, &delivery_flags);

  size_t top_k = 20;
  run->add_option("--top-k", top_k, "Destinations and processes listed per report")
      ->capture_default_str()->check(CLI::Range(1, 1000));

  bool json = false;
  CLI::App* snapshot = app.add_subcommand(
      "snapshot", "Print one report of this host (sockets, destinations, processes, settings, "
                  "kernel counters) and exit; no collector needed");
  snapshot->add_flag("--json", json, "JSON instead of a table");
  snapshot->add_option("--top-k", top_k, "Destinations and processes listed")
      ->capture_default_str()->check(CLI::Range(1, 1000));

  int bench_iterations = 20;
  CLI::App* bench = app.add_subcommand(
      "bench", "Measure scan cost on this host and print JSON (see BENCHMARKS.md)");
  bench->add_option("--iterations", bench_iterations, "Scans to time per mode")
      ->capture_default_str()->check(CLI::Range(1, 100000));

  pa::AuditFlags audit_flags;
  CLI::App* audit = pa::AddAuditCommand(app, &audit_flags);

  CLI11_PARSE(app, argc, argv);

  pa::SamplerOptions sopts;
  sopts.usage.top_destinations = top_k;
  sopts.usage.top_processes = top_k;
  auto sampler = pa::Sampler::ForThisHost(sopts);

  if (bench->parsed()) return RunBench(bench_iterations, sopts);
  if (audit->parsed()) return pa::RunAudit(audit_flags, host_name, *sampler);

  if (snapshot->parsed()) {
    pw::Report r;
    pw::Status st = sampler->Sample(&r);
    if (!st.ok()) return Fail(st.message());
    std::fputs((json ? pa::ReportToJson(host_name, r) : pa::ReportToTable(host_name, r)).c_str(),
               stdout);
    return 0;
  }

  int64_t interval_ms = 0;
  auto parsed_interval = pa::ParseIntervalMs(interval_text);
  if (!parsed_interval.ok()) return Fail(parsed_interval.error());
  interval_ms = *parsed_interval;
  auto target = pw::ParseHostPort(collector, "--collector");
  if (!target.ok()) return Fail(target.error());
  if (target->port == 0) return Fail("--collector '" + collector + "' needs a non-zero port");
  auto tls = pw::LoadTlsMaterial({ca, cert, key});
  if (!tls.ok()) return Fail(tls.error());
  if (tls->subject_name != host_name) {
    return Fail("certificate '" + cert + "' is for host '" + tls->subject_name +
                "' but this agent reports as '" + host_name +
                "'; the collector would refuse it. Pass --host-name " + tls->subject_name +
                " or issue a certificate for " + host_name);
  }
  // Fail early on a host without what the agent reads, rather than streaming nothing.
  {
    pw::Report probe;
    pw::Status st = sampler->Sample(&probe);
    if (!st.ok()) return Fail(st.message());
    sampler->ForceConfig();  // the first real report carries the settings
  }
  auto delivery = pa::OpenDelivery(delivery_flags, max_pending);
  if (!delivery.ok()) return Fail(delivery.error());

  // Signals are taken synchronously by the collection loop below; block them in every thread.
  sigset_t sigs = pw::BlockTerminationSignals();

  pa::TransportOptions topts;
  if (!delivery->source_ports.empty()) {
    pa::ConnectFromSourcePorts(std::move(delivery->source_ports), &topts);
  }
  topts.target = target->ToString();
  topts.server_name_override = server_name;
  topts.tls = std::move(*tls);
  topts.hello.hostname = host_name;
  topts.hello.agent_version = PORTWATCH_VERSION;
  topts.hello.os = pw::OsKind::kLinux;
  utsname u{};
  if (uname(&u) == 0) topts.hello.os_version = u.release;
  topts.hello.instance_id = pa::RandomHex(16);
  auto boot = pw::ReadFileLimited("/proc/sys/kernel/random/boot_id", 128, "boot_id");
  if (boot.ok()) topts.hello.boot_id = Trimmed(*boot);
  topts.hello.interval_ms = static_cast<uint32_t>(interval_ms);

  pa::Transport transport(std::move(topts), std::move(delivery->spool));
  transport.Start();
  std::fprintf(stderr, "portwatch-agent: reporting as '%s' to %s every %lld ms\n",
               host_name.c_str(), collector.c_str(), static_cast<long long>(interval_ms));

  uint64_t seq = 0;
  const auto interval = std::chrono::milliseconds(interval_ms);
  auto next = std::chrono::steady_clock::now();
  std::string last_error;
  for (;;) {
    pw::Report r;
    const auto t0 = std::chrono::steady_clock::now();
    pw::Status st = sampler->Sample(&r);
    if (st.ok()) {
      r.sequence = ++seq;
      r.collected_unix_ms = pw::NowUnixMs();
      r.health.scan_duration_us = static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                t0)
              .count());
      transport.Enqueue(std::move(r));
      last_error.clear();
      // A scan's temporary maps are freed now; give the pages back rather than keep the peak.
      malloc_trim(0);
    } else if (st.message() != last_error) {
      // Log a changed error once, not every interval.
      last_error = st.message();
      std::fprintf(stderr, "portwatch-agent: scan failed, will retry: %s\n", last_error.c_str());
    }
    next += interval;
    auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // after a stall, do not burst to catch up
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(next - now);
    timespec ts{static_cast<time_t>(wait.count() / 1000000000),
                static_cast<long>(wait.count() % 1000000000)};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) break;
  }
  std::fprintf(stderr, "portwatch-agent: stopping\n");
  transport.Stop();
  return 0;
}
