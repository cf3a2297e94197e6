// The single writer between ingest and the store: a bounded queue drained by one thread that
// commits requests in batches (one transaction, so one fsync, per batch) and only then updates
// fleet state and calls each request's completion, which is where ingest sends the ack. Keeps the
// disk off the gRPC reactions: a reaction only enqueues.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "src/drift_monitor.h"
#include "src/fleet_state.h"
#include "src/store.h"

namespace portwatch::collector {

class PolicyMonitor;

struct WriteOutcome {
  bool ok = false;         ///< committed (false: the store failed; nothing was written)
  bool duplicate = false;  ///< the report was stored before
  std::string error;       ///< when !ok
};

struct WriteRequest {
  StoreOp op;
  Report report;  ///< kReport: the validated model, for fleet state
  /// kReport: called on the writer thread after the batch committed or failed.
  std::function<void(const WriteOutcome&)> done;
};

struct StoreWriterOptions {
  size_t max_queue = 20000;        ///< requests waiting; more are refused (and counted)
  size_t max_batch = 512;          ///< requests per transaction
  int64_t prune_every_ms = 60000;  ///< how often retention runs
};

class StoreWriter {
 public:
  StoreWriter(Store& store, FleetState& fleet, prometheus::Registry& registry,
              StoreWriterOptions options = {});
  /// Stored reports are also fed to drift analysis. Call before Start.
  void SetDriftMonitor(DriftMonitor* drift) { drift_ = drift; }
  /// Stored reports are also fed to the policy audit. Call before Start.
  void SetPolicyMonitor(PolicyMonitor* policy) { policy_ = policy; }
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  void Start();
  /// Commits what is queued, then stops the thread.
  void Stop();
  /// Queues a request; false when the queue is full (counted): the caller must not acknowledge.
  bool Submit(WriteRequest request);

 private:
  void Run();
  void Commit(std::deque<WriteRequest>& batch);

  Store& store_;
  FleetState& fleet_;
  DriftMonitor* drift_ = nullptr;
  PolicyMonitor* policy_ = nullptr;
  const StoreWriterOptions opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WriteRequest> queue_;
  bool stopping_ = false;
  std::thread thread_;
  int64_t last_error_log_ms_ = 0;
  prometheus::Gauge& queue_gauge_;
  prometheus::Counter& queue_full_;
  prometheus::Counter& write_errors_;
  prometheus::Counter& pruned_;
  prometheus::Histogram& commit_seconds_;
};

}  // namespace portwatch::collector
