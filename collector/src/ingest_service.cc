#include "src/ingest_service.h"

#include <grpcpp/alarm.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "portwatch/files.h"
#include "portwatch/tls.h"
#include "portwatch/wire.h"

namespace portwatch::collector {

class IngestReactor final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage> {
 public:
  IngestReactor(IngestService& svc, grpc::CallbackServerContext* ctx) : svc_(svc) {
    svc_.streams_gauge_.Increment();
    // The role comes from the certificate, never from a name: an operator certificate cannot
    // report as a host, and only a DNS SAN names one.
    const PeerIdentity peer = IdentifyPeer(*ctx->auth_context());
    if (peer.role == PeerRole::kOperator) {
      Refuse("operator_certificate", grpc::StatusCode::PERMISSION_DENIED,
             "operator certificate '" + peer.name +
                 "' cannot send reports; an agent needs a certificate whose DNS subject "
                 "alternative name is its host name (deploy/pki/make-dev-pki.sh HOST)");
      return;
    }
    if (!ctx->auth_context()->IsPeerAuthenticated()) {
      // Unreachable with REQUIRE_AND_VERIFY credentials, kept as a guard for insecure setups.
      Refuse("no_client_certificate", grpc::StatusCode::UNAUTHENTICATED,
             "the collector requires a client certificate signed by the fleet CA; configure "
             "the agent with --cert and --key");
      return;
    }
    host_ = peer.name;
    cert_not_after_unix_ = PeerCertificateNotAfterUnix(*ctx->auth_context());
    if (peer.role != PeerRole::kAgent) {
      Refuse("no_host_name", grpc::StatusCode::PERMISSION_DENIED,
             "the client certificate names no host: agents need a DNS subject alternative name "
             "with their host name (URI, e-mail and IP names and the common name do not count)");
      return;
    }
    // Before any slot is taken: a certificate for a name outside the fleet's never holds one.
    if (!svc_.limits_.allow_hosts.Allows(host_)) {
      const std::string patterns = svc_.limits_.allow_hosts.ToString();
      Refuse("host_not_allowed", grpc::StatusCode::PERMISSION_DENIED,
             "host '" + host_ + "' (the certificate's DNS name) is not allowed by --allow-hosts " +
                 patterns + "; issue the agent a certificate for an allowed name or extend it");
      return;
    }
    // Per identity first: one certificate's flood is refused before it touches the global count.
    if (!svc_.AcquireHostStream(host_)) {
      Refuse("too_many_streams_for_host", grpc::StatusCode::RESOURCE_EXHAUSTED,
             "this certificate already has " + std::to_string(svc_.limits_.max_streams_per_host) +
                 " streams open; an agent needs one (is the same certificate used by several "
                 "agents, or are old streams stuck?)");
      return;
    }
    host_counted_ = true;
    if (svc_.active_.fetch_add(1) >= svc_.limits_.max_streams) {
      counted_ = true;
      Refuse("too_many_streams", grpc::StatusCode::RESOURCE_EXHAUSTED,
             "collector is at its limit of " + std::to_string(svc_.limits_.max_streams) +
                 " agent streams; the agent will retry with backoff (raise --max-streams or add "
                 "a collector shard)");
      return;
    }
    counted_ = true;
    // Streams count against a small budget of their own until their hello arrives, and must
    // send it soon: a client that opens streams and says nothing cannot hold slots.
    prehello_held_ = true;
    if (svc_.without_hello_.fetch_add(1) >= svc_.limits_.max_streams_without_hello) {
      Refuse("too_many_streams_without_hello", grpc::StatusCode::RESOURCE_EXHAUSTED,
             "the collector has " + std::to_string(svc_.limits_.max_streams_without_hello) +
                 " streams waiting for their hello; the agent will retry with backoff");
      return;
    }
    in_store_ = 1;  // the deadline's callback is one more to come before the reactor may go
    hello_alarm_.Set(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(svc_.limits_.hello_timeout_ms),
                     [this](bool fired) { OnHelloDeadline(fired); });
    // Last, once no refusal above can finish the stream: the certificate this stream
    // authenticated with is checked again against every CRL reload while the stream lives.
    auth_ = ctx->auth_context();
    tracked_ = true;
    svc_.TrackOpen(this);
    ReadNext();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // A read also fails when a message arrived but did not parse (bad wire bytes, or a string
      // field that is not UTF-8). gRPC reports that exactly like the agent closing its side; the
      // message was cleared before the read, so fields parsed before the failure tell them apart.
      // (A message broken before its first field still looks like a close.)
      if (in_.ByteSizeLong() > 0) {
        RefuseStream("unparsable_message", grpc::StatusCode::INVALID_ARGUMENT,
                     "a message could not be parsed as portwatch.v1.AgentMessage (malformed "
                     "protobuf or a string that is not UTF-8); upgrade the agent or report a bug");
        return;
      }
      // The agent closed its side (or the stream broke): finish once the acks are out.
      std::lock_guard<std::mutex> lk(mu_);
      read_closed_ = true;
      MaybeFinishLocked();
      return;
    }
    if (in_.has_hello()) {
      HandleHello();
      if (hello_done_) ReleasePreHello();
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
      // The agent is gone; reads will fail too. Unsent acks are lost: the agent resends.
      read_closed_ = true;
      broken_ = true;
      MaybeFinishLocked();
      return;
    }
    slots_.pop_front();
    ++first_slot_;
    bool resume_read = read_paused_ && slots_.size() < svc_.limits_.max_unsent_acks;
    if (resume_read) read_paused_ = false;
    WriteNextLocked();
    MaybeFinishLocked();
    if (resume_read) ReadNextPacedLocked(lk);
  }

