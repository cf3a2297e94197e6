#include "sim/sim_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace portwatch::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;

constexpr const char* kNames[kScenarioCount] = {
    "healthy",  "leak_slow",     "leak_fast", "leak_destination", "leak_process", "tw_storm",
    "syn_flood", "misconfigured", "flapping",  "clock_skew",       "restart"};

// Every host of a destination-leak scenario leaks toward the same service, and every host of a
// process-leak scenario runs the same leaking program: fleet views should find them.
constexpr const char* kLeakDestination = "10.20.0.5:1433";
constexpr const char* kLeakProgramWindows = "leaky-agent.exe";
constexpr const char* kLeakProgramLinux = "leaky-agent";

double Uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

ConfigValue Int(const std::string& key, int64_t v) {
  return {key, true, ConfigValue::Type::kInt, v, ""};
}
ConfigValue Text(const std::string& key, const std::string& v) {
  return {key, true, ConfigValue::Type::kString, 0, v};
}

Endpoint Parse(const std::string& text) {
  Endpoint e;
  Endpoint::Parse(text, &e);
  return e;
}

}  // namespace

std::string_view ScenarioName(Scenario s) { return kNames[static_cast<int>(s)]; }

bool Leaks(Scenario s) {
  return s == Scenario::kLeakSlow || s == Scenario::kLeakFast ||
         s == Scenario::kLeakDestination || s == Scenario::kLeakProcess;
}

Expected<Mix> ParseMix(const std::string& text) {
  Mix mix;
  std::string known;
  for (const char* n : kNames) known += std::string(known.empty() ? "" : ", ") + n;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    const std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? text.size() + 1 : comma + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    int index = -1;
    for (int i = 0; i < kScenarioCount; ++i) {
      if (name == kNames[i]) index = i;
    }
    if (index < 0) {
      return Status::Error("unknown scenario '" + name + "' in --mix; known: " + known);
    }
    double share = 1;
    if (eq != std::string::npos) {
      char* end = nullptr;
      const std::string num = item.substr(eq + 1);
      share = std::strtod(num.c_str(), &end);
      if (num.empty() || *end != '\0' || !(share >= 0) || !std::isfinite(share)) {
        return Status::Error("scenario '" + name + "' in --mix has share '" + num +
                             "'; give a number >= 0, e.g. " + name + "=10");
      }
    }
    mix.emplace_back(static_cast<Scenario>(index), share);
  }
  double total = 0;
  for (const auto& [s, share] : mix) total += share;
  if (mix.empty() || total <= 0) {
    return Status::Error("--mix names no scenario with a share above 0; e.g. "
                         "healthy=80,leak_slow=10,tw_storm=10");
  }
  return mix;
}

std::vector<HostPlan> PlanFleet(size_t hosts, const Mix& mix, uint64_t seed,
                                const std::string& prefix) {
  double total = 0;
  for (const auto& [s, share] : mix) total += share;
  // Largest remainder: exact counts, so a small fleet still holds each scenario it asks for.
  std::vector<size_t> counts(mix.size());
  std::vector<std::pair<double, size_t>> rest;
  size_t given = 0;
  for (size_t i = 0; i < mix.size(); ++i) {
    const double exact = hosts * mix[i].second / total;
    counts[i] = static_cast<size_t>(exact);
    given += counts[i];
    rest.emplace_back(exact - counts[i], i);
  }
  std::sort(rest.begin(), rest.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t i = 0; given < hosts; ++i, ++given) ++counts[rest[i % rest.size()].second];
  std::vector<Scenario> scenarios;
  for (size_t i = 0; i < mix.size(); ++i) scenarios.insert(scenarios.end(), counts[i], mix[i].first);
  std::mt19937_64 rng(seed);
  std::shuffle(scenarios.begin(), scenarios.end(), rng);
  std::vector<HostPlan> out;
  out.reserve(hosts);
  for (size_t i = 0; i < hosts; ++i) {
    HostPlan p;
    char name[32];
    std::snprintf(name, sizeof name, "-%05zu", i + 1);
    p.name = prefix + name;
    p.scenario = scenarios[i];
    p.seed = rng();
    // Storms are a Windows shape (TcpTimedWaitDelay 240 s, a MaxUserPort range); floods a
    // Linux one (SYN cookies); the rest split about 60/40 Windows/Linux.
    if (p.scenario == Scenario::kTimeWaitStorm) {
      p.os = OsKind::kWindows;
    } else if (p.scenario == Scenario::kSynFlood) {
      p.os = OsKind::kLinux;
    } else {
      p.os = (rng() % 10) < 6 ? OsKind::kWindows : OsKind::kLinux;
    }
    out.push_back(std::move(p));
  }
  return out;
}

