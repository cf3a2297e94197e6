#include "src/spool.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

namespace portwatch::agent {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (fs::temp_directory_path() / ("spool-test-" + std::to_string(std::random_device{}())))
                .string();
    ASSERT_TRUE(fs::create_directory(root_)) << root_;
    dir_ = root_ + "/spool";
  }
  void TearDown() override { fs::remove_all(root_); }

  SpoolOptions Options() {
    SpoolOptions o;
    o.dir = dir_;
    o.sync = false;  // the format is under test here, not the disk
    o.log = [this](const std::string& m) { log_.push_back(m); };
    return o;
  }

  std::unique_ptr<Spool> OpenOk(SpoolOptions o, int64_t now = 1000) {
    auto s = Spool::Open(std::move(o), now);
    EXPECT_TRUE(s.ok()) << s.error();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static std::string Payload(uint64_t seq, size_t size = 100) {
    std::string p = "report-" + std::to_string(seq) + "-";
    p.resize(size, 'x');
    return p;
  }

  // Every waiting report as instance:sequence, oldest first, checking each payload.
  static std::vector<std::string> Drain(Spool& s, size_t payload_size = 100) {
    std::vector<std::string> out;
    uint64_t after = 0;
    while (auto e = s.Next(after)) {
      EXPECT_EQ(e->payload, Payload(e->sequence, payload_size));
      out.push_back(e->instance_id + ":" + std::to_string(e->sequence));
      after = e->id;
    }
    return out;
  }

  std::vector<fs::path> Segments() const {
    std::vector<fs::path> out;
    for (const auto& d : fs::directory_iterator(dir_)) {
      if (d.path().extension() == ".pws") out.push_back(d.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  uint64_t SegmentBytes() const {
    uint64_t n = 0;
    for (const auto& p : Segments()) n += fs::file_size(p);
    return n;
  }

  bool Logged(const std::string& needle) const {
    for (const auto& m : log_) {
      if (m.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  std::string root_, dir_;
  std::vector<std::string> log_;
};

TEST(SpoolRecord, ReportAndConsumedRecordsReadBackAsWritten) {
  const std::string rec = EncodeReportRecord("abc", 7, -5, "payload");
  auto r = ReadRecord(rec.data(), rec.size());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, SpoolRecord::Kind::kReport);
  EXPECT_EQ(r->instance_id, "abc");
  EXPECT_EQ(r->sequence, 7u);
  EXPECT_EQ(r->created_unix_ms, -5);
  EXPECT_EQ(r->payload, "payload");
  EXPECT_EQ(r->length, rec.size());
  const std::string marker = EncodeConsumedRecord(3, 4096);
  auto m = ReadRecord(marker.data(), marker.size());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->kind, SpoolRecord::Kind::kConsumed);
  EXPECT_EQ(m->consumed_segment, 3u);
  EXPECT_EQ(m->consumed_offset, 4096u);
}

TEST(SpoolRecord, DamageIsRefusedAndTheNextIntactRecordFound) {
  const std::string first = EncodeReportRecord("i", 1, 0, "one");
  const std::string second = EncodeReportRecord("i", 2, 0, "two");
  std::string data = first + second;
  data[first.size() - 1] ^= 0x55;  // the first record's CRC no longer matches
  EXPECT_FALSE(ReadRecord(data.data(), data.size()).has_value());
  EXPECT_FALSE(ReadRecord(data.data(), first.size() - 1).has_value());  // cut short
  EXPECT_EQ(NextIntactRecord(data.data(), data.size(), 1), first.size());
  EXPECT_EQ(NextIntactRecord(first.data(), first.size() - 2, 1), first.size() - 2);
}

TEST(SpoolRecord, SegmentNamesRoundTripAndOtherNamesAreIgnored) {
  EXPECT_EQ(SegmentFileName(42), "seg-0000000000000042.pws");
  EXPECT_EQ(ParseSegmentFileName(SegmentFileName(42)), std::optional<uint64_t>(42));
  EXPECT_FALSE(ParseSegmentFileName("seg-00000000000000x2.pws").has_value());
  EXPECT_FALSE(ParseSegmentFileName("seg-42.pws").has_value());
  EXPECT_FALSE(ParseSegmentFileName("agent.lock").has_value());
}

TEST(Crc32, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32("123456789", 9), 0xCBF43926u);
  // Continuing a CRC over a split buffer gives the same result as one pass.
  EXPECT_EQ(Crc32("6789", 4, Crc32("12345", 5)), 0xCBF43926u);
}

TEST_F(SpoolTest, UnacknowledgedReportsSurviveAReopenInOrder) {
  {
    auto s = OpenOk(Options());
    for (uint64_t i = 1; i <= 5; ++i) s->Append("inst-a", i, 1000, Payload(i), 1000);
    EXPECT_TRUE(s->Acknowledge("inst-a", 2));  // covers 1 and 2
    EXPECT_EQ(s->stats().records, 3u);
  }
  auto s = OpenOk(Options());
  EXPECT_EQ(s->stats().recovered_records, 3u);
  // The new instance's reports queue behind its predecessor's.
  s->Append("inst-b", 1, 1000, Payload(1), 1000);
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"inst-a:3", "inst-a:4", "inst-a:5", "inst-b:1"}));
  EXPECT_EQ(s->WaitingInstances(), (std::vector<std::string>{"inst-a", "inst-b"}));
  EXPECT_EQ(s->stats().corrupt_records_total, 0u);
}

