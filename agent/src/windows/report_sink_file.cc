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
    Status s = WriteFileAtomic(path_, ReportToJson(host_, report, {}));
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
                  "no gRPC, so it cannot stream to a collector)")
      ->required();
}

Expected<std::unique_ptr<ReportSink>> StartReportSink(const SinkOptions& o,
                                                      const AgentHello& hello) {
  // Fail at start, not at the first interval, when the file cannot be written.
  Status s = WriteFileAtomic(o.output, "{}\n");
  if (!s.ok()) return Status::Error("--output: " + s.message());
  return std::unique_ptr<ReportSink>(new FileSink(o.output, hello.hostname));
}

}  // namespace portwatch::agent
