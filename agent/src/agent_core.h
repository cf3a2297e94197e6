// The agent's core, the same on Linux and Windows: its flags, its hello and its run loop
// (sampler -> report -> sink). The per-OS entry points (main.cc, windows/main_windows.cc) only
// add what the OS needs: how a stop arrives, where the log goes, the service plumbing.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "portwatch/model.h"
#include "portwatch/status.h"
#include "src/report_sink.h"
#include "src/sampler.h"

namespace portwatch::agent {

/// The flags every agent has, on `run` and (--top-k) on `snapshot`.
struct CoreFlags {
  std::string host_name;  ///< set to the local host name before adding the flags
  std::string interval_text = "15s";
  size_t top_k = 20;
};

/// Adds --host-name, --interval and --top-k to `run`.
void AddRunFlags(CLI::App* run, CoreFlags* flags);
/// Adds --top-k to a command that samples once (snapshot).
void AddTopKFlag(CLI::App* command, size_t* top_k);
/// The sampler options the flags ask for.
SamplerOptions SamplerOptionsFor(const CoreFlags& flags);

/// What the OS entry point knows about the host for the hello.
struct HostFacts {
  OsKind os = OsKind::kUnknown;
  std::string os_version;
  std::string boot_id;  ///< empty where the OS has none
};

/// The one hello: who this agent is, with a fresh instance id.
AgentHello MakeHello(const std::string& host_name, const HostFacts& host, int64_t interval_ms,
                     const std::string& agent_version);

/// A fixed schedule: tick n is due at start + n * interval whatever each scan cost; after a
/// stall longer than an interval it resumes from now rather than bursting to catch up.
class Schedule {
 public:
  using Clock = std::chrono::steady_clock;
  Schedule(Clock::time_point start, std::chrono::nanoseconds interval)
      : next_(start), interval_(interval) {}
  /// Called after a tick: advances to the next and returns how long to wait from `now`.
  std::chrono::nanoseconds Advance(Clock::time_point now);
  Clock::time_point next() const { return next_; }

 private:
  Clock::time_point next_;
  std::chrono::nanoseconds interval_;
};

/// How the run loop meets the OS and the probes.
struct RunHooks {
  /// One sample (Sampler::Sample).
  std::function<Status(Report*)> sample;
  /// Waits up to `timeout` for a stop request; true when one came.
  std::function<bool(std::chrono::nanoseconds timeout)> wait_for_stop;
  std::function<Schedule::Clock::time_point()> now = [] { return Schedule::Clock::now(); };
  /// Called after each report is handed over (Linux returns freed pages to the OS).
  std::function<void()> after_report;
};

/// The one run loop: samples at once and then on the fixed schedule until a stop, numbers the
/// reports from 1, stamps their collection time and scan duration, and hands them to `sink`.
/// A failed scan or a degraded source is logged when it changes, not every interval. Returns
/// how many reports were handed over.
uint64_t RunCollection(const RunHooks& hooks, std::chrono::milliseconds interval,
                       ReportSink* sink);

/// Samples once before the loop starts, so a host without what the agent reads fails at start
/// (exit 2) instead of streaming nothing; makes the first real report carry the settings.
Expected<Report> ProbeHost(Sampler* sampler);

}  // namespace portwatch::agent
