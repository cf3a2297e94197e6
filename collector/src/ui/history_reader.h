// A read-only SQLite connection to the collector's database for the status page's curves. It is
// separate from the store's own connection (WAL lets readers run beside the one writer), so a
// page view never waits on, or delays, the ingest transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "portwatch/status.h"
#include "src/ui/status_source.h"

struct sqlite3;

namespace portwatch::collector::ui {

class HistoryReader {
 public:
  /// Opens `db_path` read-only. The file must exist (the store creates it first).
  static Expected<std::unique_ptr<HistoryReader>> Open(const std::string& db_path);
  ~HistoryReader();
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  /// The host's newest `limit` reports, oldest first. TIME_WAIT and in-use ports come from the
  /// summary columns; established is decoded from each stored report.
  Expected<std::vector<HistoryPoint>> Newest(const std::string& host, size_t limit);

 private:
  explicit HistoryReader(sqlite3* db) : db_(db) {}
  std::mutex mu_;  // one connection, used by one HTTP thread at a time
  sqlite3* db_;
};

}  // namespace portwatch::collector::ui
