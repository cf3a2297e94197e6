#include "src/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace portwatch::collector {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("store-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    opts_.path = (dir_ / "collector.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> OpenOk() {
    auto s = Store::Open(opts_);
    EXPECT_TRUE(s.ok()) << s.error();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static StoreOp Hello(const std::string& host, const std::string& instance, int64_t now) {
    StoreOp op;
    op.kind = StoreOp::Kind::kHello;
    op.host = host;
    op.now_unix_ms = now;
    op.hello.hostname = host;
    op.hello.agent_version = "1.2.3";
    op.hello.os = OsKind::kLinux;
    op.hello.instance_id = instance;
    op.hello.interval_ms = 15000;
    return op;
  }

  static StoreOp Report(const std::string& host, const std::string& instance, uint64_t seq,
                        int64_t collected, uint64_t dropped = 0) {
    StoreOp op;
    op.kind = StoreOp::Kind::kReport;
    op.host = host;
    StoredReport& r = op.report;
    r.host = host;
    r.instance_id = instance;
    r.sequence = seq;
    r.collected_unix_ms = collected;
    r.received_unix_ms = collected + 5;
    r.ports_in_use = static_cast<uint32_t>(seq * 10);
    r.ports_usable = 28232;
    r.time_wait = static_cast<uint32_t>(seq);
    r.agent_dropped_total = dropped;
    r.payload = "payload " + instance + "/" + std::to_string(seq);
    return op;
  }

  // Duplicate flags of a batch's results, as a string of D (duplicate) and S (stored).
  static std::string Outcomes(const std::vector<StoreOpResult>& results,
                              const std::vector<StoreOp>& ops) {
    std::string s;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].kind == StoreOp::Kind::kReport) s += results[i].duplicate ? 'D' : 'S';
    }
    return s;
  }

  std::string WriteOk(Store& s, const std::vector<StoreOp>& ops) {
    auto r = s.Write(ops);
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() ? Outcomes(*r, ops) : "";
  }

  // Runs one query in a separate connection, as an operator's sqlite3 would.
  int64_t Query(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(opts_.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_type(st, 0) == SQLITE_TEXT
              ? static_cast<int64_t>(
                    std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal")
              : sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
  }

  // Writes a database as an older collector left it: its tables (kOldTables), then `sql`.
  void CreateOldDatabase(const char* sql);

  fs::path dir_;
  StoreOptions opts_;
};

TEST_F(StoreTest, AReportIsStoredOnceWhateverHowOftenItArrives) {
  auto s = OpenOk();
  EXPECT_EQ(WriteOk(*s, {Hello("web01", "a", 100), Report("web01", "a", 1, 1000),
                         Report("web01", "a", 2, 2000), Report("web01", "a", 2, 2000)}),
            "SSD");
  // A resend after a lost ack: 1 and 2 again, then the new 3.
  EXPECT_EQ(WriteOk(*s, {Report("web01", "a", 1, 1000), Report("web01", "a", 2, 2000),
                         Report("web01", "a", 3, 3000)}),
            "DDS");
  auto history = s->History("web01", 0, 100);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[2].sequence, 3u);
  EXPECT_EQ((*history)[2].ports_in_use, 30u);
  EXPECT_EQ((*history)[2].payload, "payload a/3");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports"), 3);
}

TEST_F(StoreTest, SequencesAreScopedByInstanceAndHost) {
  auto s = OpenOk();
  EXPECT_EQ(WriteOk(*s, {Report("web01", "a", 1, 1000), Report("web01", "b", 1, 2000),
                         Report("db01", "a", 1, 1000), Report("web01", "a", 2, 3000)}),
            "SSSS");
  EXPECT_EQ(WriteOk(*s, {Report("web01", "b", 1, 2000)}), "D");
}

