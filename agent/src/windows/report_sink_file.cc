// The sink of a build without gRPC: the latest report as JSON, replaced atomically each cycle.
#include "portwatch/files.h"
#include "src/report_format.h"
#include "src/windows/report_sink.h"

namespace portwatch::agent {
namespace {

class FileSink final : public ReportSink {
 public:
  FileSink(std::string path, std::string host) : path_(std::move(path)), host_(std::move(host)) {}
  void Submit(Report report) override {
    Status s = WriteFileAtomic(path_, ReportToJson(host_, report));
    if (!s.ok()) std::fprintf(stderr, "portwatch-agent: %s\n", s.message().c_str());
  }
  void Stop() override {}

 private:
  std::string path_;
  std::string host_;
};

}  // namespace

void AddSinkOptions(CLI::App* run, SinkOptions* o) {
  run->add_option("--output", o->output,
                  "Write the latest report as JSON to this file every interval (this build has "
                  "no gRPC, so it cannot stream to a collector)");
  // Accepted so that a config file written for the full agent is read, then refused at start
  // with what to do, instead of an "unknown option" error.
  run->add_option("--collector", o->collector, "Not available in this build (no gRPC)");
  run->add_option("--ca", o->ca, "Not available in this build (no gRPC)");
  run->add_option("--cert", o->cert, "Not available in this build (no gRPC)");
  run->add_option("--key", o->key, "Not available in this build (no gRPC)");
  run->add_option("--server-name", o->server_name, "Not available in this build (no gRPC)");
  run->add_option("--max-pending", o->max_pending, "Not available in this build (no gRPC)");
}

Expected<std::unique_ptr<ReportSink>> StartReportSink(const SinkOptions& o,
                                                      const AgentHello& hello) {
  if (!o.ca.empty() || !o.cert.empty() || !o.key.empty()) {
    return Status::Error(
        "this portwatch-agent.exe was built without gRPC (the mingw-w64 cross-build) and cannot "
        "stream to a collector; build it with MSVC + vcpkg (see README, Windows), or pass "
        "--output FILE to write reports to a file");
  }
  if (o.output.empty()) {
    return Status::Error("run needs --output FILE in this build (it has no gRPC to stream to a "
                         "collector)");
  }
  // Fail at start, not at the first interval, when the file cannot be written.
  Status s = WriteFileAtomic(o.output, "{}\n");
  if (!s.ok()) return Status::Error("--output: " + s.message());
  return std::unique_ptr<ReportSink>(new FileSink(o.output, hello.hostname));
}

}  // namespace portwatch::agent
