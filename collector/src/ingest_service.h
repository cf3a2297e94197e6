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
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "portwatch/revocation.h"
#include "portwatch/v1/portwatch.grpc.pb.h"
#include "src/host_patterns.h"
#include "src/rejections.h"
#include "src/store_writer.h"

namespace portwatch::collector {

class IngestReactor;

struct IngestLimits {
  int max_streams = 50000;       ///< concurrent agent streams; more are refused
  /// concurrent streams of one certificate identity: one certificate cannot take every slot
  int max_streams_per_host = 8;
  /// streams that have not sent their hello yet, over all identities: a small budget of its own
  int max_streams_without_hello = 256;
  int64_t hello_timeout_ms = 10000;  ///< a stream without a hello by then is closed
  size_t max_unsent_acks = 256;  ///< reports awaiting storage or ack on one stream before
                                 ///< reading pauses
  /// A report dated further ahead of receipt than this is dated on receipt (and counted).
  int64_t max_clock_ahead_ms = 30000;
  /// Reports read per second from one host identity (all its streams), and the burst above that
  /// rate (a spool replay after an outage). Beyond them the host's streams are paced: their next
  /// report is read later, so the agent waits with its reports in its spool and nothing is lost.
  double max_reports_per_second_per_host = 20;
  double report_burst_per_host = 200;
  /// Host names (from the certificate's DNS SAN) allowed to report; empty: every host.
  HostPatterns allow_hosts;
};

class IngestService final : public v1::Ingest::CallbackService {
 public:
  IngestService(StoreWriter& writer, prometheus::Registry& registry, Rejections& rejections,
                IngestLimits limits = {});

  grpc::ServerBidiReactor<v1::AgentMessage, v1::CollectorMessage>* Stream(
      grpc::CallbackServerContext* context) override;

  /// Streams currently open.
  int active_streams() const { return active_.load(); }
  /// Streams open now that have not sent their hello yet.
  int streams_without_hello() const { return without_hello_.load(); }

  /// Ends every open stream whose peer certificate `revocations` now lists as revoked, with
  /// PERMISSION_DENIED "certificate revoked: ...", counted and logged as reason
  /// certificate_revoked. The handshake check only sees new connections; this is for the streams
  /// that were open when the CRL changed. Other streams are untouched. Returns how many it ended.
  int CutRevoked(const RevocationList& revocations);

 private:
  friend class IngestReactor;
  /// Counts one more stream for `host`; false (nothing counted) at the per-host limit.
  bool AcquireHostStream(const std::string& host);
  void ReleaseHostStream(const std::string& host);
  void TrackOpen(IngestReactor* r);
  void UntrackOpen(IngestReactor* r);
  /// Takes one report's token from `host`'s bucket at `now_ms` (steady clock) and returns how
  /// long, in ms, the stream should wait before reading the host's next report (0: at once).
  int64_t PaceReport(const std::string& host, int64_t now_ms);
  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
  };
  StoreWriter& writer_;
  Rejections& rejections_;
  IngestLimits limits_;
  std::atomic<int> active_{0};
  std::atomic<int> without_hello_{0};
  std::mutex hosts_mu_;
  std::unordered_map<std::string, int> host_streams_;  // streams open per identity
  // Report-rate buckets per identity, guarded by hosts_mu_. A bucket outlives its streams while
  // it is not full, so closing and reopening a stream never refills it early.
  std::unordered_map<std::string, Bucket> buckets_;
  uint64_t paces_ = 0;  // PaceReport calls, for the occasional sweep of full buckets
  // Streams of an accepted agent identity that have not ended, for CutRevoked. Lock order:
  // open_mu_ before a reactor's own mutex.
  std::mutex open_mu_;
  std::unordered_set<IngestReactor*> open_;
  prometheus::Gauge& streams_gauge_;
  prometheus::Counter& reports_counter_;
  prometheus::Counter& duplicates_counter_;
};

}  // namespace portwatch::collector
