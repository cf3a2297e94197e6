// The agent's spool: every report waits here, in order, until the collector acknowledges it.
// This file is the queue (ordering, acknowledgement, bounds, disk failure); the record format is
// in spool_record.h and the platform's files in spool_files.h.
//
// On disk it is a directory of append-only segment files (seg-NNNNNNNNNNNNNNNN.pws). Each record is
//
//   offset 0  "PWSP"      magic, marks a record start so a reader can resynchronise after damage
//          4  u32 LE      body length n
//          8  u32 LE      CRC-32 (IEEE) of the body
//         12  body        n bytes, the first one the record type
//
// A report record's body is: type 1, u8 instance id length, instance id, u64 LE sequence,
// i64 LE creation time (Unix ms), then the report payload (a serialized portwatch.v1.Report).
// A consumed record's body is: type 2, u64 LE segment number, u64 LE offset: every report before
// that position has been acknowledged or dropped. Consumed records are written after
// acknowledgements and drops, so a restarted agent resends only what was never acknowledged (at
// worst a few acknowledged ones, which the collector recognises as duplicates).
//
// Crash safety: a process never appends to a segment it did not create, so a torn write left by a
// crash is always at the end of a segment that is only read from then on. Reading checks every
// record's magic, length and CRC; damaged bytes (a torn tail, garbage, a truncated file) are
// skipped, logged with the file and offset, and counted, and reading resumes at the next intact
// record. Each report is fdatasync'ed when appended (one sync per collection interval, so the
// cost is negligible) and the directory is synced when a segment is created, so a report survives
// power loss once Append returns.
//
// Bounds: by bytes (segment files plus reports held in memory) and by age. When a bound is
// exceeded the oldest reports are dropped and counted; on disk the unit dropped for the byte bound
// is the oldest segment (segments are a small fraction of the bound, see SpoolOptions).
//
// When the disk fails later (full, I/O error), reports are kept in memory instead, bounded by
// max_memory_records, with a counted warning; the disk is tried again after a pause. Reports held
// only in memory do not survive a restart.
//
// Not thread-safe: the owner (the transport) serialises calls.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "portwatch/status.h"
#include "src/spool_files.h"
#include "src/spool_record.h"  // the record format (Crc32 for tests)

namespace portwatch::agent {

struct SpoolOptions {
  std::string dir;                      ///< empty: keep reports in memory only
  uint64_t max_bytes = 64ull << 20;     ///< bound on spool size; the oldest go first
  int64_t max_age_ms = 3LL * 86400000;  ///< reports older than this are dropped
  size_t max_memory_records = 5760;     ///< bound on reports held in memory (no dir, disk failing)
  uint64_t segment_bytes = 0;           ///< 0: max_bytes / 8, within 4 KiB .. 4 MiB
  bool sync = true;                     ///< fdatasync each appended report
  int64_t disk_retry_ms = 30000;        ///< after a write failure, stay in memory this long
  /// Where messages go (one line each, no prefix); default: stderr with "portwatch-agent: spool: ".
  std::function<void(const std::string&)> log;
  /// How records are appended to a segment; tests substitute one that fails like a full disk.
  std::function<Expected<size_t>(SegmentFile& file, const char* data, size_t n)> append_fn;
};

/// One spooled report, as handed to the sender.
struct SpoolEntry {
  uint64_t id = 0;          ///< position in this process's delivery order, from 1
  std::string instance_id;  ///< the agent instance that made it
  uint64_t sequence = 0;    ///< its sequence number within that instance
  int64_t created_unix_ms = 0;
  std::string payload;
};

struct SpoolStats {
  uint64_t records = 0;                ///< reports waiting for acknowledgement
  uint64_t bytes = 0;                  ///< segment files plus reports held in memory
  uint64_t memory_records = 0;         ///< of `records`, those held only in memory
  uint64_t dropped_total = 0;          ///< reports dropped by the bounds since Open
  uint64_t write_failures_total = 0;   ///< reports the disk refused (kept in memory instead)
  uint64_t corrupt_records_total = 0;  ///< damaged regions skipped since Open
  uint64_t recovered_records = 0;      ///< reports found on disk at Open
  bool degraded = false;               ///< the disk is failing; new reports go to memory
};

class Spool {
 public:
  /// Opens (creating it if needed) the spool directory, takes its lock, reads what earlier runs
  /// left, and creates this run's segment. Fails with an actionable message when the directory
  /// is unusable or used by another agent. With an empty `dir`, a memory-only spool.
  static Expected<std::unique_ptr<Spool>> Open(SpoolOptions options, int64_t now_unix_ms);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  /// Adds a report at the end. Enforces the bounds first (dropping the oldest), then writes it to
  /// disk, or keeps it in memory when the disk fails.
  void Append(const std::string& instance_id, uint64_t sequence, int64_t created_unix_ms,
              std::string payload, int64_t now_unix_ms);

