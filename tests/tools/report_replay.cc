// report_replay: streams the reports an agent wrote with `run --output-log FILE` (JSON Lines, see
// agent/src/report_format.h) to a collector over real mutual TLS, as that agent would have: the
// hello from the first line's "agent" object, then every report in order, each waiting for its
// acknowledgement. It lets tests bring the reports of an agent that cannot stream (the mingw
// Windows build under Wine) through the collector's real validation.
//
// Prints "acked N" and exits 0 when all N reports were acknowledged; "rejected SEQ: REASON" or
// "error: ..." and exits 1 otherwise.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/tls.h"
#include "portwatch/v1/portwatch.grpc.pb.h"
#include "portwatch/wire.h"

namespace pw = portwatch;
namespace v1 = portwatch::v1;
using nlohmann::json;

namespace {

// The inverse of the agent's StatesJson: {"established": 3, "time_wait": 1}.
pw::StateCounts States(const json& j) {
  pw::StateCounts out{};
  if (!j.is_object()) return out;
  for (int st = 0; st < pw::kTcpStateCount; ++st) {
    const std::string name(pw::TcpStateName(static_cast<pw::TcpState>(st)));
    if (j.contains(name)) out[st] = j[name].get<uint32_t>();
  }
  return out;
}

bool ParseEndpoint(const json& j, pw::Endpoint* out) {
  return j.is_string() && pw::Endpoint::Parse(j.get<std::string>(), out);
}

// One line of the report log back into the model; throws json exceptions on a malformed line
// (caught by the caller, which names the line).
pw::Report ParseReport(const json& j) {
  pw::Report r;
  r.sequence = j.at("sequence").get<uint64_t>();
  r.collected_unix_ms = j.at("collected_unix_ms").get<int64_t>();
  r.instance_id = j.value("instance_id", "");
  pw::SocketSummary& s = r.sockets;
  s.total_sockets = j.at("total_sockets").get<uint32_t>();
  const json& eph = j.at("ephemeral");
  s.ephemeral_range.low = eph.at("low").get<uint16_t>();
  s.ephemeral_range.high = eph.at("high").get<uint16_t>();
  s.ephemeral_ports_usable = eph.at("usable").get<uint32_t>();
  s.ephemeral_ports_in_use = eph.at("in_use").get<uint32_t>();
  const std::string source = eph.value("source", "unknown");
  for (int i = 0; i < pw::kRangeSourceCount; ++i) {
    if (pw::RangeSourceName(static_cast<pw::RangeSource>(i)) == source) {
      s.range_source = static_cast<pw::RangeSource>(i);
    }
  }
  s.auto_reuse_range = eph.value("auto_reuse", false);
  for (int f = 0; f < pw::kFamilyCount; ++f) {
    s.counts[f] = States(j.at("states").value(
        std::string(pw::FamilyName(static_cast<pw::Family>(f))), json::object()));
  }
  const json& dests = j.at("destinations");
  for (const json& d : dests.at("top")) {
    pw::DestinationUsage u;
    if (!ParseEndpoint(d.at("remote"), &u.remote)) throw std::runtime_error("bad remote endpoint");
    u.local_ports = d.at("local_ports").get<uint32_t>();
    u.states = States(d.at("states"));
    r.destinations.top.push_back(u);
  }
  r.destinations.other_count = dests.at("other_count").get<uint32_t>();
  r.destinations.other.local_ports = dests.at("other_local_ports").get<uint32_t>();
  r.destinations.other.states = States(dests.at("other_states"));
  const json& procs = j.at("processes");
  for (const json& p : procs.at("top")) {
    pw::ProcessUsage u;
    u.pid = p.at("pid").get<uint32_t>();
    u.name = p.at("name").get<std::string>();
    u.program = p.at("program").get<std::string>();
    u.ephemeral_ports = p.at("ephemeral_ports").get<uint32_t>();
    u.states = States(p.at("states"));
    r.processes.top.push_back(u);
  }
  r.processes.other_count = procs.at("other_count").get<uint32_t>();
  r.processes.other.ephemeral_ports = procs.at("other_ephemeral_ports").get<uint32_t>();
  r.processes.other.states = States(procs.at("other_states"));
  for (const json& l : j.at("listeners")) {
    pw::ListenerUsage u;
    if (!ParseEndpoint(l.at("local"), &u.local)) throw std::runtime_error("bad listener endpoint");
    u.accept_queue = l.at("accept_queue").get<uint32_t>();
    u.backlog = l.at("backlog").get<uint32_t>();
    u.pid = l.at("pid").get<uint32_t>();
    u.process = l.at("process").get<std::string>();
    r.listeners.push_back(u);
  }
  if (j.contains("config")) {
    r.has_config = true;
    r.config.os_version = j["config"].at("os_version").get<std::string>();
    for (const auto& [key, v] : j["config"].at("values").items()) {  // sorted, as the model wants
      pw::ConfigValue c;
      c.key = key;
      c.present = !v.is_null();
      if (v.is_string()) {
        c.type = pw::ConfigValue::Type::kString;
        c.string_value = v.get<std::string>();
      } else if (c.present) {
        c.int_value = v.get<int64_t>();
      }
      r.config.values.push_back(c);
    }
  }
  const json& ev = j.at("events");
  const json& last = ev.value("last_unix_ms", json::object());
  for (const auto& [name, value] : ev.at("counters").items()) {
    r.events.counters.push_back(
        {name, value.get<uint64_t>(), last.contains(name) ? last[name].get<int64_t>() : 0});
  }
  r.events.degraded = ev.at("degraded").get<bool>();
  r.events.degraded_reason = ev.value("degraded_reason", "");
  const json& h = j.at("health");
  r.health.reports_dropped_total = h.at("reports_dropped_total").get<uint64_t>();
  r.health.reports_pending = h.at("reports_pending").get<uint32_t>();
  r.health.scan_duration_us = h.at("scan_duration_us").get<uint32_t>();
  r.health.spool_bytes = h.at("spool_bytes").get<uint64_t>();
  r.health.spool_write_failures_total = h.at("spool_write_failures_total").get<uint64_t>();
  r.health.spool_corrupt_records_total = h.at("spool_corrupt_records_total").get<uint64_t>();
  return r;
}

pw::AgentHello ParseHello(const json& j) {
  const json& a = j.at("agent");
  pw::AgentHello h;
  h.hostname = j.at("host").get<std::string>();
  const std::string os = a.at("os").get<std::string>();
  h.os = os == "windows" ? pw::OsKind::kWindows
         : os == "linux" ? pw::OsKind::kLinux
                         : pw::OsKind::kUnknown;
  h.os_version = a.at("os_version").get<std::string>();
  h.agent_version = a.at("agent_version").get<std::string>();
  h.instance_id = a.at("instance_id").get<std::string>();
  h.boot_id = a.at("boot_id").get<std::string>();
  h.interval_ms = a.at("interval_ms").get<uint32_t>();
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Streams the reports of an agent's --output-log file to a collector"};
  std::string target, ca, cert, key, input;
  app.add_option("--target", target, "Collector address HOST:PORT")->required();
  app.add_option("--ca", ca)->required();
  app.add_option("--cert", cert)->required();
  app.add_option("--key", key)->required();
  app.add_option("--input", input, "The agent's --output-log file")->required();
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(input);
  if (!in) {
    std::printf("error: cannot read '%s'\n", input.c_str());
    return 1;
  }
  pw::AgentHello hello;
  std::vector<pw::Report> reports;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      const json j = json::parse(line);
      if (reports.empty()) hello = ParseHello(j);
      reports.push_back(ParseReport(j));
    } catch (const std::exception& e) {
      // A line cut short by a stopped agent is the last one: replay what came before it.
      if (in.peek() == EOF && !reports.empty()) break;
      std::printf("error: %s line %d: %s\n", input.c_str(), n, e.what());
      return 1;
    }
  }
  if (reports.empty()) {
    std::printf("error: '%s' holds no report\n", input.c_str());
    return 1;
  }

  auto tls = pw::LoadTlsMaterial({ca, cert, key});
  if (!tls.ok()) {
    std::printf("error: %s\n", tls.error().c_str());
    return 1;
  }
  auto stub = v1::Ingest::NewStub(grpc::CreateChannel(target, pw::MakeChannelCredentials(*tls)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = stub->Stream(&ctx);
  v1::AgentMessage m;
  pw::ToProto(hello, m.mutable_hello());
  if (!stream->Write(m)) {
    std::printf("error: the collector closed the stream: %s\n",
                stream->Finish().error_message().c_str());
    return 1;
  }
  for (const pw::Report& r : reports) {
    v1::AgentMessage msg;
    pw::ToProto(r, msg.mutable_report());
    v1::CollectorMessage ack;
    if (!stream->Write(msg) || !stream->Read(&ack) || !ack.has_ack()) {
      std::printf("error: stream ended at report %llu: %s\n",
                  static_cast<unsigned long long>(r.sequence),
                  stream->Finish().error_message().c_str());
      return 1;
    }
    if (!ack.ack().rejected_reason().empty()) {
      std::printf("rejected %llu: %s\n", static_cast<unsigned long long>(r.sequence),
                  ack.ack().rejected_reason().c_str());
      return 1;
    }
  }
  stream->WritesDone();
  stream->Finish();
  std::printf("acked %zu\n", reports.size());
  return 0;
}
