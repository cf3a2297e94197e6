// portwatchctl: asks a portwatch collector about the fleet. Tables for people, --json for tools.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <string>

#include "portwatch/files.h"
#include "portwatch/process.h"
#include "portwatch/tls.h"
#include "portwatch/v1/query.grpc.pb.h"
#include "violations.h"

#ifndef PORTWATCH_VERSION
#define PORTWATCH_VERSION "0.0.0"
#endif

namespace pw = portwatch;
namespace v1 = portwatch::v1;

namespace {

int Fail(const std::string& msg) { return pw::ConfigError("portwatchctl", msg); }

const char* StateName(v1::HostState s) {
  switch (s) {
    case v1::HOST_STATE_OK: return "ok";
    case v1::HOST_STATE_DRIFTING: return "drifting";
    case v1::HOST_STATE_CRITICAL: return "critical";
    case v1::HOST_STATE_EXHAUSTED: return "exhausted";
    case v1::HOST_STATE_SILENT: return "silent";
    default: return "unknown";
  }
}

bool ParseState(const std::string& s, v1::HostState* out) {
  for (int i = v1::HOST_STATE_OK; i <= v1::HOST_STATE_SILENT; ++i) {
    if (s == StateName(static_cast<v1::HostState>(i))) {
      *out = static_cast<v1::HostState>(i);
      return true;
    }
  }
  return false;
}

// "~9 h", "~25 min", "~40 s", "-" when no exhaustion is forecast.
std::string Eta(const v1::Forecast& f) {
  if (!f.valid() || !f.finite() || !std::isfinite(f.eta_seconds())) return "-";
  const double s = f.eta_seconds();
  char buf[32];
  if (s >= 2 * 86400) std::snprintf(buf, sizeof buf, "~%.0f d", s / 86400);
  else if (s >= 2 * 3600) std::snprintf(buf, sizeof buf, "~%.0f h", s / 3600);
  else if (s >= 120) std::snprintf(buf, sizeof buf, "~%.0f min", s / 60);
  else std::snprintf(buf, sizeof buf, "~%.0f s", s);
  return buf;
}

std::string Growth(const v1::Forecast& f) {
  if (!f.valid()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%/h", f.growth_pct_per_hour());
  return buf;
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

int RpcFail(const grpc::Status& st, const std::string& target) {
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return Fail("cannot reach the collector at " + target + " (" + st.error_message() +
                  "): check --collector, that the collector runs, and that --ca is the fleet CA "
                  "and --cert/--key a certificate it signed");
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Fail("the collector at " + target + " did not answer in time; try again or raise "
                  "--timeout");
    default:
      return Fail(st.error_message());
  }
}

void PrintHosts(const v1::ListHostsResponse& r) {
  std::printf("%-28s %-10s %6s %13s %9s %9s  %s\n", "HOST", "STATE", "USED", "PORTS", "GROWTH",
              "FULL IN", "DRIVER / REASON");
  for (const v1::HostInfo& h : r.hosts()) {
    std::string driver = h.driver_process();
    if (!h.driver_destination().empty()) {
      driver += (driver.empty() ? "" : " -> ") + h.driver_destination();
    }
    if (driver.empty()) driver = h.reason();
    char ports[32];
    std::snprintf(ports, sizeof ports, "%u/%u", h.ports_in_use(), h.ports_usable());
    std::printf("%-28s %-10s %5.1f%% %13s %9s %9s  %s\n", h.host().c_str(), StateName(h.state()),
                100 * h.utilization(), ports, Growth(h.forecast()).c_str(),
                Eta(h.forecast()).c_str(), driver.c_str());
  }
  std::printf("(%d of %u hosts)\n", r.hosts_size(), r.total());
}

void PrintSeries(const char* title, const google::protobuf::RepeatedPtrField<v1::SeriesInfo>& s) {
  if (s.empty()) return;
  std::printf("\n%-44s %7s %9s %7s %9s %9s\n", title, "PORTS", "TIME_WAIT", "USED", "GROWTH",
              "FULL IN");
  for (const v1::SeriesInfo& x : s) {
    std::printf("%-44s %7u %9u %6.1f%% %9s %9s%s\n", x.key().c_str(), x.ports(), x.time_wait(),
                100 * x.utilization(), Growth(x.forecast()).c_str(), Eta(x.forecast()).c_str(),
                x.present() ? "" : "  (not in latest report)");
  }
}

void PrintHost(const v1::HostDetail& d) {
  const v1::HostInfo& h = d.info();
  std::printf("%s\n", h.explanation().c_str());
  std::printf("state %s since %lld (%s); last report %lld\n", StateName(h.state()),
              static_cast<long long>(h.state_since_unix_ms() / 1000), h.reason().c_str(),
              static_cast<long long>(h.last_seen_unix_ms() / 1000));
  std::printf("%u of %u usable ephemeral ports held (%.1f%%), growth %s, full in %s\n",
              h.ports_in_use(), h.ports_usable(), 100 * h.utilization(),
              Growth(h.forecast()).c_str(), Eta(h.forecast()).c_str());
  if (!h.os_version().empty()) std::printf("os %s, agent %s\n", h.os_version().c_str(),
                                           h.agent_version().c_str());
  PrintSeries("DESTINATION", d.destinations());
  PrintSeries("PROCESS", d.processes());
  if (d.config().values_size() > 0) {
    std::printf("\nSETTINGS\n");
    for (const v1::ConfigValue& v : d.config().values()) {
      std::string val = v.value_case() == v1::ConfigValue::kIntValue
                            ? std::to_string(v.int_value())
                        : v.value_case() == v1::ConfigValue::kStringValue
                            ? v.string_value()
                            : "(absent: OS default)";
      std::printf("  %-40s %s\n", v.key().c_str(), val.c_str());
    }
  }
}

void PrintAggregates(const char* title, const v1::FleetAggregates& a) {
  std::printf("%-44s %6s %8s %9s %10s %11s\n", title, "HOSTS", "GROWING", "PORTS", "TIME_WAIT",
              "GROWTH/H");
  for (const v1::FleetAggregate& x : a.items()) {
    std::printf("%-44s %6u %8u %9llu %10llu %+11.1f\n", x.key().c_str(), x.hosts(),
                x.growing_hosts(), static_cast<unsigned long long>(x.ports()),
                static_cast<unsigned long long>(x.time_wait()), x.growth_per_hour());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"portwatchctl: asks a portwatch collector which hosts are running out of TCP "
               "ports, why, and when."};
  app.set_version_flag("--version", PORTWATCH_VERSION);
  app.set_config("--config", "", "Read options from this INI/TOML file (keys as long flags)");
  app.require_subcommand(1);
  std::string collector = "127.0.0.1:7443", ca, cert, key, server_name;
  bool json = false;
  int timeout_s = 10;
  app.add_option("--collector", collector, "Collector address HOST:PORT")->capture_default_str();
  app.add_option("--ca", ca, "Fleet CA certificate (PEM)")->required();
  app.add_option("--cert", cert, "Operator certificate (PEM) the collector accepts for queries")
      ->required();
  app.add_option("--key", key, "Operator private key (PEM)")->required();
  app.add_option("--server-name", server_name,
                 "Name expected in the collector's certificate, when it differs from HOST");
  app.add_option("--timeout", timeout_s, "Seconds to wait for an answer")->capture_default_str();
  app.add_flag("--json", json, "JSON instead of a table");

  std::string state_text, host;
  uint32_t limit = 0;
  auto* hosts = app.add_subcommand("hosts", "Every host, worst first");
  hosts->add_option("--state", state_text, "Only hosts in this state (ok, drifting, critical, "
                                           "exhausted, silent)");
  hosts->add_option("--limit", limit, "At most this many");
  auto* top = app.add_subcommand("top", "Hosts that are not ok, worst first");
  top->add_option("--limit", limit, "At most this many")->capture_default_str();
  auto* one = app.add_subcommand("host", "One host in detail");
  one->add_option("name", host, "Host name")->required();
  auto* dests = app.add_subcommand("destinations", "Destinations across the fleet");
  dests->add_option("--limit", limit, "At most this many");
  auto* procs = app.add_subcommand("processes", "Processes by name across the fleet");
  procs->add_option("--limit", limit, "At most this many");
  portwatch::ctl::ViolationsFlags violation_flags;
  auto* violations = portwatch::ctl::AddViolationsCommand(app, &violation_flags);
  CLI11_PARSE(app, argc, argv);

  auto target = pw::ParseHostPort(collector, "--collector");
  if (!target.ok()) return Fail(target.error());
  auto tls = pw::LoadTlsMaterial({ca, cert, key});
  if (!tls.ok()) return Fail(tls.error());
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  auto stub = v1::Query::NewStub(
      grpc::CreateCustomChannel(target->ToString(), pw::MakeChannelCredentials(*tls), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));

  if (hosts->parsed() || top->parsed()) {
    v1::ListHostsRequest req;
    req.set_limit(limit);
    if (top->parsed()) req.set_not_ok(true);
    if (!state_text.empty()) {
      v1::HostState s;
      if (!ParseState(state_text, &s)) {
        return Fail("--state '" + state_text +
                    "' is not a state; use ok, drifting, critical, exhausted or silent");
      }
      req.set_state(s);
    }
    v1::ListHostsResponse resp;
    grpc::Status st = stub->ListHosts(&ctx, req, &resp);
    if (!st.ok()) return RpcFail(st, collector);
    if (json) std::puts(Json(resp).c_str());
    else PrintHosts(resp);
  } else if (one->parsed()) {
    v1::GetHostRequest req;
    req.set_host(host);
    v1::HostDetail resp;
    grpc::Status st = stub->GetHost(&ctx, req, &resp);
    if (!st.ok()) return RpcFail(st, collector);
    if (json) std::puts(Json(resp).c_str());
    else PrintHost(resp);
    if (!json) portwatch::ctl::PrintHostViolations(resp);
  } else if (violations->parsed()) {
    return portwatch::ctl::RunViolations(*stub, ctx, violation_flags, json,
                                         [&](const grpc::Status& s) { return RpcFail(s, collector); });
  } else {
    v1::FleetRequest req;
    req.set_limit(limit);
    v1::FleetAggregates resp;
    grpc::Status st = dests->parsed() ? stub->FleetDestinations(&ctx, req, &resp)
                                      : stub->FleetProcesses(&ctx, req, &resp);
    if (!st.ok()) return RpcFail(st, collector);
    if (json) std::puts(Json(resp).c_str());
    else PrintAggregates(dests->parsed() ? "DESTINATION" : "PROCESS", resp);
  }
  return 0;
}
