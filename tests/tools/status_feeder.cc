// status_feeder: a stand-in agent for status page tests. It streams real reports over real mutual
// TLS to a collector, paced in real time, whose ports rise linearly (a leak toward one destination
// by one process) or stay flat, and can carry hostile text (HTML and script in a process name and
// the OS version) so tests can check that pages show it as text.
//
// Prints "acked N" after the collector acknowledged all N reports, and exits 0; else the error.
// A stream cut short is opened again, as an agent would, and said so on stdout.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <thread>

#include "portwatch/files.h"
#include "portwatch/model.h"
#include "portwatch/tls.h"
#include "portwatch/v1/portwatch.grpc.pb.h"
#include "portwatch/wire.h"

namespace pw = portwatch;
namespace v1 = portwatch::v1;

namespace {

constexpr char kHostile[] = "<script>alert('pw')</script><b>x</b>";

pw::Report MakeReport(uint64_t seq, int64_t collected_unix_ms, uint32_t ports, uint32_t usable,
                      const std::string& process, const std::string& dest, bool hostile) {
  pw::Report r;
  r.sequence = seq;
  r.collected_unix_ms = collected_unix_ms;
  auto& s = r.sockets;
  s.ephemeral_range = pw::PortRange{40000, static_cast<uint16_t>(40000 + usable - 1)};
  s.ephemeral_ports_usable = usable;
  s.ephemeral_ports_in_use = ports;
  const uint32_t tw = ports / 3;
  s.counts[0][static_cast<int>(pw::TcpState::kEstablished)] = ports - tw;
  s.counts[0][static_cast<int>(pw::TcpState::kTimeWait)] = tw;
  s.total_sockets = ports;
  pw::DestinationUsage d;
  pw::Endpoint::Parse(dest, &d.remote);
  d.states[static_cast<int>(pw::TcpState::kEstablished)] = ports - tw;
  d.states[static_cast<int>(pw::TcpState::kTimeWait)] = tw;
  d.local_ports = ports;
  r.destinations.top.push_back(d);
  pw::ProcessUsage p;
  p.pid = 4242;
  p.name = process;
  p.program = "/usr/bin/" + process;
  p.states[static_cast<int>(pw::TcpState::kEstablished)] = ports - tw;
  p.ephemeral_ports = ports - tw;
  r.processes.top.push_back(p);
  if (hostile) {
    pw::ProcessUsage h;
    h.pid = 4343;
    h.name = kHostile;
    h.states[static_cast<int>(pw::TcpState::kEstablished)] = 1;
    h.ephemeral_ports = 1;
    r.processes.top.push_back(h);
  }
  if (seq == 1) {
    r.has_config = true;
    r.config.os_version = hostile ? std::string("Linux ") + kHostile : "Linux 6.1";
    r.config.values.push_back({"net.ipv4.ip_local_port_range", true, pw::ConfigValue::Type::kString,
                               0, "40000 " + std::to_string(40000 + usable - 1)});
    r.config.values.push_back(
        {"net.ipv4.tcp_fin_timeout", false, pw::ConfigValue::Type::kInt, 0, ""});
    r.config.values.push_back({"net.ipv4.tcp_tw_reuse", true, pw::ConfigValue::Type::kInt, 0, ""});
  }
  r.events.counters.push_back({"TcpExt.ListenDrops", seq / 10, r.collected_unix_ms - 60000});
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Streams paced reports with rising (or flat) port use to a collector"};
  std::string target, ca, cert, key, hostname, process = "leaky-app", dest = "10.0.4.12:1433";
  uint32_t reports = 100, interval_ms = 50, start = 100, step = 0, usable = 1000;
  bool hostile = false;
  app.add_option("--target", target)->required();
  app.add_option("--ca", ca)->required();
  app.add_option("--cert", cert)->required();
  app.add_option("--key", key)->required();
  app.add_option("--hostname", hostname)->required();
  app.add_option("--reports", reports);
  app.add_option("--interval-ms", interval_ms);
  app.add_option("--start-ports", start);
  app.add_option("--step", step, "ports added per report (0: flat)");
  app.add_option("--usable", usable);
  app.add_option("--process", process);
  app.add_option("--destination", dest);
  app.add_flag("--hostile", hostile, "HTML and script in a process name and the OS version");
  CLI11_PARSE(app, argc, argv);

  auto tls = pw::LoadTlsMaterial({ca, cert, key});
  if (!tls.ok()) {
    std::printf("error setup: %s\n", tls.error().c_str());
    return 2;
  }
  auto stub = v1::Ingest::NewStub(grpc::CreateChannel(target, pw::MakeChannelCredentials(*tls)));
  v1::AgentMessage hello;
  pw::AgentHello h;
  h.hostname = hostname;
  h.agent_version = hostile ? std::string("9.9 ") + kHostile : "0.0-feeder";
  h.os = pw::OsKind::kLinux;
  h.os_version = "6.1";
  h.instance_id = "feeder-" + std::to_string(pw::NowUnixMs());
  h.interval_ms = interval_ms;
  pw::ToProto(h, hello.mutable_hello());
  // Like the agent, a cut stream is opened again and the unacknowledged report sent again (the
  // collector recognises a report it stored by instance and sequence); a few times at most.
  int reconnects = 0;
  uint32_t i = 0;
  // Each report is dated on its schedule (one interval after the one before), not when it was
  // sent: the port count is a function of the report's number, so a stall of this process (a
  // loaded machine) must not read as a pause in the leak, nor timing jitter as a wandering rate.
  // The schedule runs behind the real clock (each send also waits for its ack), which the
  // collector accepts as it does a spooled backlog.
  const int64_t first_ms = pw::NowUnixMs();
  while (i < reports) {
    grpc::ClientContext ctx;
    auto stream = stub->Stream(&ctx);
    if (!stream->Write(hello)) {
      std::printf("error: the collector closed the stream: %s\n",
                  stream->Finish().error_message().c_str());
      return 1;
    }
    for (; i < reports; ++i) {
      const uint32_t ports = std::min(usable, start + i * step);
      v1::AgentMessage m;
      const int64_t at = first_ms + static_cast<int64_t>(i) * interval_ms;
      pw::ToProto(MakeReport(i + 1, at, ports, usable, process, dest, hostile),
                  m.mutable_report());
      v1::CollectorMessage in;
      if (!stream->Write(m) || !stream->Read(&in) || !in.has_ack()) break;
      if (!in.ack().rejected_reason().empty()) {
        std::printf("rejected %u: %s\n", i + 1, in.ack().rejected_reason().c_str());
        return 1;
      }
      // Pacing: the reports are spread in real time too, as an agent's are.
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    }
    if (i == reports) {
      stream->WritesDone();
      stream->Finish();
      break;
    }
    const grpc::Status st = stream->Finish();
    std::printf("stream ended at report %u (%s); reconnecting\n", i + 1,
                st.error_message().c_str());
    if (++reconnects > 3) {
      std::printf("error: gave up after %d reconnects\n", reconnects - 1);
      return 1;
    }
  }
  std::printf("acked %u (%d reconnects)\n", reports, reconnects);
  return 0;
}
