// The store: opening the database, its schema and migrations, transactions.
#include "src/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "src/store_internal.h"

namespace portwatch::collector {
namespace {

// The unsigned maximum over the old mark and the instance's stored reports: a negative stored
// value is a sequence of 2^63 or more, above every non-negative one.
constexpr char kMigrateFrom1[] = R"sql(
DROP INDEX IF EXISTS reports_by_host_time;
UPDATE instances SET max_sequence = (
  SELECT CASE WHEN neg IS NOT NULL THEN neg ELSE pos END FROM (
    SELECT MAX(CASE WHEN v < 0 THEN v END) AS neg, MAX(CASE WHEN v >= 0 THEN v END) AS pos
    FROM (SELECT instances.max_sequence AS v
          UNION ALL SELECT sequence FROM reports r
          WHERE r.host = instances.host AND r.instance_id = instances.instance_id)));
)sql";

// Schema 2 to 3: the host row keeps the host's newest settings report, filled from the reports
// that are still stored (a host whose settings report was pruned before has none until the next).
constexpr char kMigrateFrom2[] = R"sql(
ALTER TABLE hosts ADD COLUMN config_report BLOB;
ALTER TABLE hosts ADD COLUMN config_collected_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN config_received_ms INTEGER NOT NULL DEFAULT 0;
UPDATE hosts SET (config_report, config_collected_ms, config_received_ms) = (
  SELECT report, collected_ms, received_ms FROM reports r
  WHERE r.host = hosts.host AND r.has_config ORDER BY received_ms DESC, id DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM reports r WHERE r.host = hosts.host AND r.has_config);
)sql";

// Hosts and their counters survive retention: a host that stops reporting stays listed, with
// its newest settings report (config_*), which retention of the reports does not touch.
// Reports keep their summary columns beside the serialized report so that history queries over
// utilisation need not decode anything.
constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS hosts(
  host TEXT PRIMARY KEY,
  agent_version TEXT NOT NULL DEFAULT '',
  os INTEGER NOT NULL DEFAULT 0,
  os_version TEXT NOT NULL DEFAULT '',
  instance_id TEXT NOT NULL DEFAULT '',
  boot_id TEXT NOT NULL DEFAULT '',
  interval_ms INTEGER NOT NULL DEFAULT 0,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  reports_total INTEGER NOT NULL DEFAULT 0,
  duplicates_total INTEGER NOT NULL DEFAULT 0,
  retired_dropped_total INTEGER NOT NULL DEFAULT 0,
  config_report BLOB,
  config_collected_ms INTEGER NOT NULL DEFAULT 0,
  config_received_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS instances(
  host TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  max_sequence INTEGER NOT NULL,
  dropped_total INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  PRIMARY KEY(host, instance_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reports(
  id INTEGER PRIMARY KEY,
  host TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  collected_ms INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  ports_in_use INTEGER NOT NULL,
  ports_usable INTEGER NOT NULL,
  time_wait INTEGER NOT NULL,
  has_config INTEGER NOT NULL DEFAULT 0,
  report BLOB NOT NULL,
  UNIQUE(host, instance_id, sequence));
CREATE INDEX IF NOT EXISTS reports_by_host_received ON reports(host, received_ms);
)sql";

}  // namespace
using store_internal::kSchemaVersion;

using store_internal::MarkKey;
using store_internal::SequenceFromSql;
using store_internal::SqlSequence;

Expected<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::unique_ptr<Store> s(new Store(options));
  Status st = s->Init();
  if (!st.ok()) return st;
  return s;
}

Store::~Store() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
  // Closed after SQLite's own descriptors: closing any descriptor of the file drops the
  // process's POSIX locks on it, which SQLite relies on.
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status Store::Error(const std::string& doing) const {
  return Status::Error(doing + " in database '" + opts_.path +
                       "': " + (db_ ? sqlite3_errmsg(db_) : "out of memory") +
                       "; check the disk (space, permissions) or pass another --db");
}

Status Store::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Error("database '" + opts_.path + "': " + msg +
                         "; check the disk (space, permissions) or pass another --db");
  }
  return Status::Ok();
}

