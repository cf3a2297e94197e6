// What the store's files share: the prepared-statement wrapper and the encodings of keys and
// sequences. Private to the store (store_schema.cc, store_write.cc, store_read.cc,
// store_retention.cc); nothing outside includes it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "src/store.h"

namespace portwatch::collector {
namespace store_internal {

// 2: sequences are unsigned 64-bit end to end. They are stored as the same 64 bits in SQLite's
//    signed INTEGER (so sequences from 2^63 up read as negative numbers), and the collector never
//    compares them in SQL: the per-instance mark is computed in C++ as an unsigned number and
//    written as is. Schema 1 kept the mark with SQL max(), which compared signed and so could
//    keep an older, smaller mark; the migration recomputes every mark as the unsigned maximum of
//    the mark and its stored reports. Reports are now also indexed by receipt time, which orders
//    retention and replay (agent clocks are advisory).
//    (Why not a sign flip or text: every reader of the database, scripts and tests, keeps reading
//    real sequences, which are all far below 2^63, unchanged.)
// 3: each host's newest settings (the newest report that carried a ConfigSnapshot: agents send
//    them on change and periodically) are kept on its hosts row, so retention or the byte bound
//    pruning that report row no longer loses them. The migration fills them from the reports.
inline constexpr int kSchemaVersion = 3;

inline int64_t SqlSequence(uint64_t seq) { return static_cast<int64_t>(seq); }
inline uint64_t SequenceFromSql(int64_t v) { return static_cast<uint64_t>(v); }


/// The key of an agent instance's mark: host and instance.
inline std::string MarkKey(const std::string& host, const std::string& instance) {
  return host + '\n' + instance;
}

}  // namespace store_internal

// A prepared statement that finalizes itself; binds and reads by 1-based / 0-based index as
// SQLite does.
class Store::Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Statement() { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  Statement& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Statement& BindText(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(s_); }
  /// Runs to completion; true when it finished without error.
  bool Run() {
    int rc = Step();
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return rc == SQLITE_DONE;
  }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  std::string Blob(int col) const {
    const void* p = sqlite3_column_blob(s_, col);
    return p ? std::string(static_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

}  // namespace portwatch::collector
