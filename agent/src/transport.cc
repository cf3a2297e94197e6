#include "src/transport.h"
#include "src/log.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>

#include "portwatch/files.h"
#include "portwatch/v1/portwatch.grpc.pb.h"
#include "portwatch/wire.h"

namespace portwatch::agent {

Transport::Transport(TransportOptions options, std::unique_ptr<Spool> spool)
    : opts_(std::move(options)), spool_(std::move(spool)) {}

Transport::~Transport() { Stop(); }

void Transport::Start() {
  worker_ = std::thread([this] { Run(); });
}

void Transport::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
    if (current_ctx_) static_cast<grpc::ClientContext*>(current_ctx_.get())->TryCancel();
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Transport::Enqueue(Report report) {
  const int64_t now = NowUnixMs();
  {
    std::lock_guard<std::mutex> lk(mu_);
    spool_->DropExpired(now);
    const SpoolStats s = spool_->stats();
    report.health.reports_dropped_total = s.dropped_total;
    report.health.reports_pending = static_cast<uint32_t>(s.records);
    report.health.spool_bytes = s.bytes;
    report.health.spool_write_failures_total = s.write_failures_total;
    report.health.spool_corrupt_records_total = s.corrupt_records_total;
    v1::Report wire;
    ToProto(report, &wire);
    std::string payload;
    wire.SerializeToString(&payload);
    spool_->Append(opts_.hello.instance_id, report.sequence, report.collected_unix_ms,
                   std::move(payload), now);
  }
  cv_.notify_all();
}

TransportStats Transport::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  TransportStats s = stats_;
  s.spool = spool_->stats();
  return s;
}

void Transport::Run() {
  std::mt19937_64 rng(std::random_device{}());
  int backoff = opts_.backoff_initial_ms;
  for (;;) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) return;
    }
    const bool progressed = RunStream();
    if (progressed) backoff = opts_.backoff_initial_ms;
    // Full jitter: a fleet that lost its collector must not reconnect in lockstep.
    const int wait_ms = std::uniform_int_distribution<int>(backoff / 2, backoff)(rng);
    backoff = std::min(backoff * 2, opts_.backoff_max_ms);
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [this] { return stopping_; });
  }
}

// Certificates are renewed on disk while the agent runs (deploy/pki/pki.sh renew writes the key,
// then the certificate, each by rename): a stream that starts after that presents the new pair.
void Transport::ReloadTls() {
  if (opts_.tls_files.ca_cert.empty()) return;
  auto fresh = LoadTlsMaterial(opts_.tls_files);
  if (!fresh.ok()) {
    if (fresh.error() != tls_reload_error_) {
      LogWarning("cannot reload the TLS files, still using the ones loaded before: " +
                 fresh.error());
    }
    tls_reload_error_ = fresh.error();
    return;
  }
  tls_reload_error_.clear();
  if (fresh->cert_pem == opts_.tls.cert_pem && fresh->key_pem == opts_.tls.key_pem &&
      fresh->ca_pem == opts_.tls.ca_pem) {
    return;
  }
  if (fresh->subject_name != opts_.tls.subject_name) {
    LogWarning("the certificate on disk now names '" + fresh->subject_name + "', not '" +
               opts_.tls.subject_name + "'; keeping the one loaded before");
    return;
  }
  opts_.tls = std::move(*fresh);
  LogInfo("reloaded the TLS certificate, key and CA from disk");
}

bool Transport::RunStream() {
  ReloadTls();
  grpc::ChannelArguments args;
  if (!opts_.server_name_override.empty()) {
    args.SetSslTargetNameOverride(opts_.server_name_override);
  }
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  if (opts_.prepare_channel) opts_.prepare_channel(&args);
  auto channel = grpc::CreateCustomChannel(opts_.target, MakeChannelCredentials(opts_.tls), args);
  auto stub = v1::Ingest::NewStub(channel);
  auto ctx = std::make_shared<grpc::ClientContext>();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return false;
    current_ctx_ = ctx;
  }
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CollectorMessage>> stream =
      stub->Stream(ctx.get());
  const std::string& instance = opts_.hello.instance_id;

  v1::AgentMessage hello;
  ToProto(opts_.hello, hello.mutable_hello());
  bool ok = stream->Write(hello);
  bool progressed = false;
  bool reader_done = false;  // guarded by mu_

  // Acknowledgements arrive on their own thread; the writer below only sends.
  std::thread reader([&] {
    v1::CollectorMessage msg;
    while (stream->Read(&msg)) {
      if (!msg.has_ack()) continue;
      const v1::Ack& ack = msg.ack();
      std::lock_guard<std::mutex> lk(mu_);
      if (!stats_.connected) {
        stats_.connected = true;
        ++stats_.connects;
        const std::string local = opts_.describe_connection ? opts_.describe_connection() : "";
        LogInfo("connected to collector " + opts_.target + (local.empty() ? "" : " ") + local +
                "; " + std::to_string(spool_->stats().records) +
                " reports wait for acknowledgement");
      }
      progressed = true;
      // The collector handles a stream's reports in order, so an ack covers everything before.
      spool_->Acknowledge(ack.instance_id().empty() ? instance : ack.instance_id(), ack.sequence());
      if (ack.rejected_reason().empty()) {
        ++stats_.reports_acked;
      } else {
        ++stats_.reports_rejected;
        LogWarning("collector refused report " + std::to_string(ack.sequence()) + ": " +
                   ack.rejected_reason());
      }
    }
    std::lock_guard<std::mutex> lk(mu_);
    reader_done = true;
    cv_.notify_all();
  });

  // Every stream starts again from the oldest unacknowledged report.
  uint64_t sent_upto = 0;
  while (ok) {
    std::optional<SpoolEntry> entry;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || reader_done || spool_->last_id() > sent_upto; });
      if (stopping_ || reader_done) break;
      entry = spool_->Next(sent_upto);
      sent_upto = entry ? entry->id : spool_->last_id();  // none: the rest was unreadable
    }
    if (!entry) continue;
    v1::AgentMessage out;
    if (!out.mutable_report()->ParseFromString(entry->payload)) {
      // The spool's CRC held, so this is not damage; leave it for a later ack to consume.
      LogWarning("spooled report " + std::to_string(entry->sequence) +
                 " cannot be decoded; skipped");
      continue;
    }
    if (entry->instance_id != instance) out.mutable_report()->set_instance_id(entry->instance_id);
    ok = stream->Write(out);
  }
  bool cancel;
  {
    std::lock_guard<std::mutex> lk(mu_);
    cancel = stopping_;
  }
  // On stop, cancel; otherwise the stream already broke or the collector closed it, and Finish
  // below reports why.
  if (cancel) {
    ctx->TryCancel();
  } else {
    stream->WritesDone();
  }
  reader.join();
  grpc::Status st = stream->Finish();
  {
    std::lock_guard<std::mutex> lk(mu_);
    current_ctx_.reset();
    if (!stopping_) {
      LogWarning("stream to collector " + opts_.target + " ended: " + st.error_message() +
                 " (gRPC code " + std::to_string(static_cast<int>(st.error_code())) +
                 "); will retry with backoff, reports are kept until acknowledged");
    }
    stats_.connected = false;
  }
  return progressed;
}

}  // namespace portwatch::agent
