// portwatch-agent: watches this host's TCP socket table and streams summaries to the collector.
#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

#include "portwatch/files.h"
#include "portwatch/process.h"
#include "portwatch/tls.h"
#include "src/report_format.h"
#include "src/sampler.h"
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

std::string RandomHex(int bytes) {
  std::random_device rd;
  std::string s;
  char b[3];
  for (int i = 0; i < bytes; ++i) {
    std::snprintf(b, sizeof b, "%02x", rd() & 0xff);
    s += b;
  }
  return s;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// "15s", "500ms", "2m" or plain seconds.
bool ParseDurationMs(const std::string& text, int64_t* ms) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 9) return false;
  int64_t v = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  if (unit.empty() || unit == "s") *ms = v * 1000;
  else if (unit == "ms") *ms = v;
  else if (unit == "m") *ms = v * 60000;
  else return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
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
                  "Reports kept in memory while the collector is unreachable")
      ->capture_default_str()->check(CLI::Range(1, 1000000));

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

  CLI11_PARSE(app, argc, argv);

  pa::SamplerOptions sopts;
  sopts.usage.top_destinations = top_k;
  sopts.usage.top_processes = top_k;
  auto sampler = pa::Sampler::ForThisHost(sopts);

  if (snapshot->parsed()) {
    pw::Report r;
    pw::Status st = sampler->Sample(&r);
    if (!st.ok()) return Fail(st.message());
    std::fputs((json ? pa::ReportToJson(host_name, r) : pa::ReportToTable(host_name, r)).c_str(),
               stdout);
    return 0;
  }

  int64_t interval_ms = 0;
  if (!ParseDurationMs(interval_text, &interval_ms) || interval_ms < 100 ||
      interval_ms > 3600 * 1000) {
    return Fail("--interval '" + interval_text +
                "' must be a duration from 100ms to 1h, e.g. 15s or 500ms");
  }
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

  // Signals are taken synchronously by the collection loop below; block them in every thread.
  sigset_t sigs = pw::BlockTerminationSignals();

  pa::TransportOptions topts;
  topts.target = target->ToString();
  topts.server_name_override = server_name;
  topts.tls = std::move(*tls);
  topts.max_pending = max_pending;
  topts.hello.hostname = host_name;
  topts.hello.agent_version = PORTWATCH_VERSION;
  topts.hello.os = pw::OsKind::kLinux;
  utsname u{};
  if (uname(&u) == 0) topts.hello.os_version = u.release;
  topts.hello.instance_id = RandomHex(16);
  auto boot = pw::ReadFileLimited("/proc/sys/kernel/random/boot_id", 128, "boot_id");
  if (boot.ok()) topts.hello.boot_id = Trimmed(*boot);
  topts.hello.interval_ms = static_cast<uint32_t>(interval_ms);

  pa::Transport transport(std::move(topts));
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
