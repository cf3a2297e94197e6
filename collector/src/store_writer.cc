#include "src/store_writer.h"

#include <chrono>
#include <cstdio>

#include "portwatch/files.h"

namespace portwatch::collector {
namespace {

constexpr int64_t kErrorLogEveryMs = 10000;

}  // namespace

StoreWriter::StoreWriter(Store& store, prometheus::Registry& registry, CommittedSink sink,
                         StoreWriterOptions options)
    : store_(store),
      sink_(std::move(sink)),
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
  // Acknowledge first: nothing after the commit may delay an agent.
  for (size_t i = 0; i < batch.size(); ++i) {
    WriteRequest& r = batch[i];
    if (ops[i].kind != StoreOp::Kind::kReport) continue;
    if (results.ok()) {
      outcome.ok = true;
      outcome.duplicate = (*results)[i].duplicate;
    }
    if (r.done) r.done(outcome);
  }
  if (!sink_) {
    batch.clear();
    return;
  }
  // Then hand over what was committed, in commit order. A hello reaches fleet state even when
  // its write failed: the stream is open, and every stream sends one.
  std::vector<StateEvent> events;
  events.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    StoreOp& op = ops[i];
    StateEvent ev;
    ev.host = std::move(op.host);
    if (op.kind == StoreOp::Kind::kHello) {
      ev.kind = StateEvent::Kind::kHello;
      ev.received_unix_ms = op.now_unix_ms;
      ev.hello = std::move(op.hello);
      ev.certificate_not_after_unix = op.certificate_not_after_unix;
    } else {
      if (!results.ok()) continue;
      const StoreOpResult& res = (*results)[i];
      ev.kind = res.duplicate ? StateEvent::Kind::kDuplicate : StateEvent::Kind::kReport;
      ev.received_unix_ms = op.report.received_unix_ms;
      ev.agent_dropped_total = res.host_agent_dropped_total;
      if (!res.duplicate) ev.report = std::move(batch[i].report);
    }
    events.push_back(std::move(ev));
  }
  sink_(std::move(events));
  batch.clear();
}

}  // namespace portwatch::collector