TEST_F(SpoolTest, FullyAcknowledgedSegmentsAreRemoved) {
  auto o = Options();
  o.segment_bytes = 1024;  // a few reports per segment
  auto s = OpenOk(o);
  for (uint64_t i = 1; i <= 40; ++i) s->Append("a", i, 1000, Payload(i), 1000);
  EXPECT_GT(Segments().size(), 5u);
  EXPECT_TRUE(s->Acknowledge("a", 40));
  EXPECT_EQ(s->stats().records, 0u);
  // Only the segment being written remains.
  EXPECT_LE(Segments().size(), 1u);
  EXPECT_EQ(s->stats().bytes, SegmentBytes());
  s.reset();
  EXPECT_TRUE(Drain(*OpenOk(o)).empty());
}

TEST_F(SpoolTest, AcknowledgingAnUnknownReportChangesNothing) {
  auto s = OpenOk(Options());
  s->Append("a", 1, 1000, Payload(1), 1000);
  EXPECT_FALSE(s->Acknowledge("a", 7));
  EXPECT_FALSE(s->Acknowledge("b", 1));
  EXPECT_EQ(s->stats().records, 1u);
}

// kill -9 or power loss in the middle of a write leaves a partial record at the end of the
// segment; it is skipped with a message and the records before it are delivered.
TEST_F(SpoolTest, TornTailIsSkippedAndTheRestDelivered) {
  {
    auto s = OpenOk(Options());
    for (uint64_t i = 1; i <= 3; ++i) s->Append("a", i, 1000, Payload(i), 1000);
  }
  auto seg = Segments().back();
  fs::resize_file(seg, fs::file_size(seg) - 7);
  auto s = OpenOk(Options());
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"a:1", "a:2"}));
  EXPECT_EQ(s->stats().corrupt_records_total, 1u);
  EXPECT_TRUE(Logged(seg.filename().string())) << log_.size();
  EXPECT_TRUE(Logged("to the end of the file"));
}

TEST_F(SpoolTest, GarbageInsideARecordSkipsOnlyThatRecord) {
  {
    auto s = OpenOk(Options());
    for (uint64_t i = 1; i <= 5; ++i) s->Append("a", i, 1000, Payload(i), 1000);
  }
  auto seg = Segments().back();
  const uint64_t record = fs::file_size(seg) / 5;  // equal-sized records
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(2 * record + 40));  // inside record 3's payload
    f.write("GARBAGE!", 8);
  }
  auto s = OpenOk(Options());
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"a:1", "a:2", "a:4", "a:5"}));
  EXPECT_EQ(s->stats().corrupt_records_total, 1u);
  EXPECT_TRUE(Logged("skipped " + std::to_string(record) + " damaged bytes at offset " +
                     std::to_string(2 * record)));
}

