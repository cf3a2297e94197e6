// The agent's one long-lived stream to the collector: sends a Hello, then every report in order,
// keeps what is not yet acknowledged, and reconnects with jittered exponential backoff.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "portwatch/model.h"
#include "portwatch/tls.h"

namespace portwatch::agent {

struct TransportOptions {
  std::string target;                ///< collector address, HOST:PORT
  std::string server_name_override;  ///< expected name in the collector's certificate, if not HOST
  TlsMaterial tls;
  AgentHello hello;
  size_t max_pending = 5760;         ///< reports kept unacknowledged (a day at 15 s)
  int backoff_initial_ms = 500;
  int backoff_max_ms = 30000;
};

struct TransportStats {
  uint64_t reports_acked = 0;
  uint64_t reports_rejected = 0;
  uint64_t reports_dropped = 0;
  uint64_t connects = 0;
  size_t pending = 0;
  bool connected = false;
};

class Transport {
 public:
  explicit Transport(TransportOptions options);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void Start();
  /// Cancels the stream and joins the worker; pending reports are discarded.
  void Stop();
  /// Queues a report; when the queue is full the oldest is dropped and counted.
  void Enqueue(Report report);
  TransportStats stats() const;

 private:
  void Run();
  /// One connection's life; returns true if the collector acknowledged anything on it.
  bool RunStream();

  TransportOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Report> pending_;   // oldest first, not yet acknowledged
  TransportStats stats_;
  bool stopping_ = false;
  std::shared_ptr<void> current_ctx_;  // grpc::ClientContext of the live stream, for cancel
  std::thread worker_;
};

}  // namespace portwatch::agent