TEST_F(StoreTest, EverythingCommittedSurvivesAReopen) {
  {
    auto s = OpenOk();
    StoreOp with_settings = Report("web01", "a", 1, 1000, 0);
    with_settings.report.has_config = true;
    WriteOk(*s, {Hello("web01", "a", 100), with_settings, Report("web01", "a", 3, 3000, 4),
                 Report("web01", "a", 2, 2000, 1), Report("web01", "a", 3, 3000, 4)});
  }
  auto s = OpenOk();
  auto hosts = s->LoadHosts();
  ASSERT_TRUE(hosts.ok()) << hosts.error();
  ASSERT_EQ(hosts->size(), 1u);
  const StoredHost& h = (*hosts)[0];
  EXPECT_EQ(h.host, "web01");
  EXPECT_EQ(h.hello.agent_version, "1.2.3");
  EXPECT_EQ(h.hello.os, OsKind::kLinux);
  EXPECT_EQ(h.hello.interval_ms, 15000u);
  // 2 arrived after 3 (its mark was already 3), so it counts as a duplicate.
  EXPECT_EQ(h.reports_total, 2u);
  EXPECT_EQ(h.duplicates_total, 2u);
  EXPECT_EQ(h.agent_dropped_total, 4u);
  EXPECT_EQ(h.last_seen_unix_ms, 3005);
  ASSERT_TRUE(h.has_report);
  EXPECT_EQ(h.last_payload, "payload a/3");         // the latest collected
  EXPECT_EQ(h.last_config_payload, "payload a/1");  // the latest with settings
  // The marks came back too: old sequences stay duplicates.
  EXPECT_EQ(WriteOk(*s, {Report("web01", "a", 3, 3000), Report("web01", "a", 4, 4000)}), "DS");
}

TEST_F(StoreTest, DropsAddUpOverInstancesAndNeverGoBack) {
  auto s = OpenOk();
  auto r = s->Write({Report("web01", "a", 1, 1000, 5), Report("web01", "b", 1, 2000, 2),
                     Report("web01", "a", 2, 3000, 3)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].host_agent_dropped_total, 5u);
  EXPECT_EQ((*r)[1].host_agent_dropped_total, 7u);
  EXPECT_EQ((*r)[2].host_agent_dropped_total, 7u);  // a's count does not fall back to 3
}

TEST_F(StoreTest, RetentionKeepsTheNewestAndTheHost) {
  opts_.max_reports_per_host = 10;
  opts_.history_max_age_ms = 100000;
  {
    auto s = OpenOk();
    std::vector<StoreOp> ops{Hello("web01", "a", 100)};
    for (uint64_t i = 1; i <= 15; ++i) {
      ops.push_back(Report("web01", "a", i, 1000000 + static_cast<int64_t>(i) * 1000, i));
    }
    ops.push_back(Report("old01", "z", 1, 1000, 9));  // long ago
    WriteOk(*s, ops);
    auto pruned = s->Prune(1000000 + 16000);
    ASSERT_TRUE(pruned.ok()) << pruned.error();
    EXPECT_EQ(*pruned, 6u);  // 5 over web01's cap, old01's one by age
    auto history = s->History("web01", 0, 100);
    ASSERT_EQ(history->size(), 10u);
    EXPECT_EQ(history->front().sequence, 6u);
    // old01's instance mark is gone with its history, but its drops still count for the host.
    EXPECT_EQ(Query("SELECT COUNT(*) FROM instances WHERE host = 'old01'"), 0);
  }
  auto s = OpenOk();
  auto hosts = s->LoadHosts();
  ASSERT_EQ(hosts->size(), 2u);
  EXPECT_EQ((*hosts)[0].host, "old01");
  EXPECT_EQ((*hosts)[0].agent_dropped_total, 9u);
  EXPECT_FALSE((*hosts)[0].has_report);
  EXPECT_EQ((*hosts)[1].agent_dropped_total, 15u);
  // The cap keeps holding after a reopen: counts were reloaded.
  WriteOk(*s, {Report("web01", "a", 16, 1000000 + 16000)});
  ASSERT_TRUE(s->Prune(1000000 + 16000).ok());
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports WHERE host = 'web01'"), 10);
}

