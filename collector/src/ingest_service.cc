#include "src/ingest_service.h"

#include <deque>
#include <mutex>

#include "portwatch/files.h"
#include "portwatch/tls.h"
#include "portwatch/wire.h"

namespace portwatch::collector {

class IngestReactor final
    : public grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage> {
 public:
  IngestReactor(IngestService& svc, grpc::CallbackServerContext* ctx) : svc_(svc) {
    svc_.streams_gauge_.Increment();
    host_ = PeerHostName(*ctx->auth_context());
    if (host_.empty()) {
      // Unreachable with REQUIRE_AND_VERIFY credentials, kept as a guard for insecure setups.
      Refuse("no_client_certificate", grpc::StatusCode::UNAUTHENTICATED,
             "the collector requires a client certificate signed by the fleet CA; configure "
             "the agent with --cert and --key");
      return;
    }
    if (svc_.active_.fetch_add(1) >= svc_.limits_.max_streams) {
      counted_ = true;
      Refuse("too_many_streams", grpc::StatusCode::RESOURCE_EXHAUSTED,
             "collector is at its limit of " + std::to_string(svc_.limits_.max_streams) +
                 " agent streams; the agent will retry with backoff (raise --max-streams or add "
                 "a collector shard)");
      return;
    }
    counted_ = true;
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The agent closed its side (or the stream broke): finish once the acks are out.
      std::lock_guard<std::mutex> lk(mu_);
      read_closed_ = true;
      MaybeFinishLocked();
      return;
    }
    if (in_.has_hello()) {
      HandleHello();
    } else if (in_.has_report()) {
      HandleReport();
    } else {
      RefuseStream("empty_message", grpc::StatusCode::INVALID_ARGUMENT,
                   "message has neither hello nor report; is the agent the same protocol "
                   "version as the collector?");
    }
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lk(mu_);
    writing_ = false;
    if (!ok) {
      // The agent is gone; reads will fail too.
      acks_.clear();
      read_closed_ = true;
      MaybeFinishLocked();
      return;
    }
    acks_.pop_front();
    bool resume_read = read_paused_ && acks_.size() < svc_.limits_.max_unsent_acks;
    if (resume_read) read_paused_ = false;
    WriteNextLocked();
    MaybeFinishLocked();
    lk.unlock();
    if (resume_read) StartRead(&in_);
  }

  void OnDone() override {
    svc_.streams_gauge_.Decrement();
    if (counted_) svc_.active_.fetch_sub(1);
    delete this;
  }

 private:
  void HandleHello() {
    if (hello_done_) {
      RefuseStream("duplicate_hello", grpc::StatusCode::INVALID_ARGUMENT,
                   "a second hello on the same stream; open a new stream instead");
      return;
    }
    auto hello = FromProto(in_.hello());
    if (!hello.ok()) {
      RefuseStream("invalid_hello", grpc::StatusCode::INVALID_ARGUMENT, hello.error());
      return;
    }
    if (hello->hostname != host_) {
      RefuseStream("host_mismatch", grpc::StatusCode::PERMISSION_DENIED,
                   "certificate is for host '" + host_ + "' but the agent reports as '" +
                       hello->hostname + "'; run the agent with --host-name " + host_ +
                       " or give it a certificate for " + hello->hostname);
      return;
    }
    hello_done_ = true;
    svc_.fleet_.OnHello(host_, *hello);
    StartRead(&in_);
  }

  void HandleReport() {
    if (!hello_done_) {
      RefuseStream("no_hello", grpc::StatusCode::FAILED_PRECONDITION,
                   "a report arrived before the hello; the agent must send hello first");
      return;
    }
    const uint64_t seq = in_.report().sequence();
    auto report = FromProto(in_.report());
    v1::CollectorMessage ack;
    ack.mutable_ack()->set_sequence(seq);
    if (!report.ok()) {
      svc_.rejections_.Reject("invalid_report", host_ + " report " + std::to_string(seq) + ": " +
                                                    report.error());
      ack.mutable_ack()->set_rejected_reason(report.error());
    } else {
      svc_.fleet_.OnReport(host_, *report, NowUnixMs());
      svc_.reports_counter_.Increment();
    }
    std::unique_lock<std::mutex> lk(mu_);
    acks_.push_back(std::move(ack));
    WriteNextLocked();
    // Backpressure: an agent that sends faster than it reads its acks waits for them.
    if (acks_.size() >= svc_.limits_.max_unsent_acks) {
      read_paused_ = true;
      return;
    }
    lk.unlock();
    StartRead(&in_);
  }

  void WriteNextLocked() {
    if (writing_ || acks_.empty() || finished_) return;
    writing_ = true;
    StartWrite(&acks_.front());
  }

  void MaybeFinishLocked() {
    if (finished_ || writing_ || !acks_.empty() || !read_closed_) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  // Refuses in the constructor, before any read.
  void Refuse(const std::string& reason, grpc::StatusCode code, const std::string& message) {
    svc_.rejections_.Reject(reason, (host_.empty() ? std::string("unknown peer") : host_) + ": " +
                                        message);
    std::lock_guard<std::mutex> lk(mu_);
    finished_ = true;
    Finish(grpc::Status(code, message));
  }

  // Refuses an open stream: no further reads; pending acks are dropped (the agent resends).
  void RefuseStream(const std::string& reason, grpc::StatusCode code, const std::string& message) {
    svc_.rejections_.Reject(reason, host_ + ": " + message);
    std::lock_guard<std::mutex> lk(mu_);
    if (finished_) return;
    finished_ = true;
    Finish(grpc::Status(code, message));
  }

  IngestService& svc_;
  std::string host_;
  bool counted_ = false;
  bool hello_done_ = false;  // touched only by read reactions, which never overlap
  v1::AgentMessage in_;

  std::mutex mu_;  // guards everything below: reads and writes complete on different threads
  std::deque<v1::CollectorMessage> acks_;
  bool writing_ = false;
  bool read_paused_ = false;
  bool read_closed_ = false;
  bool finished_ = false;
};

IngestService::IngestService(FleetState& fleet, prometheus::Registry& registry,
                             Rejections& rejections, IngestLimits limits)
    : fleet_(fleet),
      rejections_(rejections),
      limits_(limits),
      streams_gauge_(prometheus::BuildGauge()
                         .Name("portwatch_ingest_streams")
                         .Help("Agent streams open now")
                         .Register(registry)
                         .Add({})),
      reports_counter_(prometheus::BuildCounter()
                           .Name("portwatch_ingest_reports_total")
                           .Help("Reports stored from all agents")
                           .Register(registry)
                           .Add({})) {}

grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>* IngestService::Stream(
    grpc::CallbackServerContext* context) {
  return new IngestReactor(*this, context);
}

}  // namespace portwatch::collector