HostModel::HostModel(const HostPlan& plan) : plan_(plan), rng_(plan.seed) {
  if (plan_.scenario == Scenario::kTimeWaitStorm) {
    range_ = {1025, 5000};  // Windows Server 2003: MaxUserPort 5000
  } else if (plan_.os == OsKind::kWindows) {
    range_ = {49152, 65535};
  } else if (plan_.scenario == Scenario::kMisconfigured) {
    range_ = {50000, 51999};  // a narrowed ip_local_port_range
  } else {
    range_ = {32768, 60999};
  }
  capacity_ = range_.size();
  base_ = Uniform(rng_, 0.04, 0.12);
  amplitude_ = Uniform(rng_, 0.03, 0.15);
  phase_h_ = Uniform(rng_, 0, 24);
  if (plan_.scenario == Scenario::kClockSkew) {
    clock_offset_ms_ = (rng_() % 2 ? 1 : -1) * static_cast<int64_t>(Uniform(rng_, 1, 3) * 3.6e6);
  }
}

AgentHello HostModel::Hello(const std::string& instance_id, uint32_t interval_ms) const {
  AgentHello h;
  h.hostname = plan_.name;
  h.agent_version = "sim";
  h.os = plan_.os;
  h.os_version = plan_.os == OsKind::kLinux ? "6.1.0-28-amd64"
                 : plan_.scenario == Scenario::kTimeWaitStorm ? "5.2.3790"  // Server 2003 SP2
                                                               : "10.0.20348";
  h.instance_id = instance_id;
  h.boot_id = "sim-boot";
  h.interval_ms = interval_ms;
  return h;
}

double HostModel::Utilization(double h) {
  double u = base_ + amplitude_ * (0.5 - 0.5 * std::cos(2 * kPi * (h + phase_h_) / 24));
  switch (plan_.scenario) {
    case Scenario::kLeakSlow: u += 0.01 * h; break;
    case Scenario::kLeakFast: u += 0.04 * h; break;
    case Scenario::kLeakDestination:
    case Scenario::kLeakProcess: u += 0.02 * h; break;
    case Scenario::kTimeWaitStorm: u = 0.90 + 0.01 * std::sin(2 * kPi * h); break;
    default: break;
  }
  u += std::normal_distribution<double>(0, 0.003)(rng_);
  return std::clamp(u, 0.0, 1.0);
}

ConfigSnapshot HostModel::Config() const {
  ConfigSnapshot c;
  const bool bad = plan_.scenario == Scenario::kMisconfigured;
  if (plan_.os == OsKind::kWindows) {
    const bool old = plan_.scenario == Scenario::kTimeWaitStorm;
    c.os_version = old ? "5.2.3790" : "10.0.20348";
    if (old || bad) c.values.push_back(Int("Tcpip.TcpTimedWaitDelay", 240));
    if (old) c.values.push_back(Int("Tcpip.MaxUserPort", 5000));
    if (bad) {
      c.values.push_back(Int("Tcpip.SynAttackProtect", 1));
      c.values.push_back(Int("Tcpip.TcpMaxHalfOpen", 10));
      c.values.push_back(Int("Tcpip.TcpMaxHalfOpenRetried", 8));
      c.values.push_back(Int("Tcpip.EnableConnectionRateLimiting", 1));
    }
    c.values.push_back(Text("Tcpip.DynamicPortRange.Source", old ? "MaxUserPort" : "wmi"));
    c.values.push_back(Int("Tcpip.DynamicPortRange.TCP.StartPort", range_.low));
    c.values.push_back(Int("Tcpip.DynamicPortRange.TCP.NumberOfPorts", range_.size()));
  } else {
    c.os_version = "6.1.0-28-amd64";
    c.values.push_back(Int("net.core.somaxconn", bad ? 16 : 4096));
    c.values.push_back(Text("net.ipv4.ip_local_port_range",
                            std::to_string(range_.low) + " " + std::to_string(range_.high)));
    c.values.push_back(Text("net.ipv4.ip_local_reserved_ports", ""));
    c.values.push_back(Int("net.ipv4.tcp_fin_timeout", 60));
    c.values.push_back(Int("net.ipv4.tcp_max_syn_backlog", bad ? 64 : 4096));
    c.values.push_back(Int("net.ipv4.tcp_max_tw_buckets", 262144));
    c.values.push_back(Int("net.ipv4.tcp_syncookies", bad ? 0 : 1));
    c.values.push_back(Int("net.ipv4.tcp_tw_reuse", bad ? 0 : 2));
  }
  std::sort(c.values.begin(), c.values.end(),
            [](const ConfigValue& a, const ConfigValue& b) { return a.key < b.key; });
  return c;
}

