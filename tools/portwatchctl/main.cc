// portwatchctl: asks a portwatch collector about the fleet. Tables for people, --json for tools.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "format.h"

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

bool ParseState(const std::string& s, v1::HostState* out) {
  for (int i = v1::HOST_STATE_OK; i <= v1::HOST_STATE_SILENT; ++i) {
    if (s == pw::ctl::StateName(static_cast<v1::HostState>(i))) {
      *out = static_cast<v1::HostState>(i);
      return true;
    }
  }
  return false;
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

// The clock ages are measured against: --now, else PORTWATCH_NOW_UNIX_MS, else the real one.
// The first two are for tests and reproducible output.
int64_t Now(int64_t flag) {
  if (flag > 0) return flag;
  if (const char* env = std::getenv("PORTWATCH_NOW_UNIX_MS"); env && *env) {
    return std::strtoll(env, nullptr, 10);
  }
  return pw::NowUnixMs();
}

// Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
bool UseColour(const std::string& mode) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* no = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) && !(no && *no);
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
  bool all = false, utc = false;
  int watch_s = 0, watch_count = 0;
  int64_t now_flag = 0;
  std::string colour = "auto";
  app.add_flag("--all", all, "Show every row (lists are capped and worst first otherwise)");
  app.add_option("--watch", watch_s, "Refresh every N seconds until interrupted")
      ->check(CLI::Range(1, 86400));
  app.add_option("--count", watch_count,
                 "With --watch: stop after this many refreshes and exit with the last one's "
                 "status (0: until interrupted)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--color", colour, "Colour states: auto (a terminal without NO_COLOR), always, "
                                    "never")->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_flag("--utc", utc, "Times in UTC instead of the local time zone");
  app.add_option("--now", now_flag, "Measure ages against this Unix time in ms instead of the "
                                    "clock (for tests; also PORTWATCH_NOW_UNIX_MS)");

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
  pw::ctl::FormatOptions fmt;
  fmt.colour = !json && UseColour(colour);
  fmt.all = all;
  fmt.utc = utc;

  // One query and its output; `top` answers 1 when a host is drifting or worse.
  auto run_once = [&](std::string* out) -> int {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
    fmt.now_unix_ms = Now(now_flag);
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
      *out = json ? Json(resp) + "\n" : pw::ctl::FormatHosts(resp, fmt);
      return top->parsed() ? pw::ctl::TopExitStatus(resp) : 0;
    }
    if (one->parsed()) {
      v1::GetHostRequest req;
      req.set_host(host);
      v1::HostDetail resp;
      grpc::Status st = stub->GetHost(&ctx, req, &resp);
      if (!st.ok()) return RpcFail(st, collector);
      *out = json ? Json(resp) + "\n"
                  : pw::ctl::FormatHost(resp, fmt) + portwatch::ctl::FormatHostViolations(resp);
      return 0;
    }
    if (violations->parsed()) {
      return portwatch::ctl::RunViolations(
          *stub, ctx, violation_flags, json,
          [&](const grpc::Status& s) { return RpcFail(s, collector); }, out);
    }
    v1::FleetRequest req;
    req.set_limit(limit);
    v1::FleetAggregates resp;
    grpc::Status st = dests->parsed() ? stub->FleetDestinations(&ctx, req, &resp)
                                      : stub->FleetProcesses(&ctx, req, &resp);
    if (!st.ok()) return RpcFail(st, collector);
    *out = json ? Json(resp) + "\n"
                : pw::ctl::FormatAggregates(dests->parsed() ? "DESTINATION" : "PROCESS", resp,
                                            fmt);
    return 0;
  };

  if (watch_count > 0 && watch_s == 0) return Fail("--count needs --watch N");
  if (watch_s == 0) {
    std::string out;
    const int rc = run_once(&out);
    std::fputs(out.c_str(), stdout);
    return rc;
  }
  // --watch: redraw until interrupted; a failed query is reported and retried next time.
  const bool clear = isatty(STDOUT_FILENO);
  for (int i = 1;; ++i) {
    std::string out;
    const int rc = run_once(&out);
    if (clear) std::fputs("\x1b[H\x1b[2J", stdout);
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    if (i == watch_count) return rc;
    std::this_thread::sleep_for(std::chrono::seconds(watch_s));
  }
}
