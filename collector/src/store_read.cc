// The store: reading hosts and history back (start-up, replay).
#include "src/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "src/store_internal.h"

namespace portwatch::collector {

using store_internal::MarkKey;
using store_internal::SequenceFromSql;
using store_internal::SqlSequence;

Expected<std::vector<StoredHost>> Store::LoadHosts() {
  Statement hosts(db_, R"sql(
    SELECT host, agent_version, os, os_version, instance_id, boot_id, interval_ms, last_seen_ms,
           reports_total, duplicates_total, config_report, config_received_ms
    FROM hosts ORDER BY host)sql");
  Statement last(db_, R"sql(
    SELECT report, received_ms FROM reports WHERE host = ?1
    ORDER BY received_ms DESC, id DESC LIMIT 1)sql");
  if (!hosts.ok() || !last.ok()) return Error("cannot read hosts");
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
    // Kept on the host row: the report row it came in may be pruned.
    h.last_config_payload = hosts.Blob(10);
    h.last_config_received_unix_ms = h.last_config_payload.empty() ? 0 : hosts.Int(11);
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

Expected<std::vector<CoarseRow>> Store::CoarseHistory(const std::string& host,
                                                      int64_t since_unix_ms, int64_t until_unix_ms,
                                                      int64_t span_ms) {
  // The report blob is the last column: SQLite reads the summary columns without it.
  Statement q(db_, R"sql(
    SELECT MAX(MIN(collected_ms, received_ms)), MAX(received_ms),
           CAST(ROUND(AVG(ports_in_use)) AS INTEGER), CAST(ROUND(AVG(time_wait)) AS INTEGER),
           MAX(ports_usable), COUNT(*)
    FROM reports WHERE host = ?1 AND received_ms >= ?2 AND received_ms < ?3
    GROUP BY received_ms / ?4 ORDER BY received_ms / ?4)sql");
  if (!q.ok()) return Error("cannot read history");
  q.BindText(1, host)
      .Bind(2, since_unix_ms)
      .Bind(3, until_unix_ms)
      .Bind(4, std::max<int64_t>(1, span_ms));
  std::vector<CoarseRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    CoarseRow r;
    r.collected_unix_ms = q.Int(0);
    r.received_unix_ms = q.Int(1);
    r.ports_in_use = static_cast<uint32_t>(q.Int(2));
    r.time_wait = static_cast<uint32_t>(q.Int(3));
    r.ports_usable = static_cast<uint32_t>(q.Int(4));
    r.reports = static_cast<uint32_t>(q.Int(5));
    out.push_back(r);
  }
  if (rc != SQLITE_DONE) return Error("cannot read history");
  return out;
}

Expected<std::optional<HistoryRow>> Store::LatestConfig(const std::string& host,
                                                        int64_t before_unix_ms) {
  // The host row holds the newest settings whatever retention removed: when they came before
  // `before_unix_ms` they are the answer. Otherwise an older snapshot, if still stored, is.
  Statement newest(db_, R"sql(
    SELECT config_report, config_collected_ms, config_received_ms FROM hosts
    WHERE host = ?1 AND config_report IS NOT NULL AND config_received_ms < ?2)sql");
  if (!newest.ok()) return Error("cannot read stored settings");
  newest.BindText(1, host).Bind(2, before_unix_ms);
  int rc = newest.Step();
  if (rc == SQLITE_ROW) {
    HistoryRow r;
    r.collected_unix_ms = newest.Int(1);
    r.received_unix_ms = newest.Int(2);
    r.payload = newest.Blob(0);
    return std::optional<HistoryRow>(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error("cannot read stored settings");
  Statement q(db_, R"sql(
    SELECT instance_id, sequence, collected_ms, received_ms, report FROM reports
    WHERE host = ?1 AND has_config AND received_ms < ?2
    ORDER BY received_ms DESC, id DESC LIMIT 1)sql");
  if (!q.ok()) return Error("cannot read stored settings");
  q.BindText(1, host).Bind(2, before_unix_ms);
  rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<HistoryRow>();
  if (rc != SQLITE_ROW) return Error("cannot read stored settings");
  HistoryRow r;
  r.instance_id = q.Text(0);
  r.sequence = SequenceFromSql(q.Int(1));
  r.collected_unix_ms = q.Int(2);
  r.received_unix_ms = q.Int(3);
  r.payload = q.Blob(4);
  return std::optional<HistoryRow>(std::move(r));
}

}  // namespace portwatch::collector