  /// The oldest report after `after_id` (0: from the start), with its payload. Reports whose
  /// disk record turns out to be damaged are skipped, logged and counted.
  std::optional<SpoolEntry> Next(uint64_t after_id);

  /// The collector stored (or refused) the report (instance_id, sequence): it and everything
  /// before it are consumed. Returns false when no such report is waiting (already dropped).
  bool Acknowledge(const std::string& instance_id, uint64_t sequence);

  /// Drops reports older than max_age_ms.
  void DropExpired(int64_t now_unix_ms);

  /// Id of the newest report (0 when none was ever added), to tell whether Next has more.
  uint64_t last_id() const { return entries_.empty() ? 0 : entries_.back().id; }
  bool empty() const { return entries_.empty(); }
  SpoolStats stats() const;
  /// The instances whose reports wait here, oldest first (for a log line at start).
  std::vector<std::string> WaitingInstances() const;

 private:
  struct Entry {
    uint64_t id = 0;
    uint32_t instance = 0;  // index into instances_
    uint64_t sequence = 0;
    int64_t created_unix_ms = 0;
    bool on_disk = false;
    uint64_t segment = 0;  // on disk: segment number and the record's span in it
    uint64_t offset = 0;
    uint64_t length = 0;
    std::string payload;  // in memory only
  };
  struct Segment {
    SegmentFile file;
    uint64_t size = 0;
  };
  struct Position {
    uint64_t segment = 0;
    uint64_t offset = 0;
    bool operator<(const Position& o) const {
      return segment != o.segment ? segment < o.segment : offset < o.offset;
    }
  };

  explicit Spool(SpoolOptions options);
  Status OpenDirectory();
  Status LoadSegment(uint64_t number, std::vector<Entry>* loaded, Position* consumed);
  Status StartSegment(uint64_t number);
  uint32_t InternInstance(const std::string& id);
  /// Appends a framed record to the active segment (starting one when needed). On failure the
  /// segment is left as it was and `error` says why.
  bool WriteRecord(const std::string& record, bool sync, uint64_t* offset, std::string* error);
  void PopFront(bool dropped);
  /// Drops the oldest reports, a whole segment's worth when they are on disk; returns how many.
  uint64_t DropOldestForBytes();
  /// Counts a drop and logs it, at most once a minute.
  void NoteDropped(uint64_t n, const char* bound, int64_t now_unix_ms);
  /// After reports left the front: removes segments with nothing left and records the position.
  void FinishConsuming();
  void RemoveConsumedSegments();
  void WriteConsumedMarker();
  std::string SegmentPath(uint64_t number) const;
  void Log(const std::string& msg) const;

  SpoolOptions opts_;
  DirLock lock_;
  bool on_disk_ = false;                  // a directory is open (else memory only)
  std::map<uint64_t, Segment> segments_;  // by number; the last one is written to
  uint64_t active_ = 0;                   // segment appended to (0: none)
  uint64_t next_segment_ = 1;             // number for the next segment created
  uint64_t disk_bytes_ = 0;
  uint64_t memory_bytes_ = 0;
  uint64_t memory_records_ = 0;
  std::deque<Entry> entries_;  // waiting reports, oldest first
  uint64_t next_id_ = 1;
  Position consumed_;          // every disk record before this is consumed
  Position consumed_written_;  // the newest consumed marker on disk
  std::vector<std::string> instances_;
  SpoolStats counters_;
  int64_t disk_retry_at_ms_ = 0;  // degraded: next time to try the disk
  int64_t last_failure_log_ms_ = 0;
  int64_t last_drop_log_ms_ = std::numeric_limits<int64_t>::min() / 2;
  uint64_t dropped_since_log_ = 0;
};

}  // namespace portwatch::agent
