// What both sink implementations share: the latest report as JSON in a file.
#include "src/report_sink.h"

#include "portwatch/files.h"
#include "src/log.h"
#include "src/report_format.h"

namespace portwatch::agent {
namespace {

class FileSink final : public ReportSink {
 public:
  FileSink(std::string path, std::string host) : path_(std::move(path)), host_(std::move(host)) {}
  void Submit(Report report) override {
    Status s = WriteFileAtomic(path_, ReportToJson(host_, report));
    if (!s.ok()) LogWarning("--output: " + s.message());
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

Status CheckCertificateHost(const std::string& cert_path, const std::string& cert_subject,
                            const std::string& host_name) {
  if (cert_subject == host_name) return Status::Ok();
  return Status::Error("certificate '" + cert_path + "' is for host '" + cert_subject +
                       "' but this agent reports as '" + host_name +
                       "'; the collector would refuse it. Pass --host-name " + cert_subject +
                       " or issue a certificate for " + host_name);
}

}  // namespace portwatch::agent
