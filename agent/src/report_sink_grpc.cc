// The sink of a build with gRPC (Linux, MSVC on Windows): the collector stream (transport.cc).
#include "portwatch/files.h"
#include "portwatch/tls.h"
#include "src/delivery_setup.h"
#include "src/transport.h"
#include "src/report_sink.h"

namespace portwatch::agent {
namespace {

class GrpcSink final : public ReportSink {
 public:
  GrpcSink(TransportOptions o, std::unique_ptr<Spool> spool, std::unique_ptr<ReportSink> copy)
      : transport_(std::move(o), std::move(spool)), copy_(std::move(copy)) {
    transport_.Start();
  }
  void Submit(Report report) override {
    // The transport stamps the spool's health (drops, depth) on the report as it spools it.
    if (copy_) copy_->Submit(report);
    transport_.Enqueue(std::move(report));
  }
  void Stop() override { transport_.Stop(); }

 private:
  Transport transport_;
  std::unique_ptr<ReportSink> copy_;  // --output / --output-log, if given
};

}  // namespace

void AddSinkOptions(CLI::App* run, SinkOptions* o) {
  AddOutputOption(run, o);
  run->add_option("--collector", o->collector, "Collector address HOST:PORT")
      ->capture_default_str();
  run->add_option("--ca", o->ca, "Fleet CA certificate (PEM)");
  run->add_option("--cert", o->cert, "This host's certificate (PEM), signed by the fleet CA");
  run->add_option("--key", o->key, "This host's private key (PEM)");
  run->add_option("--server-name", o->server_name,
                  "Name expected in the collector's certificate, when it differs from HOST");
  run->add_option("--max-pending", o->max_pending,
                  "Reports kept in memory while the collector is unreachable (without "
                  "--spool-dir, or while the spool's disk fails)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  // --source-ports only where the OS can bind it: gRPC's Windows connector binds its sockets
  // itself.
  AddDeliveryFlags(run, &o->delivery, /*source_ports=*/static_cast<bool>(o->bind_source_ports));
}

Expected<std::unique_ptr<ReportSink>> StartReportSink(const SinkOptions& o,
                                                      const AgentHello& hello) {
  // Without certificates the agent can still write reports locally (and tests use that).
  if (o.ca.empty() && o.cert.empty() && o.key.empty() && HasLocalOutput(o)) {
    return StartLocalSinks(o, hello);
  }
  if (o.ca.empty() || o.cert.empty() || o.key.empty()) {
    return Status::Error("run needs --ca, --cert and --key to stream to the collector (or only "
                         "--output FILE to write reports to a file)");
  }
  std::unique_ptr<ReportSink> copy;
  if (HasLocalOutput(o)) {
    auto file = StartLocalSinks(o, hello);
    if (!file.ok()) return file.status();
    copy = std::move(*file);
  }
  auto target = ParseHostPort(o.collector, "--collector");
  if (!target.ok()) return target.status();
  if (target->port == 0) {
    return Status::Error("--collector '" + o.collector + "' needs a non-zero port");
  }
  auto tls = LoadTlsMaterial({o.ca, o.cert, o.key});
  if (!tls.ok()) return tls.status();
  Status host = CheckCertificateHost(o.cert, tls->subject_name, hello.hostname);
  if (!host.ok()) return host;
  auto delivery = OpenDelivery(o.delivery, o.max_pending);
  if (!delivery.ok()) return delivery.status();
  TransportOptions t;
  t.target = target->ToString();
  t.server_name_override = o.server_name;
  t.tls = std::move(*tls);
  t.tls_files = {o.ca, o.cert, o.key};
  t.hello = hello;
  if (!delivery->source_ports.empty() && o.bind_source_ports) {
    o.bind_source_ports(std::move(delivery->source_ports), &t);
  }
  return std::unique_ptr<ReportSink>(
      new GrpcSink(std::move(t), std::move(delivery->spool), std::move(copy)));
}

}  // namespace portwatch::agent
