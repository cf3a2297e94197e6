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

// --output-log: every report, one JSON line each, through the logger's rotating file writer
// (same bound-and-keep-one-old-file rule as agent.log).
class ReportLogSink final : public ReportSink {
 public:
  ReportLogSink(std::unique_ptr<LogSink> file, AgentHello hello)
      : file_(std::move(file)), hello_(std::move(hello)) {}
  void Submit(Report report) override {
    const std::string line = ReportToJsonLine(hello_, report);
    file_->Write(LogLevel::kInfo, line, line);
  }
  void Stop() override {}

 private:
  std::unique_ptr<LogSink> file_;
  AgentHello hello_;
};

class PairSink final : public ReportSink {
 public:
  PairSink(std::unique_ptr<ReportSink> a, std::unique_ptr<ReportSink> b)
      : a_(std::move(a)), b_(std::move(b)) {}
  void Submit(Report report) override {
    a_->Submit(report);
    b_->Submit(std::move(report));
  }
  void Stop() override {
    a_->Stop();
    b_->Stop();
  }

 private:
  std::unique_ptr<ReportSink> a_, b_;
};

}  // namespace

void AddOutputOption(CLI::App* run, SinkOptions* o) {
  run->add_option("--output", o->output,
                  "Also write the latest report as JSON to this file every interval");
  run->add_option("--output-log", o->output_log,
                  "Also append every report as one JSON line to this file (JSON Lines, with "
                  "sequence, time and health; kept within 16 MiB plus one older FILE.1)");
}

Expected<std::unique_ptr<ReportSink>> StartLocalSinks(const SinkOptions& o,
                                                      const AgentHello& hello) {
  std::unique_ptr<ReportSink> latest, log;
  if (!o.output.empty()) {
    auto file = StartFileSink(o.output, hello.hostname);
    if (!file.ok()) return file.status();
    latest = std::move(*file);
  }
  if (!o.output_log.empty()) {
    auto file = MakeRotatingFileLogSink(o.output_log, kOutputLogMaxBytes);
    if (!file.ok()) return Status::Error("--output-log: " + file.error());
    log = std::make_unique<ReportLogSink>(std::move(*file), hello);
  }
  if (!latest && !log) return Status::Error("neither --output nor --output-log was given");
  if (!latest) return log;
  if (!log) return latest;
  return std::unique_ptr<ReportSink>(new PairSink(std::move(latest), std::move(log)));
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
