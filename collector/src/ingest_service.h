// The Ingest gRPC service on the callback API: one reactor per agent stream owns that stream's
// state; nothing in a reaction blocks. A report is validated in the reaction and handed to the
// store writer; its ack is sent when the writer has committed it (or found it a duplicate), in
// the order the stream sent the reports, so an ack always covers everything before it.
#pragma once

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>

#include "portwatch/v1/portwatch.grpc.pb.h"
#include "src/rejections.h"
#include "src/store_writer.h"

namespace portwatch::collector {

struct IngestLimits {
  int max_streams = 50000;       ///< concurrent agent streams; more are refused
  size_t max_unsent_acks = 256;  ///< reports awaiting storage or ack on one stream before
                                 ///< reading pauses
};

class IngestService final : public v1::Ingest::CallbackService {
 public:
  IngestService(StoreWriter& writer, prometheus::Registry& registry, Rejections& rejections,
                IngestLimits limits = {});

  grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>* Stream(
      grpc::CallbackServerContext* context) override;

  /// Streams currently open.
  int active_streams() const { return active_.load(); }

 private:
  friend class IngestReactor;
  StoreWriter& writer_;
  Rejections& rejections_;
  IngestLimits limits_;
  std::atomic<int> active_{0};
  prometheus::Gauge& streams_gauge_;
  prometheus::Counter& reports_counter_;
  prometheus::Counter& duplicates_counter_;
};

}  // namespace portwatch::collector
