// policy_bench [HOSTS]: what the policy audit costs the collector for a fleet of HOSTS Linux and
// Windows hosts under the default policy: one report's evaluation (OnReport) and one publish of
// the whole fleet's results (Tick, which also runs the peer rules). Prints JSON; see
// BENCHMARKS.md.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "portwatch/policy/default_policy.h"
#include "src/policy_monitor.h"

namespace pw = portwatch;
namespace pc = portwatch::collector;

namespace {

pw::Report MakeReport(int i) {
  pw::Report r;
  r.collected_unix_ms = 1000 + i;
  r.has_config = true;
  const bool windows = i % 2 == 1;
  r.config.os_version = windows ? "Windows 10.0.17763" : "Linux 6.1.0-18-amd64";
  auto add = [&](const std::string& k, int64_t v) {
    pw::ConfigValue c;
    c.key = k;
    c.present = true;
    c.int_value = v;
    r.config.values.push_back(c);
  };
  if (windows) {
    add("Tcpip.DynamicPortRange.TCP.NumberOfPorts", 16384);
    add("Tcpip.TcpTimedWaitDelay", i % 10 == 1 ? 30 : 240);
  } else {
    add("net.ipv4.tcp_syncookies", i % 10 == 0 ? 0 : 1);
    add("net.core.somaxconn", 4096);
    pw::ConfigValue range;
    range.key = "net.ipv4.ip_local_port_range";
    range.present = true;
    range.type = pw::ConfigValue::Type::kString;
    range.string_value = "32768 60999";
    r.config.values.push_back(range);
  }
  r.sockets.ephemeral_range = {32768, 60999};
  r.sockets.counts[0][static_cast<int>(pw::TcpState::kTimeWait)] = 9000;
  r.events.counters.push_back({"TcpExt.ListenOverflows", 5, 0});
  return r;
}

double Ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int hosts = argc > 1 ? std::atoi(argv[1]) : 10000;
  pc::PolicyMonitor m(pw::policy::DefaultPolicy());
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < hosts; ++i) m.OnReport("host" + std::to_string(i), MakeReport(i));
  const double report_ms = Ms(t0);
  t0 = std::chrono::steady_clock::now();
  m.Tick();
  const double tick_ms = Ms(t0);
  std::printf(
      "{\"hosts\": %d, \"rules\": %zu, \"on_report_us\": %.2f, \"tick_ms\": %.1f, "
      "\"violations\": %zu}\n",
      hosts, pw::policy::DefaultPolicy().rules.size(), 1000 * report_ms / hosts, tick_ms,
      m.Results()->violations.size());
  return 0;
}
