// The store: retention by age and count, and forgetting old agent instances.
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
