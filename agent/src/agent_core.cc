#include "src/agent_core.h"

#include "portwatch/files.h"
#include "src/agent_util.h"
#include "src/log.h"

namespace portwatch::agent {

void AddTopKFlag(CLI::App* command, size_t* top_k) {
  command->add_option("--top-k", *top_k, "Destinations and processes listed per report")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
}

void AddRunFlags(CLI::App* run, CoreFlags* flags) {
  run->add_option("--host-name", flags->host_name, "This host's name; must match its certificate")
      ->capture_default_str();
  run->add_option("--interval", flags->interval_text, "Collection interval, e.g. 15s or 500ms")
      ->capture_default_str();
  AddTopKFlag(run, &flags->top_k);
}

SamplerOptions SamplerOptionsFor(const CoreFlags& flags) {
  SamplerOptions o;
  o.usage.top_destinations = flags.top_k;
  o.usage.top_processes = flags.top_k;
  return o;
}

AgentHello MakeHello(const std::string& host_name, const HostFacts& host, int64_t interval_ms,
                     const std::string& agent_version) {
  AgentHello h;
  h.hostname = host_name;
  h.agent_version = agent_version;
  h.os = host.os;
  h.os_version = host.os_version;
  h.boot_id = host.boot_id;
  h.instance_id = RandomHex(16);
  h.interval_ms = static_cast<uint32_t>(interval_ms);
  return h;
}

std::chrono::nanoseconds Schedule::Advance(Clock::time_point now) {
  next_ += interval_;
  if (next_ < now) next_ = now;  // after a stall, do not burst to catch up
  return std::chrono::duration_cast<std::chrono::nanoseconds>(next_ - now);
}

uint64_t RunCollection(const RunHooks& hooks, std::chrono::milliseconds interval,
                       ReportSink* sink) {
  Schedule schedule(hooks.now(), interval);
  uint64_t seq = 0;
  std::string last_problem;
  for (;;) {
    Report r;
    const auto t0 = hooks.now();
    Status st = hooks.sample(&r);
    std::string problem;
    if (st.ok()) {
      r.sequence = ++seq;
      r.collected_unix_ms = NowUnixMs();
      r.health.scan_duration_us = static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(hooks.now() - t0).count());
      if (r.events.degraded) problem = "degraded: " + r.events.degraded_reason;
      sink->Submit(std::move(r));
      if (hooks.after_report) hooks.after_report();
    } else {
      problem = "scan failed, will retry: " + st.message();
    }
    if (problem != last_problem) {
      if (problem.empty()) {
        LogInfo("all sources readable again");
      } else {
        LogWarning(problem);
      }
      last_problem = problem;
    }
    if (hooks.wait_for_stop(schedule.Advance(hooks.now()))) break;
  }
  return seq;
}

Expected<Report> ProbeHost(Sampler* sampler) {
  Report probe;
  Status st = sampler->Sample(&probe);
  if (!st.ok()) return st;
  sampler->ForceConfig();
  return probe;
}

}  // namespace portwatch::agent
