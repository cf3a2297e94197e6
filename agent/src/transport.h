// The agent's one long-lived stream to the collector. Every report goes into the spool first;
// the stream sends a Hello, then everything the spool holds that is not yet acknowledged, oldest
// first (reports of earlier agent instances included), then new reports as they come. An
// acknowledgement consumes the report and everything sent before it. A broken stream is retried
// with jittered exponential backoff and starts again from the oldest unacknowledged report.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/tls.h"
#include "src/spool.h"

namespace portwatch::agent {

struct TransportOptions {
  std::string target;                ///< collector address, HOST:PORT
  std::string server_name_override;  ///< expected name in the collector's certificate, if not HOST
  TlsMaterial tls;
  /// Where `tls` came from. When set, every reconnect re-reads them, so a renewed certificate is
  /// used from the next stream on; files that fail to load leave `tls` in use, with a warning.
  TlsFiles tls_files;
  AgentHello hello;
  int backoff_initial_ms = 500;
  int backoff_max_ms = 30000;
  /// Applied to each channel's arguments before it connects; the Linux agent binds its source
  /// port there (source_port.h). Empty: nothing.
  std::function<void(grpc::ChannelArguments*)> prepare_channel;
  /// Describes the local end of a connection that just came up, for the log ("from source port
  /// 40001"); empty or returning "": nothing is added.
  std::function<std::string()> describe_connection;
};

struct TransportStats {
  uint64_t reports_acked = 0;
  uint64_t reports_rejected = 0;
  uint64_t connects = 0;
  bool connected = false;
  SpoolStats spool;
};

class Transport {
 public:
  Transport(TransportOptions options, std::unique_ptr<Spool> spool);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void Start();
  /// Cancels the stream and joins the worker. Spooled reports stay on disk for the next run.
  void Stop();
  /// Stamps the report with the spool's health (drops, depth, failures) and spools it; the
  /// stream sends it when its turn comes.
  void Enqueue(Report report);
  TransportStats stats() const;

 private:
  void Run();
  /// One connection's life; returns true if the collector acknowledged anything on it.
  bool RunStream();
  /// Re-reads opts_.tls_files into opts_.tls when they changed (worker thread only).
  void ReloadTls();

  TransportOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<Spool> spool_;  // guarded by mu_
  TransportStats stats_;
  bool stopping_ = false;
  std::shared_ptr<void> current_ctx_;  // grpc::ClientContext of the live stream, for cancel
  std::thread worker_;
  std::string tls_reload_error_;  // the last reload error, logged once (worker thread only)
};

}  // namespace portwatch::agent
