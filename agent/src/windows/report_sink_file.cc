// The sink of a build without gRPC: the latest report as JSON in a file, nothing else.
#include "src/report_sink.h"

namespace portwatch::agent {

void AddSinkOptions(CLI::App* run, SinkOptions* o) {
  AddOutputOption(run, o);
  // Accepted so that a config file written for the full agent is read, then refused at start
  // with what to do, instead of an "unknown option" error.
  run->add_option("--collector", o->collector, "Not available in this build (no gRPC)");
  run->add_option("--ca", o->ca, "Not available in this build (no gRPC)");
  run->add_option("--cert", o->cert, "Not available in this build (no gRPC)");
  run->add_option("--key", o->key, "Not available in this build (no gRPC)");
  run->add_option("--server-name", o->server_name, "Not available in this build (no gRPC)");
  run->add_option("--max-pending", o->max_pending, "Not available in this build (no gRPC)");
  AddDeliveryFlags(run, &o->delivery, /*source_ports=*/false);  // read, unused: nothing streams
}

Expected<std::unique_ptr<ReportSink>> StartReportSink(const SinkOptions& o,
                                                      const AgentHello& hello) {
  if (!o.ca.empty() || !o.cert.empty() || !o.key.empty()) {
    return Status::Error(
        "this portwatch-agent.exe was built without gRPC (the mingw-w64 cross-build) and cannot "
        "stream to a collector; build it with MSVC + vcpkg (see README, Windows), or pass "
        "--output FILE to write reports to a file");
  }
  if (!HasLocalOutput(o)) {
    return Status::Error("run needs --output FILE or --output-log FILE in this build (it has no "
                         "gRPC to stream to a collector)");
  }
  return StartLocalSinks(o, hello);
}

}  // namespace portwatch::agent
