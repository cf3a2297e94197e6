#include "src/store_writer.h"

#include <chrono>
#include <cstdio>

#include "portwatch/files.h"
#include "src/policy_monitor.h"

namespace portwatch::collector {
namespace {

constexpr int64_t kErrorLogEveryMs = 10000;

}  // namespace

StoreWriter::StoreWriter(Store& store, FleetState& fleet, prometheus::Registry& registry,
                         StoreWriterOptions options)
    : store_(store),
      fleet_(fleet),
      opts_(options),
      queue_gauge_(prometheus::BuildGauge()
                       .Name("portwatch_store_queue_length")
                       .Help("Reports and hellos waiting to be written to the database")
                       .Register(registry)
                       .Add({})),
      queue_full_(prometheus::BuildCounter()
                      .Name("portwatch_store_queue_full_total")
                      .Help("Writes refused because the database queue was full (the agent "
                            "keeps the report and resends it)")
                      .Register(registry)
                      .Add({})),
      write_errors_(prometheus::BuildCounter()
                        .Name("portwatch_store_write_errors_total")
                        .Help("Database transactions that failed (their reports were not "
                              "acknowledged)")
                        .Register(registry)
                        .Add({})),
      pruned_(prometheus::BuildCounter()
                  .Name("portwatch_store_reports_pruned_total")
                  .Help("Reports deleted from history by retention")
                  .Register(registry)
                  .Add({})),
      commit_seconds_(prometheus::BuildHistogram()
                          .Name("portwatch_store_commit_duration_seconds")
                          .Help("Time to write and commit one batch")
                          .Register(registry)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5, 1, 2.5})) {}

StoreWriter::~StoreWriter() { Stop(); }

void StoreWriter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StoreWriter::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool StoreWriter::Submit(WriteRequest request) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (queue_.size() >= opts_.max_queue || stopping_) {
      queue_full_.Increment();
      return false;
    }
    queue_.push_back(std::move(request));
    queue_gauge_.Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
  return true;
}

void StoreWriter::Run() {
  auto next_prune = std::chrono::steady_clock::now();
  std::deque<WriteRequest> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait_until(lk, next_prune, [this] { return stopping_ || !queue_.empty(); });
      const size_t n = std::min(queue_.size(), opts_.max_batch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queue_gauge_.Set(static_cast<double>(queue_.size()));
      if (batch.empty() && stopping_) return;
    }
    if (!batch.empty()) Commit(batch);
    if (std::chrono::steady_clock::now() >= next_prune) {
      auto pruned = store_.Prune(NowUnixMs());
      if (pruned.ok()) {
        pruned_.Increment(static_cast<double>(*pruned));
      } else {
        write_errors_.Increment();
        std::fprintf(stderr, "portwatch-collector: %s\n", pruned.error().c_str());
      }
      next_prune =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.prune_every_ms);
    }
  }
}

void StoreWriter::Commit(std::deque<WriteRequest>& batch) {
  std::vector<StoreOp> ops;
  ops.reserve(batch.size());
  for (WriteRequest& r : batch) ops.push_back(std::move(r.op));
  const auto t0 = std::chrono::steady_clock::now();
  auto results = store_.Write(ops);
  commit_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  WriteOutcome outcome;
  if (!results.ok()) {
    write_errors_.Increment();
    outcome.error = results.error();
    const int64_t now = NowUnixMs();
    if (now - last_error_log_ms_ >= kErrorLogEveryMs) {
      last_error_log_ms_ = now;
      std::fprintf(stderr,
                   "portwatch-collector: %s; %zu reports were not acknowledged, their agents "
                   "keep and resend them\n",
                   outcome.error.c_str(), batch.size());
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    WriteRequest& r = batch[i];
    const StoreOp& op = ops[i];
    if (op.kind != StoreOp::Kind::kReport) continue;
    if (results.ok()) {
      const StoreOpResult& res = (*results)[i];
      outcome.ok = true;
      outcome.duplicate = res.duplicate;
      // Fleet state follows the store: what the metrics show has been committed.
      if (res.duplicate) {
        fleet_.OnDuplicate(op.host, op.report.received_unix_ms);
      } else {
        fleet_.OnReport(op.host, r.report, op.report.received_unix_ms);
        if (drift_ != nullptr) drift_->OnReport(op.host, r.report, op.report.received_unix_ms);
        if (policy_ != nullptr) policy_->OnReport(op.host, r.report);
      }
      fleet_.SetAgentReportsDropped(op.host, res.host_agent_dropped_total);
    }
    if (r.done) r.done(outcome);
  }
  batch.clear();
}

}  // namespace portwatch::collector