TEST_F(SpoolTest, ADamagedLengthFieldDoesNotSwallowTheRecordsAfterIt) {
  {
    auto s = OpenOk(Options());
    for (uint64_t i = 1; i <= 4; ++i) s->Append("a", i, 1000, Payload(i), 1000);
  }
  auto seg = Segments().back();
  const uint64_t record = fs::file_size(seg) / 4;
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(record + 4));  // record 2's length: claim 16 MiB - 1
    const char len[4] = {'\xff', '\xff', '\xff', '\x00'};
    f.write(len, 4);
  }
  auto s = OpenOk(Options());
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"a:1", "a:3", "a:4"}));
}

TEST_F(SpoolTest, AWholeGarbageFileIsSkippedAndRemoved) {
  {
    auto s = OpenOk(Options());
    for (uint64_t i = 1; i <= 2; ++i) s->Append("a", i, 1000, Payload(i), 1000);
  }
  const fs::path junk = fs::path(dir_) / "seg-0000000000000000.pws";  // sorts first
  {
    std::ofstream f(junk, std::ios::binary);
    for (int i = 0; i < 5000; ++i) f.put(static_cast<char>((i * 7919) & 0xff));
  }
  auto s = OpenOk(Options());
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"a:1", "a:2"}));
  EXPECT_EQ(s->stats().corrupt_records_total, 1u);
  EXPECT_TRUE(Logged(junk.filename().string()));
  EXPECT_FALSE(fs::exists(junk));
}

TEST_F(SpoolTest, AnEmptyOrTinyFileIsHarmless) {
  {
    auto s = OpenOk(Options());
    s->Append("a", 1, 1000, Payload(1), 1000);
  }
  std::ofstream(fs::path(dir_) / "seg-0000000000000000.pws", std::ios::binary).write("PW", 2);
  auto s = OpenOk(Options());
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"a:1"}));
}

TEST_F(SpoolTest, DamageFoundWhenSendingSkipsTheRecord) {
  auto s = OpenOk(Options());
  for (uint64_t i = 1; i <= 3; ++i) s->Append("a", i, 1000, Payload(i), 1000);
  {
    std::fstream f(Segments().back(), std::ios::in | std::ios::out | std::ios::binary);
    if (!f.is_open()) {
      GTEST_SKIP() << "this OS lets no other writer change a segment the agent has open, so "
                      "such damage cannot happen while it runs";
    }
    f.seekp(50);  // inside the first record's payload
    f.write("XX", 2);
    ASSERT_TRUE(f.good());
  }
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"a:2", "a:3"}));
  EXPECT_EQ(s->stats().corrupt_records_total, 1u);
  EXPECT_EQ(s->stats().records, 2u);
  EXPECT_TRUE(Logged("can no longer be read"));
}

TEST_F(SpoolTest, TheByteBoundDropsTheOldestAndCountsThem) {
  auto o = Options();
  o.max_bytes = 64 << 10;
  o.segment_bytes = 16 << 10;
  auto s = OpenOk(o);
  const int kReports = 300;
  for (int i = 1; i <= kReports; ++i) {
    s->Append("a", static_cast<uint64_t>(i), 1000, Payload(static_cast<uint64_t>(i), 1000), 1000);
    ASSERT_LE(SegmentBytes(), o.max_bytes) << "after report " << i;
  }
  const SpoolStats st = s->stats();
  EXPECT_GT(st.dropped_total, 0u);
  EXPECT_EQ(st.dropped_total + st.records, static_cast<uint64_t>(kReports));
  EXPECT_EQ(st.bytes, SegmentBytes());
  auto left = Drain(*s, 1000);
  // What is left is the newest, contiguous, ending with the last report.
  EXPECT_EQ(left.back(), "a:" + std::to_string(kReports));
  EXPECT_EQ(left.front(), "a:" + std::to_string(st.dropped_total + 1));
  EXPECT_TRUE(Logged("oldest unacknowledged reports"));
}