TEST_F(StoreTest, UsesWalAndTheChosenSyncMode) {
  auto s = OpenOk();
  WriteOk(*s, {Report("web01", "a", 1, 1000)});
  EXPECT_EQ(Query("PRAGMA journal_mode"), 1);  // "wal"
  EXPECT_TRUE(fs::exists(opts_.path + "-wal"));
}

TEST_F(StoreTest, ASecondCollectorOnTheSameDatabaseIsRefused) {
  auto first = OpenOk();
  auto second = Store::Open(opts_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().find("in use by another portwatch-collector"), std::string::npos)
      << second.error();
}

TEST_F(StoreTest, UnusablePathsAreClearErrors) {
  StoreOptions o = opts_;
  o.path = (dir_ / "missing" / "dir" / "c.db").string();
  auto s = Store::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("--db"), std::string::npos) << s.error();

  o.path = (dir_ / "garbage.db").string();
  {
    std::ofstream f(o.path, std::ios::binary);
    for (int i = 0; i < 8192; ++i) f.put(static_cast<char>((i * 131) & 0xff));
  }
  s = Store::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("garbage.db"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("--db"), std::string::npos) << s.error();
}

// Sequences are unsigned 64-bit end to end: from 2^63 up they are stored as negative integers,
// and schema 1's SQL max() then kept an older, smaller mark, so after a restart the collector
// no longer knew what it had stored.
TEST_F(StoreTest, SequencesAboveTwoToTheSixtyThirdKeepTheirOrder) {
  const uint64_t big = (uint64_t{1} << 63) + 5;
  {
    auto s = OpenOk();
    EXPECT_EQ(WriteOk(*s, {Report("web01", "a", 3, 1000), Report("web01", "a", big, 2000)}), "SS");
    EXPECT_EQ(WriteOk(*s, {Report("web01", "a", big + 1, 3000)}), "S");
  }
  auto s = OpenOk();  // the marks come back from the database
  EXPECT_EQ(WriteOk(*s, {Report("web01", "a", big, 2000), Report("web01", "a", 4, 2500),
                         Report("web01", "a", big + 2, 4000), Report("web01", "a", ~uint64_t{0}, 5000)}),
            "DDSS");
  auto h = s->History("web01", 0, 100);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 5u);
  EXPECT_EQ((*h)[1].sequence, big);
  EXPECT_EQ((*h)[4].sequence, ~uint64_t{0});
  // The same 64 bits in SQLite's signed integer; the mark is the unsigned maximum.
  EXPECT_EQ(Query("SELECT max_sequence FROM instances"), -1);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports WHERE sequence = -9223372036854775803"), 1);
}

// The tables of schemas 1 and 2, as older collectors created them (before the host row kept
// its settings); the schemas differ in the reports index.
constexpr char kOldTables[] = R"sql(
      CREATE TABLE hosts(host TEXT PRIMARY KEY, agent_version TEXT NOT NULL DEFAULT '',
        os INTEGER NOT NULL DEFAULT 0, os_version TEXT NOT NULL DEFAULT '',
        instance_id TEXT NOT NULL DEFAULT '', boot_id TEXT NOT NULL DEFAULT '',
        interval_ms INTEGER NOT NULL DEFAULT 0, first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL, reports_total INTEGER NOT NULL DEFAULT 0,
        duplicates_total INTEGER NOT NULL DEFAULT 0,
        retired_dropped_total INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE instances(host TEXT NOT NULL, instance_id TEXT NOT NULL,
        max_sequence INTEGER NOT NULL, dropped_total INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL, PRIMARY KEY(host, instance_id)) WITHOUT ROWID;
      CREATE TABLE reports(id INTEGER PRIMARY KEY, host TEXT NOT NULL, instance_id TEXT NOT NULL,
        sequence INTEGER NOT NULL, collected_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
        ports_in_use INTEGER NOT NULL, ports_usable INTEGER NOT NULL, time_wait INTEGER NOT NULL,
        has_config INTEGER NOT NULL DEFAULT 0, report BLOB NOT NULL,
        UNIQUE(host, instance_id, sequence));
)sql";

