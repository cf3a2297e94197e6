#include "src/ui/history_reader.h"

#include <sqlite3.h>

#include <algorithm>

#include "portwatch/v1/portwatch.pb.h"

namespace portwatch::collector::ui {
namespace {

uint32_t Established(const void* blob, int size) {
  v1::Report r;
  if (blob == nullptr || !r.ParseFromArray(blob, size)) return 0;
  uint32_t n = 0;
  for (const v1::StateCount& c : r.sockets().states()) {
    if (c.state() == v1::TCP_STATE_ESTABLISHED) n += c.count();
  }
  return n;
}

}  // namespace

Expected<std::unique_ptr<HistoryReader>> HistoryReader::Open(const std::string& db_path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::Error("status page: cannot open the database '" + db_path + "' read-only (" +
                         why + "); check its permissions");
  }
  // The writer holds short transactions; a reader in WAL mode rarely waits, and never long.
  sqlite3_busy_timeout(db, 2000);
  return std::unique_ptr<HistoryReader>(new HistoryReader(db));
}

HistoryReader::~HistoryReader() { sqlite3_close(db_); }

Expected<std::vector<HistoryPoint>> HistoryReader::Newest(const std::string& host, size_t limit) {
  std::lock_guard<std::mutex> lk(mu_);
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT collected_ms, ports_in_use, ports_usable, time_wait, report FROM reports "
      "WHERE host = ?1 ORDER BY collected_ms DESC, id DESC LIMIT ?2";
  if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) {
    return Status::Error(std::string("status page: cannot read report history (") +
                         sqlite3_errmsg(db_) + ")");
  }
  sqlite3_bind_text(st, 1, host.data(), static_cast<int>(host.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(limit));
  std::vector<HistoryPoint> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    HistoryPoint p;
    p.collected_unix_ms = sqlite3_column_int64(st, 0);
    p.ports_in_use = static_cast<uint32_t>(sqlite3_column_int64(st, 1));
    p.ports_usable = static_cast<uint32_t>(sqlite3_column_int64(st, 2));
    p.time_wait = static_cast<uint32_t>(sqlite3_column_int64(st, 3));
    p.established = Established(sqlite3_column_blob(st, 4), sqlite3_column_bytes(st, 4));
    out.push_back(p);
  }
  const bool ok = rc == SQLITE_DONE;
  std::string why = ok ? "" : sqlite3_errmsg(db_);
  sqlite3_finalize(st);
  if (!ok) return Status::Error("status page: reading report history failed (" + why + ")");
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace portwatch::collector::ui