TEST_F(SpoolTest, TheAgeBoundDropsOldReports) {
  auto o = Options();
  o.max_age_ms = 10000;
  auto s = OpenOk(o, 0);
  for (int i = 1; i <= 10; ++i)
    s->Append("a", static_cast<uint64_t>(i), i * 1000, Payload(i), i * 1000);
  s->DropExpired(15500);  // older than 5500 go: 1..5
  EXPECT_EQ(s->stats().dropped_total, 5u);
  EXPECT_EQ(Drain(*s).front(), "a:6");
  s.reset();
  // The drop is remembered: a reopen at the same time finds only the newer ones.
  auto again = OpenOk(o, 15500);
  EXPECT_EQ(again->stats().recovered_records, 5u);
  EXPECT_EQ(again->stats().dropped_total, 0u);
}

TEST_F(SpoolTest, AFullDiskDegradesToMemoryAndRecovers) {
  auto o = Options();
  o.disk_retry_ms = 5000;
  bool disk_full = false;
  o.append_fn = [&disk_full](SegmentFile& f, const char* data, size_t n) -> Expected<size_t> {
    if (disk_full) {
      // Like a real full disk: part of the record gets written, then ENOSPC.
      if (n > 10) return f.Append(data, 10);
      return Status::Error("No space left on device");
    }
    return f.Append(data, n);
  };
  auto s = OpenOk(o);
  s->Append("a", 1, 1000, Payload(1), 1000);
  disk_full = true;
  s->Append("a", 2, 1000, Payload(2), 1000);
  s->Append("a", 3, 2000, Payload(3), 2000);  // within the retry pause: straight to memory
  EXPECT_TRUE(s->stats().degraded);
  EXPECT_EQ(s->stats().write_failures_total, 2u);
  EXPECT_EQ(s->stats().memory_records, 2u);
  EXPECT_TRUE(Logged("No space left on device"));
  disk_full = false;
  s->Append("a", 4, 7000, Payload(4), 7000);  // after the pause the disk is tried again
  EXPECT_FALSE(s->stats().degraded);
  EXPECT_TRUE(Logged("again"));
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"a:1", "a:2", "a:3", "a:4"}));
  // The partial writes were taken back: the files hold only intact records.
  s.reset();
  auto reopened = OpenOk(o, 7000);
  EXPECT_EQ(reopened->stats().corrupt_records_total, 0u);
  EXPECT_EQ(Drain(*reopened), (std::vector<std::string>{"a:1", "a:4"}));
}

TEST_F(SpoolTest, MemoryOnlySpoolIsBoundedByCount) {
  SpoolOptions o;
  o.max_memory_records = 3;
  o.log = [this](const std::string& m) { log_.push_back(m); };
  auto s = OpenOk(o);
  for (uint64_t i = 1; i <= 5; ++i) s->Append("a", i, 1000, Payload(i), 1000);
  EXPECT_EQ(s->stats().dropped_total, 2u);
  EXPECT_EQ(s->stats().write_failures_total, 0u);  // no disk to fail
  EXPECT_EQ(Drain(*s), (std::vector<std::string>{"a:3", "a:4", "a:5"}));
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(SpoolTest, ASecondAgentOnTheSameDirectoryIsRefused) {
  auto first = OpenOk(Options());
  std::string pid;  // the holder writes its pid into the lock file
  std::getline(std::ifstream(dir_ + "/lock"), pid);
  ASSERT_FALSE(pid.empty());
  auto second = Spool::Open(Options(), 1000);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().find("in use by another portwatch-agent (pid " + pid + ")"),
            std::string::npos)
      << second.error();
}

TEST_F(SpoolTest, AnUnusableDirectoryIsAClearError) {
  std::ofstream(root_ + "/file") << "x";
  auto o = Options();
  o.dir = root_ + "/file/spool";  // under a regular file: cannot exist
  auto s = Spool::Open(o, 1000);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("cannot create spool directory"), std::string::npos) << s.error();
  EXPECT_NE(s.error().find("--spool-dir"), std::string::npos) << s.error();
}

}  // namespace
}  // namespace portwatch::agent
