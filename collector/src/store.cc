#include "src/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <map>

namespace portwatch::collector {
namespace {

// 2: sequences are unsigned 64-bit end to end. They are stored as the same 64 bits in SQLite's
//    signed INTEGER (so sequences from 2^63 up read as negative numbers), and the collector never
//    compares them in SQL: the per-instance mark is computed in C++ as an unsigned number and
//    written as is. Schema 1 kept the mark with SQL max(), which compared signed and so could
//    keep an older, smaller mark; the migration recomputes every mark as the unsigned maximum of
//    the mark and its stored reports. Reports are now also indexed by receipt time, which orders
//    retention and replay (agent clocks are advisory).
//    (Why not a sign flip or text: every reader of the database, scripts and tests, keeps reading
//    real sequences, which are all far below 2^63, unchanged.)
constexpr int kSchemaVersion = 2;

int64_t SqlSequence(uint64_t seq) { return static_cast<int64_t>(seq); }
uint64_t SequenceFromSql(int64_t v) { return static_cast<uint64_t>(v); }

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

// Hosts and their counters survive retention: a host that stops reporting stays listed.
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
  retired_dropped_total INTEGER NOT NULL DEFAULT 0);
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

std::string MarkKey(const std::string& host, const std::string& instance) {
  return host + '\n' + instance;
}

}  // namespace

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