  void OnDone() override {
    // First, before done_: once untracked, CutRevoked can no longer pin this reactor.
    if (tracked_) svc_.UntrackOpen(this);
    svc_.streams_gauge_.Decrement();
    if (counted_) svc_.active_.fetch_sub(1);
    if (host_counted_) svc_.ReleaseHostStream(host_);
    ReleasePreHello();
    hello_alarm_.Cancel();  // its callback still runs (not fired) and may be the one to delete
    std::unique_lock<std::mutex> lk(mu_);
    if (pace_set_) pace_alarm_.Cancel();  // likewise
    done_ = true;
    // Reports still with the store writer will call back; the last of them deletes.
    if (in_store_ > 0) return;
    lk.unlock();
    delete this;
  }

  // Under the service's open_mu_: true, and the reactor stays alive until Revoke() runs, when its
  // peer certificate is one `revocations` lists; `why` says which serial.
  bool PinIfRevokedLocked(const RevocationList& revocations, std::string* why) {
    std::lock_guard<std::mutex> lk(mu_);
    if (finished_ || done_) return false;
    if (!PeerCertificateRevoked(*auth_, revocations, why)) return false;
    ++in_store_;  // Revoke() is one more callback to come before the reactor may go
    return true;
  }

  // Ends a stream pinned by PinIfRevokedLocked. Unsent acks are dropped: their reports were
  // sent before the revocation reached the collector, and the agent resends them under a new
  // certificate.
  void Revoke(const std::string& why) {
    RefuseStream("certificate_revoked", grpc::StatusCode::PERMISSION_DENIED,
                 "certificate revoked: " + why +
                     " (the collector reloaded its CRL); issue the agent a new certificate: "
                     "deploy/pki/pki.sh host " +
                     host_);
    std::unique_lock<std::mutex> lk(mu_);
    EndCallbackLocked(lk);
  }

