#include "src/store_writer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>

#include "portwatch/files.h"

namespace portwatch::collector {
namespace {

namespace fs = std::filesystem;

class StoreWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("writer-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    StoreOptions o;
    o.path = (dir_ / "c.db").string();
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.error();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  // A report request whose completion records its outcome.
  WriteRequest Request(uint64_t seq) {
    WriteRequest r;
    r.op.kind = StoreOp::Kind::kReport;
    r.op.host = "web01";
    r.op.report.host = "web01";
    r.op.report.instance_id = "a";
    r.op.report.sequence = seq;
    // Recent, or the writer's retention pass would prune them at once.
    r.op.report.collected_unix_ms = NowUnixMs() - 1000 + static_cast<int64_t>(seq);
    r.op.report.received_unix_ms = r.op.report.collected_unix_ms;
    r.op.report.payload = "x";
    r.report.sequence = seq;
    r.report.collected_unix_ms = r.op.report.collected_unix_ms;
    r.done = [this, seq](const WriteOutcome& o) {
      std::lock_guard<std::mutex> lk(mu_);
      // The ack goes out before the batch reaches fleet state: the events seen so far are
      // those of earlier batches only.
      outcomes_.push_back(std::to_string(seq) + (o.ok ? (o.duplicate ? "D" : "S") : "F") +
                          std::to_string(events_.size()));
      cv_.notify_all();
    };
    return r;
  }

  void WaitFor(size_t n) {
    std::unique_lock<std::mutex> lk(mu_);
    ASSERT_TRUE(cv_.wait_for(lk, std::chrono::seconds(10), [&] { return outcomes_.size() >= n; }));
  }

  // The writer's sink: what each committed batch hands to the state thread.
  StoreWriter::CommittedSink Sink() {
    return [this](std::vector<StateEvent> evs) {
      std::lock_guard<std::mutex> lk(mu_);
      for (const StateEvent& e : evs) {
        events_.push_back(std::string(e.kind == StateEvent::Kind::kDuplicate ? "D" : "R") +
                          std::to_string(e.kind == StateEvent::Kind::kReport ? e.report.sequence
                                                                             : 0));
      }
    };
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::vector<std::string> events_;
  prometheus::Registry registry_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> outcomes_;
};

TEST_F(StoreWriterTest, CompletesInOrderAfterCommitting) {
  StoreWriter w(*store_, registry_, Sink());
  w.Start();
  for (uint64_t seq : {1, 2, 2, 3}) ASSERT_TRUE(w.Submit(Request(seq)));
  WaitFor(4);
  w.Stop();  // the store is the writer's alone while it runs
  ASSERT_EQ(outcomes_.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(outcomes_[i].substr(0, 2), (std::vector<std::string>{"1S", "2S", "2D", "3S"}[i]));
  }
  // Every committed report, then the duplicate, reached the sink in commit order.
  EXPECT_EQ(events_, (std::vector<std::string>{"R1", "R2", "D0", "R3"}));
  auto history = store_->History("web01", 0, 10);
  EXPECT_EQ(history->size(), 3u);
}

TEST_F(StoreWriterTest, AFullQueueRefusesAndCounts) {
  StoreWriterOptions o;
  o.max_queue = 2;
  StoreWriter w(*store_, registry_, Sink(), o);  // not started: nothing drains
  EXPECT_TRUE(w.Submit(Request(1)));
  EXPECT_TRUE(w.Submit(Request(2)));
  EXPECT_FALSE(w.Submit(Request(3)));
  double refused = -1;
  for (const auto& f : registry_.Collect()) {
    if (f.name == "portwatch_store_queue_full_total") refused = f.metric[0].counter.value;
  }
  EXPECT_EQ(refused, 1);
  // Stopping commits what was queued.
  w.Start();
  w.Stop();
  EXPECT_EQ(outcomes_, (std::vector<std::string>{"1S0", "2S0"}));  // one batch: acks first
  EXPECT_EQ(events_, (std::vector<std::string>{"R1", "R2"}));
}

}  // namespace
}  // namespace portwatch::collector