void StoreTest::CreateOldDatabase(const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(opts_.path.c_str(), &db), SQLITE_OK);
  const std::string all = std::string(kOldTables) + sql;
  EXPECT_EQ(sqlite3_exec(db, all.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// A schema-1 database whose mark SQL's signed max() left too low is repaired on open.
TEST_F(StoreTest, ASchemaOneDatabaseIsMigrated) {
  CreateOldDatabase(R"sql(
      CREATE INDEX reports_by_host_time ON reports(host, collected_ms);
      INSERT INTO hosts(host, first_seen_ms, last_seen_ms, reports_total) VALUES('web01', 1, 2, 2);
      INSERT INTO reports VALUES(1, 'web01', 'a', 7, 1000, 1005, 1, 2, 3, 0, x'00');
      INSERT INTO reports VALUES(2, 'web01', 'a', -9223372036854775803, 2000, 2005, 1, 2, 3, 0, x'00');
      INSERT INTO instances VALUES('web01', 'a', 7, 0, 2005);
      PRAGMA user_version=1;)sql");
  auto s = OpenOk();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Query("PRAGMA user_version"), 3);
  auto h = s->History("web01", 0, 10);
  ASSERT_TRUE(h.ok()) << h.error();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].sequence, 7u);
  EXPECT_EQ((*h)[1].sequence, (uint64_t{1} << 63) + 5);
  // The migrated mark still recognises what was stored, and takes what comes after.
  EXPECT_EQ(WriteOk(*s, {Report("web01", "a", 7, 1000), Report("web01", "a", (uint64_t{1} << 63) + 6,
                                                                3000)}),
            "DS");
}

// A schema-2 database (no settings on the host row) gets them from the newest report that
// carried settings, and keeps them from then on whatever prunes the reports.
TEST_F(StoreTest, ASchemaTwoDatabaseKeepsItsSettingsOnTheHostRow) {
  CreateOldDatabase(R"sql(
      CREATE INDEX reports_by_host_received ON reports(host, received_ms);
      INSERT INTO hosts(host, first_seen_ms, last_seen_ms, reports_total) VALUES('web01', 1, 9, 3);
      INSERT INTO hosts(host, first_seen_ms, last_seen_ms, reports_total) VALUES('db01', 1, 9, 1);
      INSERT INTO reports VALUES(1, 'web01', 'a', 1, 1000, 1005, 1, 2, 3, 1, 'old settings');
      INSERT INTO reports VALUES(2, 'web01', 'a', 2, 2000, 2005, 1, 2, 3, 1, 'new settings');
      INSERT INTO reports VALUES(3, 'web01', 'a', 3, 3000, 3005, 1, 2, 3, 0, 'no settings');
      INSERT INTO reports VALUES(4, 'db01', 'b', 1, 3000, 3005, 1, 2, 3, 0, 'no settings');
      INSERT INTO instances VALUES('web01', 'a', 3, 0, 3005);
      INSERT INTO instances VALUES('db01', 'b', 1, 0, 3005);
      PRAGMA user_version=2;)sql");
  opts_.history_max_age_ms = 1000;
  auto s = OpenOk();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Query("PRAGMA user_version"), 3);
  ASSERT_TRUE(s->Prune(10000).ok());
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports"), 0);
  s.reset();
  s = OpenOk();
  auto hosts = s->LoadHosts();
  ASSERT_TRUE(hosts.ok()) << hosts.error();
  ASSERT_EQ(hosts->size(), 2u);
  EXPECT_EQ((*hosts)[1].host, "web01");
  EXPECT_EQ((*hosts)[1].last_config_payload, "new settings");
  EXPECT_EQ((*hosts)[1].last_config_received_unix_ms, 2005);
  EXPECT_EQ((*hosts)[0].last_config_payload, "") << "db01 never sent settings";
  auto latest = s->LatestConfig("web01", 5000);
  ASSERT_TRUE(latest.ok()) << latest.error();
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->payload, "new settings");
  EXPECT_EQ((*latest)->collected_unix_ms, 2000);
}