 private:
  // One report of this stream on its way to an ack.
  struct Slot {
    v1::CollectorMessage ack;
    bool ready = false;
  };

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
    instance_ = hello->instance_id;
    // The hello reaches fleet state through the store writer, in order with the stream's reports.
    WriteRequest req;
    req.op.kind = StoreOp::Kind::kHello;
    req.op.host = host_;
    req.op.now_unix_ms = NowUnixMs();
    req.op.hello = std::move(*hello);
    req.op.certificate_not_after_unix = cert_not_after_unix_;
    if (!svc_.writer_.Submit(std::move(req))) {
      RefuseStream("store_overloaded", grpc::StatusCode::UNAVAILABLE,
                   "the collector's database queue is full; the agent retries with backoff (if "
                   "this persists, the database disk is too slow for the fleet)");
      return;
    }
    ReadNext();
  }

  void HandleReport() {
    if (!hello_done_) {
      RefuseStream("no_hello", grpc::StatusCode::FAILED_PRECONDITION,
                   "a report arrived before the hello; the agent must send hello first");
      return;
    }
    // Each report read costs its host a token; without one, the next read of this stream waits.
    const int64_t delay_ms = svc_.PaceReport(host_, SteadyMs());
    if (delay_ms > 0) {
      next_read_ms_ = SteadyMs() + delay_ms;
      svc_.rejections_.Adjust("rate_paced",
                              host_ + ": over --max-reports-per-second-per-host " +
                                  std::to_string(svc_.limits_.max_reports_per_second_per_host) +
                                  "; its next report is read in " + std::to_string(delay_ms) +
                                  " ms (the agent keeps it spooled meanwhile)");
    }
    const v1::Report& wire = in_.report();
    WireNotes notes;
    auto report = FromProto(wire, &notes);
    const int64_t received = NowUnixMs();
    if (report.ok()) AdjustReport(wire.sequence(), notes, received, &*report);
    uint64_t id;
    {
      std::lock_guard<std::mutex> lk(mu_);
      id = first_slot_ + slots_.size();
      Slot& slot = slots_.emplace_back();
      slot.ack.mutable_ack()->set_sequence(wire.sequence());
      slot.ack.mutable_ack()->set_instance_id(wire.instance_id());
      if (!report.ok()) {
        // Refused reports are acknowledged with the reason, in order, so the agent moves on.
        slot.ack.mutable_ack()->set_rejected_reason(report.error());
        slot.ready = true;
      } else {
        ++in_store_;
      }
    }
    if (!report.ok()) {
      svc_.rejections_.Reject(
          "invalid_report",
          host_ + " report " + std::to_string(wire.sequence()) + ": " + report.error());
    } else {
      WriteRequest req;
      req.op.kind = StoreOp::Kind::kReport;
      req.op.host = host_;
      StoredReport& r = req.op.report;
      r.host = host_;
      r.instance_id = wire.instance_id().empty() ? instance_ : wire.instance_id();
      r.sequence = wire.sequence();
      r.collected_unix_ms = report->collected_unix_ms;
      r.received_unix_ms = received;
      r.ports_in_use = report->sockets.ephemeral_ports_in_use;
      r.ports_usable = report->sockets.ephemeral_ports_usable;
      r.time_wait = report->sockets.count(Family::kIpv4, TcpState::kTimeWait) +
                    report->sockets.count(Family::kIpv6, TcpState::kTimeWait);
      r.agent_dropped_total = report->health.reports_dropped_total;
      r.has_config = report->has_config;
      // Only what validation understood is stored, re-serialized: unknown fields and the text as
      // it arrived never reach the disk.
      v1::Report clean;
      ToProto(*report, &clean);
      clean.SerializeToString(&r.payload);
      req.report = std::move(*report);
      req.done = [this, id](const WriteOutcome& o) { OnStored(id, o); };
      if (!svc_.writer_.Submit(std::move(req))) {
        {
          std::lock_guard<std::mutex> lk(mu_);
          --in_store_;
        }
        RefuseStream("store_overloaded", grpc::StatusCode::UNAVAILABLE,
                     "the collector's database queue is full; the agent keeps its reports and "
                     "retries (if this persists, the database disk is too slow for the fleet)");
        return;
      }
    }
    std::unique_lock<std::mutex> lk(mu_);
    WriteNextLocked();
    // Backpressure: an agent that sends faster than its reports are stored and acked waits.
    if (slots_.size() >= svc_.limits_.max_unsent_acks) {
      read_paused_ = true;
      return;
    }
    ReadNextPacedLocked(lk);
  }

  static int64_t SteadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // Reads the next message now, or once the host's report rate allows (an alarm): pacing holds
  // the agent's reports in its spool instead of refusing them. Unlocks `lk`.
  void ReadNextPacedLocked(std::unique_lock<std::mutex>& lk) {
    const int64_t wait_ms = next_read_ms_ - SteadyMs();
    if (wait_ms <= 0) {
      lk.unlock();
      ReadNext();
      return;
    }
    if (finished_ || done_) return;
    ++in_store_;  // the alarm's callback is one more to come before the reactor may go
    pace_set_ = true;
    pace_alarm_.Set(std::chrono::system_clock::now() + std::chrono::milliseconds(wait_ms),
                    [this](bool fired) { OnPaceDone(fired); });
  }

  // One of the callbacks counted in in_store_ ran. True when the stream is done already: the
  // caller returns at once (the last such callback has deleted the reactor).
  bool EndCallbackLocked(std::unique_lock<std::mutex>& lk) {
    --in_store_;
    if (!done_) return false;
    if (in_store_ == 0) {
      lk.unlock();
      delete this;
    }
    return true;
  }

  // On a gRPC thread when the pacing delay passed, or (not fired) once it was cancelled.
  void OnPaceDone(bool fired) {
    std::unique_lock<std::mutex> lk(mu_);
    if (EndCallbackLocked(lk)) return;
    if (!fired || finished_) return;
    lk.unlock();
    ReadNext();
  }

  void ReleasePreHello() {
    if (prehello_held_.exchange(false)) svc_.without_hello_.fetch_sub(1);
  }

  // On a gRPC thread when the hello deadline passes, or (not fired) once it was cancelled.
  void OnHelloDeadline(bool fired) {
    std::unique_lock<std::mutex> lk(mu_);
    if (EndCallbackLocked(lk)) return;
    if (fired && !hello_done_ && !finished_) {
      const std::string message =
          "no hello within " + std::to_string(svc_.limits_.hello_timeout_ms / 1000) +
          " s of opening the stream; an agent sends it first";
      svc_.rejections_.Reject("hello_timeout", host_ + ": " + message);
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, message));
    }
  }

  // Every read starts from an empty message, so that a failed read can be told from a close.
  void ReadNext() {
    in_.Clear();
    StartRead(&in_);
  }

  // Counts what FromProto had to cut or repair, and clamps the agent's clock against receipt
  // time: fleet state keeps the newest report by agent time, so one report dated in the future
  // would otherwise hide every later one. A skewed agent is counted and logged, never frozen.
  void AdjustReport(uint64_t sequence, const WireNotes& notes, int64_t received, Report* report) {
    const std::string which = host_ + " report " + std::to_string(sequence);
    if (notes.strings_truncated > 0) {
      svc_.rejections_.Adjust("text_truncated", which + ": " +
                                                    std::to_string(notes.strings_truncated) +
                                                    " over-long text fields were cut");
    }
    if (notes.strings_repaired > 0) {
      svc_.rejections_.Adjust("text_escaped", which + ": " +
                                                  std::to_string(notes.strings_repaired) +
                                                  " text fields had control characters escaped");
    }
    const int64_t ahead = report->collected_unix_ms - received;
    if (ahead > svc_.limits_.max_clock_ahead_ms) {
      svc_.rejections_.Adjust("clock_ahead",
                              which + ": agent clock is " + std::to_string(ahead / 1000) +
                                  " s ahead of the collector's; the report is dated on receipt "
                                  "(fix the host's time sync)");
      report->collected_unix_ms = received;
    } else if (report->collected_unix_ms <= 0) {
      svc_.rejections_.Adjust("clock_invalid",
                              which + ": report has no valid time; dated on receipt");
      report->collected_unix_ms = received;
    }
  }

  // On the store writer's thread, once the report's batch committed (or failed).
  void OnStored(uint64_t id, const WriteOutcome& outcome) {
    std::unique_lock<std::mutex> lk(mu_);
    if (EndCallbackLocked(lk)) return;
    if (!outcome.ok) {
      lk.unlock();
      RefuseStream("store_failed", grpc::StatusCode::UNAVAILABLE,
                   "the collector could not store reports (" + outcome.error +
                       "); the agent keeps them and retries");
      return;
    }
    if (outcome.duplicate) {
      svc_.duplicates_counter_.Increment();
    } else {
      svc_.reports_counter_.Increment();
    }
    if (id >= first_slot_ && id - first_slot_ < slots_.size()) {
      slots_[id - first_slot_].ready = true;
    }
    WriteNextLocked();
    MaybeFinishLocked();
  }

  void WriteNextLocked() {
    if (writing_ || slots_.empty() || !slots_.front().ready || finished_ || broken_) return;
    writing_ = true;
    StartWrite(&slots_.front().ack);
  }

  void MaybeFinishLocked() {
    if (finished_ || writing_ || !read_closed_) return;
    if (!broken_ && !slots_.empty()) return;  // acks still to send
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  // Refuses in the constructor, before any read.
  void Refuse(const std::string& reason, grpc::StatusCode code, const std::string& message) {
    svc_.rejections_.Reject(reason,
                            (host_.empty() ? std::string("unknown peer") : host_) + ": " + message);
    std::lock_guard<std::mutex> lk(mu_);
    finished_ = true;
    Finish(grpc::Status(code, message));
  }

  // Refuses an open stream: no further reads; unsent acks are dropped (the agent resends).
  void RefuseStream(const std::string& reason, grpc::StatusCode code, const std::string& message) {
    std::lock_guard<std::mutex> lk(mu_);
    if (finished_) return;
    svc_.rejections_.Reject(reason, host_ + ": " + message);
    finished_ = true;
    Finish(grpc::Status(code, message));
  }

  IngestService& svc_;
  std::string host_;
  std::shared_ptr<const grpc::AuthContext> auth_;  // the peer's certificate, for CutRevoked
  bool tracked_ = false;                           // in the service's open_
  int64_t cert_not_after_unix_ = 0;  // the peer certificate's notAfter, for the expiry metric
  bool counted_ = false;
  bool host_counted_ = false;
  std::atomic<bool> prehello_held_{false};  // counted in without_hello_
  // Set by read reactions (which never overlap), read by the hello deadline's callback too.
  std::atomic<bool> hello_done_{false};
  grpc::Alarm hello_alarm_;
  grpc::Alarm pace_alarm_;  // guarded by mu_: set (again) only while no read is pending
  bool pace_set_ = false;   // guarded by mu_
  int64_t next_read_ms_ = 0;  // steady ms before which the next read waits; read reactions only
  std::string instance_;     // the hello's instance: reports without their own belong to it
  v1::AgentMessage in_;

  std::mutex mu_;  // guards everything below: reactions and store callbacks run on many threads
  std::deque<Slot> slots_;   // reports of this stream not yet acked, in stream order
  uint64_t first_slot_ = 0;  // id of slots_.front()
  int in_store_ = 0;  // callbacks still to come: store writer requests, the hello deadline
  bool writing_ = false;
  bool read_paused_ = false;
  bool read_closed_ = false;
  bool broken_ = false;  // a write failed: the peer is gone
  bool finished_ = false;
  bool done_ = false;  // OnDone ran; the last store callback deletes
};