Expected<std::vector<StoreOpResult>> Store::Write(const std::vector<StoreOp>& ops) {
  Status st = Exec("BEGIN IMMEDIATE");
  if (!st.ok()) return st;
  Statement hello(db_, R"sql(
    INSERT INTO hosts(host, agent_version, os, os_version, instance_id, boot_id, interval_ms,
                      first_seen_ms, last_seen_ms)
    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
    ON CONFLICT(host) DO UPDATE SET agent_version = excluded.agent_version, os = excluded.os,
      os_version = excluded.os_version, instance_id = excluded.instance_id,
      boot_id = excluded.boot_id, interval_ms = excluded.interval_ms,
      last_seen_ms = max(last_seen_ms, excluded.last_seen_ms))sql");
  Statement report(db_, R"sql(
    INSERT OR IGNORE INTO reports(host, instance_id, sequence, collected_ms, received_ms,
                                  ports_in_use, ports_usable, time_wait, has_config, report)
    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10))sql");
  Statement instance(db_, R"sql(
    INSERT INTO instances(host, instance_id, max_sequence, dropped_total, last_seen_ms)
    VALUES(?1, ?2, ?3, ?4, ?5)
    ON CONFLICT(host, instance_id) DO UPDATE SET
      max_sequence = excluded.max_sequence,  -- the unsigned maximum, computed in Write
      dropped_total = max(dropped_total, excluded.dropped_total),
      last_seen_ms = max(last_seen_ms, excluded.last_seen_ms))sql");
  Statement counts(db_, R"sql(
    INSERT INTO hosts(host, first_seen_ms, last_seen_ms, reports_total, duplicates_total)
    VALUES(?1, ?2, ?2, ?3, ?4)
    ON CONFLICT(host) DO UPDATE SET reports_total = reports_total + excluded.reports_total,
      duplicates_total = duplicates_total + excluded.duplicates_total,
      last_seen_ms = max(last_seen_ms, excluded.last_seen_ms))sql");
  Statement oldest(db_, R"sql(
    SELECT instance_id, dropped_total FROM instances WHERE host = ?1
    ORDER BY last_seen_ms, instance_id LIMIT 1)sql");
  Statement evict(db_, "DELETE FROM instances WHERE host = ?1 AND instance_id = ?2");
  Statement retire(db_,
                   "UPDATE hosts SET retired_dropped_total = retired_dropped_total + ?2 "
                   "WHERE host = ?1");
  if (!hello.ok() || !report.ok() || !instance.ok() || !counts.ok() || !oldest.ok() ||
      !evict.ok() || !retire.ok()) {
    return EndTransaction(false, "cannot prepare statements");
  }

  // Changes become visible in memory only once the transaction commits.
  std::unordered_map<std::string, InstanceMark> marks;
  std::unordered_map<std::string, uint64_t> dropped;
  struct HostCounts {
    int64_t last_seen = 0;
    int64_t stored = 0;
    int64_t duplicates = 0;
    int64_t bytes = 0;
  };
  std::map<std::string, HostCounts> per_host;
  std::unordered_map<std::string, int64_t> instances = host_instances_;
  std::vector<std::string> evicted;
  std::vector<StoreOpResult> results(ops.size());
  bool ok = true;
  for (size_t i = 0; i < ops.size() && ok; ++i) {
    const StoreOp& op = ops[i];
    if (op.kind == StoreOp::Kind::kHello) {
      const AgentHello& h = op.hello;
      ok = hello.BindText(1, op.host)
               .BindText(2, h.agent_version)
               .Bind(3, static_cast<int64_t>(h.os))
               .BindText(4, h.os_version)
               .BindText(5, h.instance_id)
               .BindText(6, h.boot_id)
               .Bind(7, h.interval_ms)
               .Bind(8, op.now_unix_ms)
               .Run();
      continue;
    }
    const StoredReport& r = op.report;
    const std::string key = MarkKey(r.host, r.instance_id);
    auto pending = marks.find(key);
    if (pending == marks.end()) {
      auto known = marks_.find(key);
      if (known == marks_.end() && instances[r.host] >= opts_.max_instances_per_host) {
        // A new instance id on every report must not grow the marks without bound: the least
        // recently seen instance of this host is forgotten (its drops move to the retired sum).
        const bool found = oldest.BindText(1, r.host).Step() == SQLITE_ROW;
        const std::string victim = found ? oldest.Text(0) : std::string();
        const int64_t victim_dropped = found ? oldest.Int(1) : 0;
        oldest.Reset();
        if (found) {
          ok = evict.BindText(1, r.host).BindText(2, victim).Run() &&
               retire.BindText(1, r.host).Bind(2, victim_dropped).Run();
          if (!ok) break;
          --instances[r.host];
          evicted.push_back(MarkKey(r.host, victim));
          marks.erase(MarkKey(r.host, victim));
        }
      }
      if (known == marks_.end()) ++instances[r.host];
      pending = marks.emplace(key, known == marks_.end() ? InstanceMark{} : known->second).first;
    }
    InstanceMark& mark = pending->second;
    bool duplicate = r.sequence <= mark.max_sequence;
    if (!duplicate) {
      ok = report.BindText(1, r.host)
               .BindText(2, r.instance_id)
               .Bind(3, SqlSequence(r.sequence))
               .Bind(4, r.collected_unix_ms)
               .Bind(5, r.received_unix_ms)
               .Bind(6, r.ports_in_use)
               .Bind(7, r.ports_usable)
               .Bind(8, r.time_wait)
               .Bind(9, r.has_config ? 1 : 0)
               .BindBlob(10, r.payload)
               .Run();
      // The unique key is the last word on identity, should a mark ever have been lost.
      duplicate = ok && sqlite3_changes(db_) == 0;
    }
    if (ok && !duplicate) {
      mark.max_sequence = r.sequence;
      if (r.agent_dropped_total > mark.dropped_total) {
        dropped[r.host] += r.agent_dropped_total - mark.dropped_total;
        mark.dropped_total = r.agent_dropped_total;
      }
      ok = instance.BindText(1, r.host)
               .BindText(2, r.instance_id)
               .Bind(3, SqlSequence(mark.max_sequence))
               .Bind(4, static_cast<int64_t>(mark.dropped_total))
               .Bind(5, r.received_unix_ms)
               .Run();
    }
    HostCounts& c = per_host[r.host];
    c.last_seen = std::max(c.last_seen, r.received_unix_ms);
    ++(duplicate ? c.duplicates : c.stored);
    if (!duplicate) c.bytes += static_cast<int64_t>(r.payload.size());
    results[i].duplicate = duplicate;
    auto committed = host_dropped_.find(r.host);
    results[i].host_agent_dropped_total =
        (committed == host_dropped_.end() ? 0 : committed->second) + dropped[r.host];
  }
  for (auto it = per_host.begin(); ok && it != per_host.end(); ++it) {
    ok = counts.BindText(1, it->first)
             .Bind(2, it->second.last_seen)
             .Bind(3, it->second.stored)
             .Bind(4, it->second.duplicates)
             .Run();
  }
  // The byte bound is enforced in the same transaction, not only by the periodic retention: one
  // agent certificate must not be able to fill the disk between two retention passes.
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> trimmed;  // host: rows, bytes
  for (auto it = per_host.begin(); ok && it != per_host.end(); ++it) {
    auto b = host_bytes_.find(it->first);
    const int64_t bytes = (b == host_bytes_.end() ? 0 : b->second) + it->second.bytes;
    if (bytes <= opts_.max_bytes_per_host) continue;
    auto r = TrimHostBytes(it->first);
    ok = r.ok();
    if (ok) trimmed[it->first] = *r;
  }
  st = EndTransaction(ok, "cannot store reports");
  if (!st.ok()) return st;
  for (const std::string& key : evicted) marks_.erase(key);
  for (auto& [key, mark] : marks) marks_[key] = mark;
  for (auto& [host, n] : dropped) host_dropped_[host] += n;
  host_instances_ = std::move(instances);
  for (auto& [host, c] : per_host) {
    host_rows_[host] += c.stored;
    host_bytes_[host] += c.bytes;
  }
  for (auto& [host, rb] : trimmed) {
    host_rows_[host] = rb.first;
    host_bytes_[host] = rb.second;
  }
  return results;
}

