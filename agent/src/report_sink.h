// Where the agent's reports go, on every OS. Two implementations, chosen in CMake: with gRPC
// (report_sink_grpc.cc: Linux, and the native MSVC + vcpkg Windows build) they stream to the
// collector over mutual TLS, and can also be written to a file; without it
// (windows/report_sink_file.cc, the mingw cross-build) the latest report is only written as JSON
// to a file, for local use and tests.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"
#include "src/delivery_setup.h"

namespace portwatch::agent {

struct TransportOptions;

struct SinkOptions {
  std::string output;      ///< file sink: where the latest report is written
  std::string output_log;  ///< file sink: where every report is appended as a JSON line
  std::string collector = "127.0.0.1:7443";
  std::string ca, cert, key, server_name;
  size_t max_pending = 5760;
  DeliveryFlags delivery;  ///< the spool (gRPC builds)
  /// Where the OS can bind the stream's source port (Linux): installs `ports` on the transport.
  /// Empty: --source-ports is not offered.
  std::function<void(std::vector<uint16_t> ports, TransportOptions* transport)> bind_source_ports;
};

/// Adds the `run` options this build's sink understands. Set options->bind_source_ports first
/// to offer --source-ports.
void AddSinkOptions(CLI::App* run, SinkOptions* options);

class ReportSink {
 public:
  virtual ~ReportSink() = default;
  /// Hands over one report; never blocks on the network.
  virtual void Submit(Report report) = 0;
  /// Flushes what can be flushed and stops.
  virtual void Stop() = 0;
};

/// Checks the options (certificates match the host name, addresses parse) and starts the sink.
Expected<std::unique_ptr<ReportSink>> StartReportSink(const SinkOptions& options,
                                                      const AgentHello& hello);

// Shared by both implementations (report_sink.cc).
/// Adds --output and --output-log.
void AddOutputOption(CLI::App* run, SinkOptions* options);
/// True when --output or --output-log was given.
inline bool HasLocalOutput(const SinkOptions& o) {
  return !o.output.empty() || !o.output_log.empty();
}
/// The sink of --output and --output-log, whichever were given (at least one must be); fails if
/// a file cannot be written.
Expected<std::unique_ptr<ReportSink>> StartLocalSinks(const SinkOptions& options,
                                                      const AgentHello& hello);
/// The bound of --output-log: past it the file becomes FILE.1 (replacing the previous one).
inline constexpr uint64_t kOutputLogMaxBytes = 16ull << 20;
/// A sink writing each report as JSON to `path` (atomically replaced); fails if it cannot write.
Expected<std::unique_ptr<ReportSink>> StartFileSink(const std::string& path,
                                                    const std::string& host);
/// The one certificate check: the certificate (whose subject is `cert_subject`) must name the
/// host the agent reports as, or the collector refuses every report.
Status CheckCertificateHost(const std::string& cert_path, const std::string& cert_subject,
                            const std::string& host_name);

}  // namespace portwatch::agent
