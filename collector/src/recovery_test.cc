// Start-up recovery against a real SQLite store on disk: what the analysis knows after a restart.
#include "src/recovery.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "portwatch/v1/portwatch.pb.h"
#include "portwatch/wire.h"
#include "src/settings_test_util.h"

namespace portwatch::collector {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kNow = 1'800'000'000'000;
constexpr int64_t kHour = 3'600'000;

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("recovery-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    StoreOptions o;
    o.path = (dir_ / "collector.db").string();
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.error();
    store_ = std::move(*s);
    StoreOp hello;
    hello.kind = StoreOp::Kind::kHello;
    hello.host = "win01";
    hello.now_unix_ms = kNow - 60 * kHour;
    hello.hello.hostname = "win01";
    hello.hello.os = OsKind::kWindows;
    hello.hello.instance_id = "i1";
    ASSERT_TRUE(store_->Write({hello}).ok());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  // A stored report of win01 received at `at`, with settings when `config` is set.
  void Put(uint64_t seq, int64_t at, const ConfigSnapshot* config = nullptr) {
    auto w = store_->Write({Op(seq, at, config)});
    ASSERT_TRUE(w.ok()) << w.error();
  }
  static StoreOp Op(uint64_t seq, int64_t at, const ConfigSnapshot* config = nullptr,
                    uint32_t ports = 100) {
    Report r;
    r.sequence = seq;
    r.collected_unix_ms = at;
    r.sockets.ephemeral_range = {49152, 65535};
    r.sockets.ephemeral_ports_usable = 16384;
    r.sockets.ephemeral_ports_in_use = ports;
    if (config != nullptr) {
      r.has_config = true;
      r.config = *config;
    }
    v1::Report wire;
    ToProto(r, &wire);
    StoreOp op;
    op.kind = StoreOp::Kind::kReport;
    op.host = "win01";
    op.report.host = "win01";
    op.report.instance_id = "i1";
    op.report.sequence = seq;
    op.report.collected_unix_ms = at;
    op.report.received_unix_ms = at;
    op.report.ports_in_use = ports;
    op.report.ports_usable = 16384;
    op.report.has_config = r.has_config;
    op.report.payload = wire.SerializeAsString();
    return op;
  }

  // Closes and opens the database again, as a collector restart does.
  void Reopen(StoreOptions o = {}) {
    o.path = (dir_ / "collector.db").string();
    store_.reset();
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.error();
    store_ = std::move(*s);
  }

  std::optional<analysis::HostStatus> Restart() {
    FleetState fleet;
    EXPECT_TRUE(RestoreFleet(*store_, fleet).ok());
    auto drift = DriftMonitor::Create(analysis::Options{});
    EXPECT_TRUE(drift.ok());
    auto replayed = RestoreDrift(*store_, fleet, **drift, kNow);
    EXPECT_TRUE(replayed.ok()) << replayed.error();
    replayed_ = replayed.ok() ? *replayed : 0;
    return (*drift)->Host("win01", kNow);
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  size_t replayed_ = 0;
};

// The agent sent its settings once, before the span the analysis replays (8 days by default):
// without them the host would run on Windows' default 120 s until the next snapshot.
TEST_F(RecoveryTest, ReplayStartsWithTheSettingsStoredBeforeTheSpan) {
  const ConfigSnapshot tw30 = WindowsTimeWaitSettings(30);
  Put(1, kNow - 9 * 24 * kHour, &tw30);
  for (uint64_t i = 0; i < 20; ++i) Put(2 + i, kNow - kHour + static_cast<int64_t>(i) * 60'000);
  auto h = Restart();
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(replayed_, 20u) << "the settings report lies outside the replayed span";
  EXPECT_EQ(h->time_wait_s, 30);
  EXPECT_EQ(h->time_wait_source, "TcpTimedWaitDelay");
}

// A change inside the span is replayed in order: the newest settings are the ones in force.
TEST_F(RecoveryTest, SettingsChangedInsideTheSpanWin) {
  const ConfigSnapshot tw30 = WindowsTimeWaitSettings(30), tw240 = WindowsTimeWaitSettings(240);
  Put(1, kNow - 50 * kHour, &tw30);
  Put(2, kNow - 2 * kHour);
  Put(3, kNow - kHour, &tw240);
  Put(4, kNow - kHour + 60'000);
  auto h = Restart();
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->time_wait_s, 240);
}

// With no settings stored at all, the analysis says where its figure comes from.
TEST_F(RecoveryTest, NoStoredSettingsFallsBackToTheOsDefault) {
  Put(1, kNow - kHour);
  auto h = Restart();
  ASSERT_TRUE(h.has_value());
  EXPECT_NE(h->time_wait_source, "TcpTimedWaitDelay");
}

// Retention pruned the report row that carried the host's settings (here by age; the byte bound
// does the same): after a restart they still come from the host row, for fleet state and for
// the analysis.
TEST_F(RecoveryTest, SettingsSurviveTheirPrunedReportRow) {
  const ConfigSnapshot tw30 = WindowsTimeWaitSettings(30);
  Put(1, kNow - 9 * 24 * kHour, &tw30);
  for (uint64_t i = 0; i < 20; ++i) Put(2 + i, kNow - kHour + static_cast<int64_t>(i) * 60'000);
  auto pruned = store_->Prune(kNow);
  ASSERT_TRUE(pruned.ok()) << pruned.error();
  EXPECT_EQ(*pruned, 1u);
  auto left = store_->History("win01", 0, 100);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->size(), 20u) << "the settings report row is gone";
  Reopen();
  FleetState fleet;
  ASSERT_TRUE(RestoreFleet(*store_, fleet).ok());
  std::shared_ptr<const ConfigSnapshot> config;
  fleet.ForEach([&](const HostView& v) { config = v.config; });
  ASSERT_NE(config, nullptr) << "fleet state lost the settings";
  EXPECT_EQ(*config, tw30);
  auto h = Restart();
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->time_wait_s, 30);
  EXPECT_EQ(h->time_wait_source, "TcpTimedWaitDelay");
}

// The host's seasonal ring holds 8 days; the replay fills it (the 6 days before the 48-h bucket
// ring coarse, from summary columns), so a restart keeps the week's baseline. Reports beyond
// the ring are not read.
TEST_F(RecoveryTest, ReplayCoversTheSeasonalRing) {
  std::vector<StoreOp> ops;
  uint64_t seq = 1;
  const int64_t step = 10 * 60'000;
  for (int64_t at = kNow - 10 * 24 * kHour; at < kNow; at += step) {
    const double day = static_cast<double>(at % (24 * kHour)) / (24 * kHour);
    const auto ports = static_cast<uint32_t>(3000 + 2000 * std::sin(2 * M_PI * day));
    ops.push_back(Op(seq++, at, nullptr, ports));
  }
  auto w = store_->Write(ops);
  ASSERT_TRUE(w.ok()) << w.error();
  auto h = Restart();
  ASSERT_TRUE(h.has_value());
  const analysis::Options o;
  const int64_t ring = o.host.season_slot_ms * o.host.season_slots;
  EXPECT_EQ(ring, 8 * 24 * kHour);
  EXPECT_NEAR(static_cast<double>(replayed_), static_cast<double>(ring / step), 2)
      << "the 8 days of the ring, not the 10 stored";
  EXPECT_TRUE(h->ports.fit.season_available);
  EXPECT_GE(h->ports.fit.season_days, 6u) << "a 48-h replay leaves one earlier day";
  const ReplaySpan span = ReplaySpanFor(o);
  EXPECT_EQ(span.full_ms, 48 * kHour);
  EXPECT_EQ(span.total_ms, ring);
}

}  // namespace
}  // namespace portwatch::collector