IngestService::IngestService(StoreWriter& writer, prometheus::Registry& registry,
                             Rejections& rejections, IngestLimits limits)
    : writer_(writer),
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
                           .Add({})),
      duplicates_counter_(prometheus::BuildCounter()
                              .Name("portwatch_ingest_duplicates_total")
                              .Help("Reports received again after they were stored (acknowledged, "
                                    "not stored twice)")
                              .Register(registry)
                              .Add({})) {}

bool IngestService::AcquireHostStream(const std::string& host) {
  std::lock_guard<std::mutex> lk(hosts_mu_);
  int& n = host_streams_[host];
  if (n >= limits_.max_streams_per_host) {
    if (n == 0) host_streams_.erase(host);
    return false;
  }
  ++n;
  return true;
}

void IngestService::ReleaseHostStream(const std::string& host) {
  std::lock_guard<std::mutex> lk(hosts_mu_);
  auto it = host_streams_.find(host);
  if (it != host_streams_.end() && --it->second <= 0) host_streams_.erase(it);
}

void IngestService::TrackOpen(IngestReactor* r) {
  std::lock_guard<std::mutex> lk(open_mu_);
  open_.insert(r);
}

void IngestService::UntrackOpen(IngestReactor* r) {
  std::lock_guard<std::mutex> lk(open_mu_);
  open_.erase(r);
}