Expected<std::pair<int64_t, int64_t>> Store::CountHost(const std::string& host) {
  Statement q(db_, "SELECT COUNT(*), COALESCE(SUM(length(report)), 0) FROM reports WHERE host = ?1");
  if (!q.ok()) return Error("cannot count a host's reports");
  q.BindText(1, host);
  if (q.Step() != SQLITE_ROW) return Error("cannot count a host's reports");
  return std::make_pair(q.Int(0), q.Int(1));
}

Expected<std::pair<int64_t, int64_t>> Store::TrimHostBytes(const std::string& host) {
  // Down to 90% of the bound, oldest received first, so the trim is not paid on every write.
  const int64_t target = opts_.max_bytes_per_host - opts_.max_bytes_per_host / 10;
  Statement trim(db_, R"sql(
    DELETE FROM reports WHERE id IN (
      SELECT id FROM (
        SELECT id, SUM(length(report)) OVER (ORDER BY received_ms DESC, id DESC) AS newer
        FROM reports WHERE host = ?1)
      WHERE newer > ?2))sql");
  if (!trim.ok() || !trim.BindText(1, host).Bind(2, target).Run()) {
    return Error("cannot apply the per-host byte bound");
  }
  return CountHost(host);
}

Expected<std::vector<StoredHost>> Store::LoadHosts() {
  Statement hosts(db_, R"sql(
    SELECT host, agent_version, os, os_version, instance_id, boot_id, interval_ms, last_seen_ms,
           reports_total, duplicates_total FROM hosts ORDER BY host)sql");
  Statement last(db_, R"sql(
    SELECT report, received_ms FROM reports WHERE host = ?1
    ORDER BY received_ms DESC, id DESC LIMIT 1)sql");
  Statement config(db_, R"sql(
    SELECT report, received_ms FROM reports WHERE host = ?1 AND has_config
    ORDER BY received_ms DESC, id DESC LIMIT 1)sql");
  if (!hosts.ok() || !last.ok() || !config.ok()) return Error("cannot read hosts");
  std::vector<StoredHost> out;
  int rc;
  while ((rc = hosts.Step()) == SQLITE_ROW) {
    StoredHost h;
    h.host = hosts.Text(0);
    h.hello.hostname = h.host;
    h.hello.agent_version = hosts.Text(1);
    const int64_t os = hosts.Int(2);
    h.hello.os = os == 1 ? OsKind::kLinux : os == 2 ? OsKind::kWindows : OsKind::kUnknown;
    h.hello.os_version = hosts.Text(3);
    h.hello.instance_id = hosts.Text(4);
    h.hello.boot_id = hosts.Text(5);
    h.hello.interval_ms = static_cast<uint32_t>(hosts.Int(6));
    h.last_seen_unix_ms = hosts.Int(7);
    h.reports_total = static_cast<uint64_t>(hosts.Int(8));
    h.duplicates_total = static_cast<uint64_t>(hosts.Int(9));
    auto d = host_dropped_.find(h.host);
    h.agent_dropped_total = d == host_dropped_.end() ? 0 : d->second;
    last.BindText(1, h.host);
    if (last.Step() == SQLITE_ROW) {
      h.has_report = true;
      h.last_payload = last.Blob(0);
      h.last_received_unix_ms = last.Int(1);
    }
    last.Reset();
    config.BindText(1, h.host);
    if (config.Step() == SQLITE_ROW) {
      h.last_config_payload = config.Blob(0);
      h.last_config_received_unix_ms = config.Int(1);
    }
    config.Reset();
    out.push_back(std::move(h));
  }
  if (rc != SQLITE_DONE) return Error("cannot read hosts");
  return out;
}