Status Store::EndTransaction(bool ok, const char* doing) {
  if (ok) {
    Status st = Exec("COMMIT");
    if (st.ok()) return st;
    Exec("ROLLBACK");
    return st;
  }
  Status e = Error(doing);  // read SQLite's message before the rollback replaces it
  Exec("ROLLBACK");
  return e;
}

Status Store::Init() {
  if (opts_.path.empty()) return Status::Error("no database path given; pass --db FILE");
  int rc =
      sqlite3_open_v2(opts_.path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return Status::Error("cannot open database '" + opts_.path +
                         "': " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)) +
                         "; check that its directory exists and is writable, or pass another "
                         "--db");
  }
  // One collector per database: the marks that make ingest idempotent live in its memory.
  // flock is independent of SQLite's POSIX record locks, and readers (sqlite3, scripts) do not
  // take it, so they can still read while the collector runs.
  lock_fd_ = ::open(opts_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::Error("database '" + opts_.path +
                         "' is in use by another portwatch-collector; give each collector its "
                         "own --db");
  }
  sqlite3_busy_timeout(db_, 5000);
  {
    Statement wal(db_, "PRAGMA journal_mode=WAL");
    if (!wal.ok() || wal.Step() != SQLITE_ROW) return Error("cannot set WAL mode");
    if (wal.Text(0) != "wal") {
      return Status::Error("database '" + opts_.path + "' cannot use WAL mode (journal mode " +
                           wal.Text(0) + "); put it on a local file system with --db");
    }
  }
  Status st =
      Exec(opts_.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  if (!st.ok()) return st;
  {
    Statement v(db_, "PRAGMA user_version");
    if (!v.ok() || v.Step() != SQLITE_ROW) {
      return Status::Error("'" + opts_.path + "' is not a portwatch database (" +
                           sqlite3_errmsg(db_) + "); pass another --db");
    }
    if (v.Int(0) > kSchemaVersion) {
      return Status::Error("database '" + opts_.path +
                           "' was written by a newer collector "
                           "(schema " +
                           std::to_string(v.Int(0)) + "); upgrade this collector");
    }
  }
  // A new file has no tables (user_version 0); an old one is migrated in one transaction, so an
  // interrupted migration leaves the old schema intact.
  {
    int64_t version = 0;
    bool has_tables = false;
    {
      Statement v(db_, "PRAGMA user_version");
      if (v.Step() == SQLITE_ROW) version = v.Int(0);
      Statement t(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reports'");
      has_tables = t.Step() == SQLITE_ROW;
    }
    st = Exec("BEGIN IMMEDIATE");
    if (!st.ok()) return st;
    const bool migrate = has_tables && version < 2;
    if (migrate) st = Exec(kMigrateFrom1);
    if (st.ok() && has_tables && version < 3) st = Exec(kMigrateFrom2);
    if (st.ok()) st = Exec(kSchema);
    if (st.ok()) st = Exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
    st = EndTransaction(st.ok(), "cannot create or migrate the schema");
    if (!st.ok()) return st;
  }

  Statement marks(db_, "SELECT host, instance_id, max_sequence, dropped_total FROM instances");
  while (marks.Step() == SQLITE_ROW) {
    const std::string host = marks.Text(0);
    marks_[MarkKey(host, marks.Text(1))] = {SequenceFromSql(marks.Int(2)),
                                            static_cast<uint64_t>(marks.Int(3))};
    host_dropped_[host] += static_cast<uint64_t>(marks.Int(3));
    ++host_instances_[host];
  }
  Statement retired(db_, "SELECT host, retired_dropped_total FROM hosts");
  while (retired.Step() == SQLITE_ROW) {
    host_dropped_[retired.Text(0)] += static_cast<uint64_t>(retired.Int(1));
  }
  Statement rows(db_, "SELECT host, COUNT(*), SUM(length(report)) FROM reports GROUP BY host");
  while (rows.Step() == SQLITE_ROW) {
    host_rows_[rows.Text(0)] = rows.Int(1);
    host_bytes_[rows.Text(0)] = rows.Int(2);
  }
  return Status::Ok();
}

}  // namespace portwatch::collector
