// The collector's durable memory: SQLite in WAL mode. It holds every accepted report (the
// serialized portwatch.v1.Report with its identity and a few summary columns, for the history
// that drift analysis reads), each host's last hello and counters, and per agent instance the
// highest sequence stored, which makes ingest idempotent: a report whose (host, instance,
// sequence) is at or below that mark was stored before and is recognised as a duplicate.
//
// Knows no gRPC and no protobuf: callers hand it bytes and columns. Not thread-safe; one writer
// thread owns it (store_writer.h). One file per concern: store_schema.cc (open, schema and
// migrations, transactions), store_write.cc (batches and per-host bounds), store_read.cc (hosts
// and history), store_retention.cc (pruning); store_internal.h holds what they share.
//
// Durability: a batch is one transaction; with synchronous=FULL (the default) a committed batch
// survives power loss, with NORMAL it survives a crash of the collector (kill -9) but the last
// commits may be lost on power loss. The collector acknowledges a report only after its batch
// commits.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace portwatch::collector {

struct StoreOptions {
  std::string path;                             ///< the database file (created if missing)
  /// reports older than this (receipt time) are pruned: at least the 8 days of the analysis's
  /// longest ring (the host's seasonal baseline), which a restart replays
  int64_t history_max_age_ms = 8LL * 86400000;
  int64_t max_reports_per_host = 100000;        ///< and at most this many per host
  /// and at most this many bytes of reports per host (enforced as each batch commits: the oldest
  /// received are deleted down to 90% of it)
  int64_t max_bytes_per_host = 256LL << 20;
  /// agent instances remembered per host; a new one beyond this replaces the least recently
  /// seen (its reports stay, and still count as duplicates by their unique key)
  int64_t max_instances_per_host = 64;
  bool synchronous_full = true;                 ///< false: synchronous=NORMAL
};

/// One accepted report, as stored.
struct StoredReport {
  std::string host;
  std::string instance_id;
  uint64_t sequence = 0;
  int64_t collected_unix_ms = 0;
  int64_t received_unix_ms = 0;
  uint32_t ports_in_use = 0;  ///< summary columns, so history reads need not decode
  uint32_t ports_usable = 0;
  uint32_t time_wait = 0;
  uint64_t agent_dropped_total = 0;  ///< the instance's reports_dropped_total in this report
  bool has_config = false;           ///< carries a settings snapshot (sent on change, not always)
  /// serialized portwatch.v1.Report, re-serialized from the validated model (never the bytes
  /// received: unknown fields and over-long text must not reach the disk)
  std::string payload;
};

/// One change in a batch: a stream's hello (host facts) or a report.
struct StoreOp {
  enum class Kind : uint8_t { kHello, kReport };
  Kind kind = Kind::kReport;
  std::string host;
  int64_t now_unix_ms = 0;  ///< for a hello: when it arrived
  AgentHello hello;         ///< kHello
  /// kHello: notAfter of the stream's client certificate (Unix seconds; 0 unknown). Fleet state
  /// only: it is not written to the database.
  int64_t certificate_not_after_unix = 0;
  StoredReport report;      ///< kReport
};

struct StoreOpResult {
  bool duplicate = false;                 ///< the report was stored before; nothing was written
  uint64_t host_agent_dropped_total = 0;  ///< the host's agents' drops over all instances
};

/// What the store knows about a host, to rebuild fleet state at start.
struct StoredHost {
  std::string host;
  AgentHello hello;
  int64_t last_seen_unix_ms = 0;
  uint64_t reports_total = 0;
  uint64_t duplicates_total = 0;
  uint64_t agent_dropped_total = 0;
  bool has_report = false;
  std::string last_payload;  ///< the report received last
  int64_t last_received_unix_ms = 0;
  /// The newest report that carried settings (they are not in every report), kept on the host
  /// row whatever retention pruned; empty if none.
  std::string last_config_payload;
  int64_t last_config_received_unix_ms = 0;
};

