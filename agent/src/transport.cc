#include "src/transport.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "portwatch/v1/portwatch.grpc.pb.h"
#include "portwatch/wire.h"

namespace portwatch::agent {

Transport::Transport(TransportOptions options) : opts_(std::move(options)) {}

Transport::~Transport() { Stop(); }

void Transport::Start() { worker_ = std::thread([this] { Run(); }); }

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
  {
    std::lock_guard<std::mutex> lk(mu_);
    report.health.reports_dropped_total = stats_.reports_dropped;
    report.health.reports_pending = static_cast<uint32_t>(pending_.size());
    pending_.push_back(std::move(report));
    while (pending_.size() > opts_.max_pending) {
      pending_.pop_front();
      ++stats_.reports_dropped;
    }
    stats_.pending = pending_.size();
  }
  cv_.notify_all();
}

TransportStats Transport::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
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

bool Transport::RunStream() {
  grpc::ChannelArguments args;
  if (!opts_.server_name_override.empty()) {
    args.SetSslTargetNameOverride(opts_.server_name_override);
  }
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
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
        std::fprintf(stderr, "portwatch-agent: connected to collector %s\n", opts_.target.c_str());
      }
      progressed = true;
      // The collector handles a stream's reports in order, so an ack covers everything before.
      while (!pending_.empty() && pending_.front().sequence <= ack.sequence()) {
        pending_.pop_front();
      }
      if (ack.rejected_reason().empty()) {
        ++stats_.reports_acked;
      } else {
        ++stats_.reports_rejected;
        std::fprintf(stderr, "portwatch-agent: collector refused report %llu: %s\n",
                     static_cast<unsigned long long>(ack.sequence()),
                     ack.rejected_reason().c_str());
      }
      stats_.pending = pending_.size();
    }
    std::lock_guard<std::mutex> lk(mu_);
    reader_done = true;
    cv_.notify_all();
  });

  uint64_t sent_upto = 0;
  while (ok) {
    v1::AgentMessage out;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] {
        return stopping_ || reader_done ||
               (!pending_.empty() && pending_.back().sequence > sent_upto);
      });
      if (stopping_ || reader_done) break;
      auto it = std::find_if(pending_.begin(), pending_.end(),
                             [&](const Report& r) { return r.sequence > sent_upto; });
      if (it == pending_.end()) continue;
      ToProto(*it, out.mutable_report());
      sent_upto = it->sequence;
    }
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
      std::fprintf(stderr,
                   "portwatch-agent: stream to collector %s ended: %s (gRPC code %d); will "
                   "retry with backoff, reports are kept until acknowledged\n",
                   opts_.target.c_str(), st.error_message().c_str(),
                   static_cast<int>(st.error_code()));
    }
    stats_.connected = false;
  }
  return progressed;
}

}  // namespace portwatch::agent