// The byte bound prunes the report row that carried the host's settings: the host row still has
// them after a restart, and LatestConfig finds them (the newest before, or an older one still
// stored when the newest came later).
TEST_F(StoreTest, SettingsOutliveTheirPrunedReportRow) {
  opts_.max_bytes_per_host = 100000;
  auto s = OpenOk();
  StoreOp first = Report("web01", "a", 1, 1000);
  first.report.has_config = true;
  first.report.payload = "settings one";
  WriteOk(*s, {Hello("web01", "a", 1000), first});
  for (uint64_t i = 2; i <= 30; ++i) {
    StoreOp op = Report("web01", "a", i, 1000 + static_cast<int64_t>(i) * 1000);
    op.report.payload = std::string(10000, 'p');
    WriteOk(*s, {op});
  }
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports WHERE has_config"), 0) << "pruned by bytes";
  s.reset();
  s = OpenOk();
  auto hosts = s->LoadHosts();
  ASSERT_TRUE(hosts.ok()) << hosts.error();
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ((*hosts)[0].last_config_payload, "settings one");
  EXPECT_EQ((*hosts)[0].last_config_received_unix_ms, 1005);
  auto latest = s->LatestConfig("web01", 50000);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->payload, "settings one");
  latest = s->LatestConfig("web01", 1005);
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value()) << "none received before then";

  // New settings: the host row moves on; asked for before them, the stored older one answers.
  StoreOp second = Report("web01", "a", 31, 40000);
  second.report.has_config = true;
  second.report.payload = "settings two";
  StoreOp third = Report("web01", "a", 32, 41000);
  third.report.has_config = true;
  third.report.payload = "settings three";
  WriteOk(*s, {second, third});
  latest = s->LatestConfig("web01", 50000);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->payload, "settings three");
  latest = s->LatestConfig("web01", 41005);
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->payload, "settings two");
  EXPECT_EQ((*latest)->sequence, 31u) << "from its report row";
}

// The coarse history a restart replays: one row per span of receipt time, means of the summary
// columns, agent times held to their receipt, only the asked range.
TEST_F(StoreTest, CoarseHistoryAveragesTheSummaryColumnsPerSpan) {
  auto s = OpenOk();
  std::vector<StoreOp> ops;
  for (uint64_t i = 1; i <= 8; ++i) {
    StoreOp op = Report("web01", "a", i, static_cast<int64_t>(i) * 30000);  // received +5
    op.report.ports_in_use = static_cast<uint32_t>(i * 100);
    op.report.time_wait = static_cast<uint32_t>(i);
    op.report.ports_usable = i == 2 ? 30000 : 28232;
    if (i == 3) op.report.collected_unix_ms = 10'000'000;  // an agent clock far ahead
    ops.push_back(op);
  }
  WriteOk(*s, ops);
  // Received at 30005, 60005, ...: spans of 120 s hold 1-3 and 4-7; 8 (240005) is not asked.
  auto rows = s->CoarseHistory("web01", 0, 240005, 120000);
  ASSERT_TRUE(rows.ok()) << rows.error();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].reports, 3u);
  EXPECT_EQ((*rows)[0].ports_in_use, 200u);
  EXPECT_EQ((*rows)[0].time_wait, 2u);
  EXPECT_EQ((*rows)[0].ports_usable, 30000u);
  EXPECT_EQ((*rows)[0].received_unix_ms, 90005);
  EXPECT_EQ((*rows)[0].collected_unix_ms, 90005) << "held to its receipt time";
  EXPECT_EQ((*rows)[1].reports, 4u);
  EXPECT_EQ((*rows)[1].ports_in_use, 550u);
  EXPECT_EQ((*rows)[1].collected_unix_ms, 210000);
  EXPECT_EQ((*rows)[1].received_unix_ms, 210005);
  auto none = s->CoarseHistory("db01", 0, 240005, 120000);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// One agent certificate used to be able to fill the disk: the per-host byte bound now holds as