/// One row of a host's history, oldest first.
struct HistoryRow {
  std::string instance_id;
  uint64_t sequence = 0;
  int64_t collected_unix_ms = 0;
  int64_t received_unix_ms = 0;
  uint32_t ports_in_use = 0;
  uint32_t ports_usable = 0;
  uint32_t time_wait = 0;
  std::string payload;
};

/// A host's stored reports of one span of receipt time, summarised from their summary columns
/// (no report decoded): what a coarse replay feeds the analysis's long rings.
struct CoarseRow {
  int64_t collected_unix_ms = 0;  ///< newest agent time in the span, each at most its receipt
  int64_t received_unix_ms = 0;   ///< newest receipt time in the span
  uint32_t ports_in_use = 0;      ///< means over the span's reports, rounded
  uint32_t time_wait = 0;
  uint32_t ports_usable = 0;  ///< the largest in the span
  uint32_t reports = 0;       ///< how many reports the row stands for
};

class Store {
 public:
  /// Opens or creates the database, sets WAL mode, creates or checks the schema and loads the
  /// per-instance marks. Fails with an actionable message when the file is unusable.
  static Expected<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Applies `ops` in one transaction; one result per op (hellos: default). On failure nothing is
  /// written and the error says why.
  Expected<std::vector<StoreOpResult>> Write(const std::vector<StoreOp>& ops);

  /// Every host with its counters and latest report.
  Expected<std::vector<StoredHost>> LoadHosts();

  /// A host's reports received at or after `since_unix_ms`, in receipt order, at most `limit`.
  Expected<std::vector<HistoryRow>> History(const std::string& host, int64_t since_unix_ms,
                                            size_t limit);

  /// A host's reports received in [since_unix_ms, until_unix_ms), one row per `span_ms` of
  /// receipt time (aligned to multiples of it), oldest first. Reads only the summary columns.
  Expected<std::vector<CoarseRow>> CoarseHistory(const std::string& host, int64_t since_unix_ms,
                                                 int64_t until_unix_ms, int64_t span_ms);

  /// The newest report of a host that carried settings and was received before
  /// `before_unix_ms`, as a history row; nullopt when none is stored. The host's newest settings
  /// are kept on its host row, so they are found even after retention pruned their report row
  /// (that answer has no instance_id or sequence: only times and payload).
  Expected<std::optional<HistoryRow>> LatestConfig(const std::string& host, int64_t before_unix_ms);

  /// Deletes reports beyond the retention (age by receipt time, per-host cap, oldest received
  /// first) and instance marks not seen within
  /// the age bound. Returns the number of reports deleted.
  Expected<uint64_t> Prune(int64_t now_unix_ms);

  const StoreOptions& options() const { return opts_; }

 private:
  struct InstanceMark {
    uint64_t max_sequence = 0;
    uint64_t dropped_total = 0;
  };
  class Statement;

  explicit Store(StoreOptions options) : opts_(std::move(options)) {}
  Status Init();
  Status Exec(const char* sql);
  /// Commits when `ok`, else rolls back and says what failed (`doing`, with SQLite's reason).
  Status EndTransaction(bool ok, const char* doing);
  Status Error(const std::string& doing) const;
  /// A host's stored reports and their bytes.
  Expected<std::pair<int64_t, int64_t>> CountHost(const std::string& host);
  /// Inside a transaction: deletes a host's oldest received reports down to 90% of the byte bound.
  Expected<std::pair<int64_t, int64_t>> TrimHostBytes(const std::string& host);

  StoreOptions opts_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;                                     // flock held: one collector per database
  std::unordered_map<std::string, InstanceMark> marks_;  // key: host '\n' instance
  std::unordered_map<std::string, uint64_t> host_dropped_;  // retired + sum over instances
  std::unordered_map<std::string, int64_t> host_rows_;      // reports held per host
  std::unordered_map<std::string, int64_t> host_bytes_;     // and their bytes
  std::unordered_map<std::string, int64_t> host_instances_;  // instance marks per host
};

}  // namespace portwatch::collector
