// What both sink implementations share: the latest report as JSON in a file.
#include "src/windows/report_sink.h"

#include "portwatch/files.h"
#include "src/report_format.h"

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

void AddOutputOption(CLI::App* run, SinkOptions* o) {
  run->add_option("--output", o->output,
                  "Also write the latest report as JSON to this file every interval");
}

Expected<std::unique_ptr<ReportSink>> StartFileSink(const std::string& path,
                                                    const std::string& host) {
  // Fail at start, not at the first interval, when the file cannot be written.
  Status s = WriteFileAtomic(path, "{}\n");
  if (!s.ok()) return Status::Error("--output: " + s.message());
  return std::unique_ptr<ReportSink>(new FileSink(path, host));
}

}  // namespace portwatch::agent
