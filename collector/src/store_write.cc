// The store: writing a batch of hellos and reports, and the per-host bounds it enforces.
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
  Statement settings(db_, R"sql(
    UPDATE hosts SET config_report = ?2, config_collected_ms = ?3, config_received_ms = ?4
    WHERE host = ?1 AND config_received_ms <= ?4)sql");
  Statement oldest(db_, R"sql(
    SELECT instance_id, dropped_total FROM instances WHERE host = ?1
    ORDER BY last_seen_ms, instance_id LIMIT 1)sql");
  Statement evict(db_, "DELETE FROM instances WHERE host = ?1 AND instance_id = ?2");
  Statement retire(db_,
                   "UPDATE hosts SET retired_dropped_total = retired_dropped_total + ?2 "
                   "WHERE host = ?1");
  if (!hello.ok() || !report.ok() || !instance.ok() || !counts.ok() || !settings.ok() ||
      !oldest.ok() || !evict.ok() || !retire.ok()) {
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
    const StoredReport* config = nullptr;  // the newest received report with settings
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
    if (!duplicate && r.has_config &&
        (c.config == nullptr || r.received_unix_ms >= c.config->received_unix_ms)) {
      c.config = &r;
    }
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
  // The newest settings go on the host row too: the report row holding them may be pruned by
  // age or by the byte bound long before the agent sends them again.
  for (auto it = per_host.begin(); ok && it != per_host.end(); ++it) {
    const StoredReport* c = it->second.config;
    if (c == nullptr) continue;
    ok = settings.BindText(1, it->first)
             .BindBlob(2, c->payload)
             .Bind(3, c->collected_unix_ms)
             .Bind(4, c->received_unix_ms)
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

}  // namespace portwatch::collector