Report HostModel::Sample(double sim_hours, int64_t unix_ms, uint64_t sequence, bool with_config) {
  const double dt_h = std::max(0.0, sim_hours - last_hours_);
  last_hours_ = std::max(last_hours_, sim_hours);
  const bool windows = plan_.os == OsKind::kWindows;
  Report r;
  r.sequence = sequence;
  r.collected_unix_ms = unix_ms + clock_offset_ms_;
  SocketSummary& s = r.sockets;
  s.ephemeral_range = range_;
  s.ephemeral_ports_usable = capacity_;
  const double u = Utilization(sim_hours);
  const auto in_use = static_cast<uint32_t>(std::lround(u * capacity_));
  s.ephemeral_ports_in_use = in_use;
  const bool storm = plan_.scenario == Scenario::kTimeWaitStorm;
  const double tw_share = storm ? 0.92 : 0.45;
  auto& v4 = s.counts[static_cast<int>(Family::kIpv4)];
  // TIME_WAIT lasts physical time (the collector never scales it), so under --time-scale its
  // population cannot follow a simulated day: it stays at the host's base churn, and the cycle
  // and leaks move the live connections. A storm's TIME_WAIT is steady by nature.
  const auto tw = std::min<uint32_t>(
      in_use, static_cast<uint32_t>((storm ? u : base_) * capacity_ * tw_share));
  const auto bound = static_cast<uint32_t>(in_use * 0.04);
  const uint32_t est = in_use - tw - bound;
  v4[static_cast<int>(TcpState::kTimeWait)] = tw;
  v4[static_cast<int>(TcpState::kBound)] = bound;
  v4[static_cast<int>(TcpState::kEstablished)] = est + 40;  // plus inbound on listeners
  v4[static_cast<int>(TcpState::kListen)] = 12;
  v4[static_cast<int>(TcpState::kCloseWait)] = static_cast<uint32_t>(rng_() % 6);
  v4[static_cast<int>(TcpState::kFinWait2)] = static_cast<uint32_t>(rng_() % 9);
  if (plan_.scenario == Scenario::kSynFlood) {
    v4[static_cast<int>(TcpState::kSynRecv)] = 900 + static_cast<uint32_t>(rng_() % 300);
  }
  s.total_sockets = 0;
  for (const auto& fam : s.counts) {
    for (uint32_t n : fam) s.total_sockets += n;
  }

  // Destinations: the outbound ports spread over a few services; a destination leak grows one.
  const double leak_ports = plan_.scenario == Scenario::kLeakDestination
                                ? std::min<double>(in_use, 0.02 * sim_hours * capacity_)
                                : 0;
  const std::vector<std::pair<std::string, double>> services{
      {"10.0.4.12:1433", 0.35}, {"10.0.7.20:443", 0.25}, {"10.0.8.31:6379", 0.2},
      {"10.0.9.40:5432", 0.1}, {"10.0.9.41:8080", 0.1}};
  const double spread = std::max(0.0, in_use - leak_ports);
  // Each service's TIME_WAIT is its share of the host's (steady, see above); a leak holds its
  // connections open and leaves none in TIME_WAIT.
  auto add_dest = [&](const std::string& key, double ports, double time_wait) {
    DestinationUsage d;
    d.remote = Parse(key);
    d.local_ports = static_cast<uint32_t>(ports);
    d.states[static_cast<int>(TcpState::kTimeWait)] =
        std::min(d.local_ports, static_cast<uint32_t>(time_wait));
    d.states[static_cast<int>(TcpState::kEstablished)] =
        d.local_ports - d.states[static_cast<int>(TcpState::kTimeWait)];
    r.destinations.top.push_back(d);
  };
  if (leak_ports > 0) add_dest(kLeakDestination, leak_ports, 0);
  for (const auto& [key, share] : services) add_dest(key, spread * share, tw * share);
  std::sort(r.destinations.top.begin(), r.destinations.top.end(),
            [](const DestinationUsage& a, const DestinationUsage& b) {
              return a.local_ports > b.local_ports;
            });

  // Processes: TIME_WAIT has no owner, so only the held ports are attributed.
  const double held = est + bound;
  const double leaked_by_program =
      plan_.scenario == Scenario::kLeakProcess ? std::min(held, 0.02 * sim_hours * capacity_) : 0;
  const std::vector<std::pair<std::string, double>> programs =
      windows ? std::vector<std::pair<std::string, double>>{{"w3wp.exe", 0.5},
                                                            {"sqlservr.exe", 0.3},
                                                            {"svchost.exe", 0.2}}
              : std::vector<std::pair<std::string, double>>{
                    {"java", 0.5}, {"nginx", 0.3}, {"postgres", 0.2}};
  uint32_t pid = 1000 + static_cast<uint32_t>(plan_.seed % 1000);
  auto add_proc = [&](const std::string& name, double ports) {
    ProcessUsage p;
    p.pid = pid++;
    p.name = name;
    p.program = windows ? "C:\\Program Files\\" + name : "/usr/bin/" + name;
    p.ephemeral_ports = static_cast<uint32_t>(ports);
    p.states[static_cast<int>(TcpState::kEstablished)] = p.ephemeral_ports;
    r.processes.top.push_back(p);
  };
  if (leaked_by_program > 0) {
    add_proc(windows ? kLeakProgramWindows : kLeakProgramLinux, leaked_by_program);
  }
  for (const auto& [name, share] : programs) add_proc(name, (held - leaked_by_program) * share);
  std::sort(r.processes.top.begin(), r.processes.top.end(),
            [](const ProcessUsage& a, const ProcessUsage& b) {
              return a.ephemeral_ports > b.ephemeral_ports;
            });

  ListenerUsage l;
  l.local = Parse(windows ? "0.0.0.0:443" : "0.0.0.0:8080");
  l.backlog = plan_.scenario == Scenario::kMisconfigured && !windows ? 16 : 511;
  l.accept_queue = plan_.scenario == Scenario::kSynFlood ? l.backlog : static_cast<uint32_t>(rng_() % 3);
  l.process = windows ? "w3wp.exe" : "nginx";
  r.listeners.push_back(l);

  // Counters grow with the simulated time since the last sample.
  active_opens_ += dt_h * 3600 * 40 * (storm ? 25 : 1);
  if (plan_.scenario == Scenario::kSynFlood) {
    syncookies_ += dt_h * 3600 * 200;
    listen_overflows_ += dt_h * 3600 * 20;
  }
  if (storm && u > 0.905) tw_events_ += 1;  // Tcpip 4227: a TIME_WAIT collision now and then
  std::vector<EventCounter>& ev = r.events.counters;
  if (windows) {
    ev.push_back({"Tcpip.4227", static_cast<uint64_t>(tw_events_), 0});
  } else {
    ev.push_back({"Tcp.ActiveOpens", static_cast<uint64_t>(active_opens_), 0});
    ev.push_back({"TcpExt.ListenOverflows", static_cast<uint64_t>(listen_overflows_), 0});
    ev.push_back({"TcpExt.SyncookiesSent", static_cast<uint64_t>(syncookies_), 0});
    ev.push_back({"TcpExt.TCPTimeWaitOverflow", 0, 0});
  }
  std::sort(ev.begin(), ev.end(),
            [](const EventCounter& a, const EventCounter& b) { return a.name < b.name; });
  r.health.scan_duration_us = 1500 + static_cast<uint32_t>(rng_() % 4000);
  if (with_config) {
    r.has_config = true;
    r.config = Config();
  }
  return r;
}

}  // namespace portwatch::sim