int IngestService::CutRevoked(const RevocationList& revocations) {
  if (revocations.revoked_count() == 0) return 0;
  // Pinned under open_mu_ so that none is deleted in between; ended after it is released, since
  // Finish must not run under a lock the reactor's OnDone takes.
  std::vector<std::pair<IngestReactor*, std::string>> cut;
  {
    std::lock_guard<std::mutex> lk(open_mu_);
    for (IngestReactor* r : open_) {
      std::string why;
      if (r->PinIfRevokedLocked(revocations, &why)) cut.emplace_back(r, std::move(why));
    }
  }
  for (auto& [r, why] : cut) r->Revoke(why);
  return static_cast<int>(cut.size());
}

int64_t IngestService::PaceReport(const std::string& host, int64_t now_ms) {
  const double rate = limits_.max_reports_per_second_per_host;
  const double burst = std::max(1.0, limits_.report_burst_per_host);
  if (rate <= 0) return 0;  // no limit
  std::lock_guard<std::mutex> lk(hosts_mu_);
  auto refill = [&](Bucket& b) {
    b.tokens = std::min(burst, b.tokens + static_cast<double>(now_ms - b.last_ms) * rate / 1000.0);
    b.last_ms = now_ms;
  };
  // Buckets that refilled completely and whose host has no stream carry no state: drop them now
  // and then, so hosts that came and went do not accumulate.
  if (++paces_ % 4096 == 0) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second);
      if (it->second.tokens >= burst && !host_streams_.count(it->first)) {
        it = buckets_.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto [it, fresh] = buckets_.try_emplace(host);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = burst;
    b.last_ms = now_ms;
  }
  refill(b);
  b.tokens -= 1;
  // In debt, the next read waits until the debt is paid; several streams of one host each add
  // their report, so together they read at the rate.
  return b.tokens >= 0 ? 0 : static_cast<int64_t>(-b.tokens * 1000.0 / rate) + 1;
}

grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>* IngestService::Stream(
    grpc::CallbackServerContext* context) {
  return new IngestReactor(*this, context);
}

}  // namespace portwatch::collector