// each batch commits, oldest received first, and other hosts keep their history.
TEST_F(StoreTest, PerHostBytesAreBoundedAsReportsAreStored) {
  opts_.max_bytes_per_host = 100000;
  auto s = OpenOk();
  WriteOk(*s, {Report("web01", "a", 1, 1000)});
  for (uint64_t i = 1; i <= 50; ++i) {
    StoreOp op = Report("evil01", "x", i, 1000 + static_cast<int64_t>(i));
    op.report.payload = std::string(10000, 'p');
    WriteOk(*s, {op});
    EXPECT_LE(Query("SELECT SUM(length(report)) FROM reports WHERE host = 'evil01'"), 100000);
  }
  EXPECT_GE(Query("SELECT SUM(length(report)) FROM reports WHERE host = 'evil01'"), 80000);
  EXPECT_EQ(Query("SELECT MAX(sequence) - MIN(sequence) FROM reports WHERE host = 'evil01'"),
            Query("SELECT COUNT(*) - 1 FROM reports WHERE host = 'evil01'"));  // the newest kept
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports WHERE host = 'evil01' AND sequence = "
                  "50"), 1);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports WHERE host = 'web01'"), 1);
  // The bound survives a reopen (bytes are counted again at open).
  s.reset();
  s = OpenOk();
  StoreOp op = Report("evil01", "x", 51, 2000);
  op.report.payload = std::string(10000, 'p');
  WriteOk(*s, {op});
  EXPECT_LE(Query("SELECT SUM(length(report)) FROM reports WHERE host = 'evil01'"), 100000);
}

// Retention and replay go by receipt time: a report dated far in the future by its agent is
// neither kept forever nor returned as the latest.
TEST_F(StoreTest, RetentionAndLatestGoByReceiptTime) {
  opts_.history_max_age_ms = 10000;
  auto s = OpenOk();
  StoreOp future = Report("web01", "a", 1, 1000);
  future.report.collected_unix_ms = 1000 + 86400000;  // the agent's clock is a day ahead
  future.report.received_unix_ms = 1000;
  WriteOk(*s, {future, Report("web01", "a", 2, 5000)});
  auto hosts = s->LoadHosts();
  ASSERT_TRUE(hosts.ok());
  EXPECT_EQ((*hosts)[0].last_payload, "payload a/2");
  EXPECT_EQ((*hosts)[0].last_received_unix_ms, 5005);
  ASSERT_TRUE(s->Prune(12000).ok());
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports WHERE sequence = 1"), 0);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM reports"), 1);
}

// A new instance_id on every report used to add a mark (memory and a row) per report, kept for
// the whole history window. The marks per host are bounded; the newest instances keep theirs.
TEST_F(StoreTest, AgentInstancesPerHostAreBounded) {
  opts_.max_instances_per_host = 4;
  auto s = OpenOk();
  WriteOk(*s, {Hello("evil01", "i0", 1), Report("web01", "a", 1, 1000, 2)});
  for (int i = 0; i < 50; ++i) {
    StoreOp op = Report("evil01", "i" + std::to_string(i), 1, 1000 + i, 1);
    op.report.received_unix_ms = 1000 + i;
    WriteOk(*s, {op});
  }
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances WHERE host = 'evil01'"), 4);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances WHERE host = 'web01'"), 1);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances WHERE host = 'evil01' AND instance_id = 'i49'"),
            1);
  // A remembered instance still recognises its duplicates, and the drops still add up.
  EXPECT_EQ(WriteOk(*s, {Report("evil01", "i49", 1, 2000, 1)}), "D");
  auto hosts = s->LoadHosts();
  ASSERT_TRUE(hosts.ok());
  EXPECT_EQ((*hosts)[0].host, "evil01");
  EXPECT_EQ((*hosts)[0].agent_dropped_total, 50u);
  // The bound holds after a reopen.
  s.reset();
  s = OpenOk();
  WriteOk(*s, {Report("evil01", "j", 1, 3000)});
  EXPECT_EQ(Query("SELECT COUNT(*) FROM instances WHERE host = 'evil01'"), 4);
}

}  // namespace
}  // namespace portwatch::collector