Expected<std::vector<HistoryRow>> Store::History(const std::string& host, int64_t since_unix_ms,
                                                 size_t limit) {
  Statement q(db_, R"sql(
    SELECT instance_id, sequence, collected_ms, received_ms, ports_in_use, ports_usable,
           time_wait, report
    FROM reports WHERE host = ?1 AND received_ms >= ?2 ORDER BY received_ms, id LIMIT ?3)sql");
  if (!q.ok()) return Error("cannot read history");
  q.BindText(1, host).Bind(2, since_unix_ms).Bind(3, static_cast<int64_t>(limit));
  std::vector<HistoryRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    HistoryRow r;
    r.instance_id = q.Text(0);
    r.sequence = SequenceFromSql(q.Int(1));
    r.collected_unix_ms = q.Int(2);
    r.received_unix_ms = q.Int(3);
    r.ports_in_use = static_cast<uint32_t>(q.Int(4));
    r.ports_usable = static_cast<uint32_t>(q.Int(5));
    r.time_wait = static_cast<uint32_t>(q.Int(6));
    r.payload = q.Blob(7);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error("cannot read history");
  return out;
}

Expected<uint64_t> Store::Prune(int64_t now_unix_ms) {
  const int64_t cutoff = now_unix_ms - opts_.history_max_age_ms;
  Status st = Exec("BEGIN IMMEDIATE");
  if (!st.ok()) return st;
  // By receipt time: an agent's clock cannot keep its reports forever or have them pruned early.
  Statement by_age(db_, "DELETE FROM reports WHERE host = ?1 AND received_ms < ?2");
  Statement by_cap(db_, R"sql(
    DELETE FROM reports WHERE id IN (
      SELECT id FROM reports WHERE host = ?1 ORDER BY received_ms, id LIMIT ?2))sql");
  Statement old_marks(db_,
                      "SELECT host, instance_id, dropped_total FROM instances "
                      "WHERE last_seen_ms < ?1");
  Statement retire(db_,
                   "UPDATE hosts SET retired_dropped_total = retired_dropped_total + ?2 "
                   "WHERE host = ?1");
  Statement forget(db_, "DELETE FROM instances WHERE last_seen_ms < ?1");
  bool ok = by_age.ok() && by_cap.ok() && old_marks.ok() && retire.ok() && forget.ok();
  uint64_t deleted = 0;
  std::unordered_map<std::string, int64_t> rows = host_rows_;
  for (auto it = rows.begin(); ok && it != rows.end(); ++it) {
    ok = by_age.BindText(1, it->first).Bind(2, cutoff).Run();
    it->second -= sqlite3_changes(db_);
    deleted += static_cast<uint64_t>(sqlite3_changes(db_));
    if (ok && it->second > opts_.max_reports_per_host) {
      ok = by_cap.BindText(1, it->first).Bind(2, it->second - opts_.max_reports_per_host).Run();
      it->second -= sqlite3_changes(db_);
      deleted += static_cast<uint64_t>(sqlite3_changes(db_));
    }
  }
  // Hosts that lost reports have their bytes counted again (only those: a scan per host).
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> recount;  // host: rows, bytes
  for (auto it = rows.begin(); ok && it != rows.end(); ++it) {
    if (it->second == host_rows_[it->first]) continue;
    auto r = CountHost(it->first);
    ok = r.ok();
    if (ok) recount[it->first] = *r;
  }
  // An instance not heard from within the history window will not replay anything the
  // history still holds; its drops move into the host's retired total so the sum stays.
  std::vector<std::string> forgotten;
  if (ok) {
    old_marks.Bind(1, cutoff);
    while (ok && old_marks.Step() == SQLITE_ROW) {
      const std::string host = old_marks.Text(0);
      forgotten.push_back(MarkKey(host, old_marks.Text(1)));
      ok = retire.BindText(1, host).Bind(2, old_marks.Int(2)).Run();
    }
    old_marks.Reset();
  }
  if (ok) ok = forget.Bind(1, cutoff).Run();
  st = EndTransaction(ok, "cannot prune history");
  if (!st.ok()) return st;
  for (auto& [host, rb] : recount) {
    host_rows_[host] = rb.first;
    host_bytes_[host] = rb.second;
  }
  for (const std::string& key : forgotten) {
    marks_.erase(key);
    auto n = host_instances_.find(key.substr(0, key.find('\n')));
    if (n != host_instances_.end() && --n->second <= 0) host_instances_.erase(n);
  }
  return deleted;
}

}  // namespace portwatch::collector
