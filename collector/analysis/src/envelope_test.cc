#include "portwatch/analysis/envelope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace portwatch::analysis {
namespace {

constexpr int64_t kHourMs = 3'600'000;

// A tooth from `start_h` to `start_h + 4` h whose held low is `low` (at its start) and held high
// `high` (at its end), ended by `end`.
SegmentRecord Tooth(double start_h, float low, float high, Boundary end = Boundary::kDown) {
  SegmentRecord r;
  r.start_ms = static_cast<int64_t>(start_h * kHourMs);
  r.end_ms = r.start_ms + 4 * kHourMs;
  r.low_ms = r.start_ms;
  r.low = low;
  r.high = high;
  r.end = end;
  return r;
}

OpenSegment Open(double low_h, double low, double recent) {
  OpenSegment o;
  o.has_range = true;
  o.low = low;
  o.low_ms = static_cast<int64_t>(low_h * kHourMs);
  o.recent_level = recent;
  return o;
}

TEST(HeldRangeTest, IgnoresSpikesShorterThanTheHold) {
  std::vector<Point> pts;
  for (int i = 0; i < 40; ++i) pts.push_back({static_cast<double>(i), 1000.0 + 10 * i});
  pts[3].x = 0;       // one dip
  pts[30].x = 99999;  // one spike
  std::vector<Point> scratch;
  const HeldRange r = HeldRangeOf(pts.data(), pts.size(), 3, &scratch);
  ASSERT_TRUE(r.valid);
  // Third lowest: the dip and 1000 are below it.
  EXPECT_EQ(r.low, 1010);
  EXPECT_EQ(r.low_t, 1);
  // Third highest: the spike and 1390 are above it.
  EXPECT_EQ(r.high, 1380);
}

TEST(MinimaTrendTest, RisingTroughsAcrossReleasesGiveTheNetRate) {
  // Gross +1000 ports/h for 4 h, then 60% of it released: troughs rise 1600 per 4 h (400/h net).
  SegmentHistory h;
  for (int k = 0; k < 3; ++k) h.Record(Tooth(4.0 * k, 2000 + 1600.0f * k, 6000 + 1600.0f * k));
  const Options options;
  const int64_t now = 13 * kHourMs;  // an hour into the fourth tooth
  const MinimaVerdict v =
      h.Evaluate(Open(12, 2000 + 1600 * 3, 6800 + 1000), 16384, 300, 0, now, options);
  ASSERT_TRUE(v.valid);
  EXPECT_EQ(v.teeth, 4u);
  EXPECT_NEAR(v.per_hour, 400, 1e-6) << "the net rate, not the gross 1000/h";
  EXPECT_NEAR(v.per_hour_low, 400, 1e-6);
  // The newest peak (9200 at 12 h) carried forward an hour at 400/h: 9600; the open tooth is at
  // 7800, below that line.
  EXPECT_NEAR(v.level, 9600, 1e-6);
  EXPECT_NEAR(v.eta_s, (16384 - 9600) / 400.0 * 3600, 1);
  EXPECT_NEAR(v.span_s, 13 * 3600, 1);
  // ETA ~17 h over 13 h of troughs (3x allowed): evidence.
  EXPECT_TRUE(v.evidence);
  EXPECT_TRUE(v.sustained);
  // The early bound allows for the crossing coming up to one tooth (4 h) before the peak line's.
  EXPECT_NEAR(v.eta_early_s, v.eta_s - 4 * 3600, 1);
}

TEST(MinimaTrendTest, ReleasesBackToTheSameTroughAreNoTrend) {
  // A healthy batch cycle: fills for 4 h, released back down to where it started.
  SegmentHistory h;
  for (int k = 0; k < 4; ++k) h.Record(Tooth(4.0 * k, 2000, 6000));
  const MinimaVerdict v = h.Evaluate(Open(16, 2050, 3000), 16384, 300, 0, 17 * kHourMs, Options());
  EXPECT_FALSE(v.valid);
  EXPECT_FALSE(v.evidence);
}

TEST(MinimaTrendTest, ARiseThatOnlySlowsIsNoRelease) {
  // A steady rise cut where it bends (a step down from its own trend, as a cycle near its peak
  // reads): every "trough" is at the level the segment before ended at, nothing was released.
  SegmentHistory h;
  for (int k = 0; k < 3; ++k) h.Record(Tooth(4.0 * k, 2000 + 1000.0f * k, 2900 + 1000.0f * k));
  EXPECT_FALSE(h.Evaluate(Open(12, 5000, 5500), 16384, 300, 0, 13 * kHourMs, Options()).valid);
}

TEST(MinimaTrendTest, AStepUpEndsTheChain) {
  // Two rising troughs, then new load (a step up): only what follows the step counts, and one
  // tooth after it is too few.
  SegmentHistory h;
  h.Record(Tooth(0, 2000, 4000));
  h.Record(Tooth(4, 2600, 4600));
  h.Record(Tooth(8, 3200, 5200, Boundary::kUp));
  const MinimaVerdict v = h.Evaluate(Open(12, 6000, 6500), 16384, 300, 0, 13 * kHourMs, Options());
  EXPECT_FALSE(v.valid);
  // The same history with a release there instead is a sawtooth.
  SegmentHistory released;
  released.Record(Tooth(0, 2000, 4000));
  released.Record(Tooth(4, 2600, 4600));
  released.Record(Tooth(8, 3200, 5200));
  EXPECT_TRUE(
      released.Evaluate(Open(12, 3800, 4300), 16384, 300, 0, 13 * kHourMs, Options()).valid);
}

TEST(MinimaTrendTest, AGapInsideAToothDoesNotMakeATrough) {
  // Tooth 2 is cut by a gap at 6 h: its two halves are one tooth (trough 2600), so the chain has
  // three teeth, the trough after the gap (higher, mid-rise) is not one of them.
  SegmentHistory h;
  h.Record(Tooth(0, 2000, 4000));
  SegmentRecord a = Tooth(4, 2600, 3600, Boundary::kGap);
  a.end_ms = 6 * kHourMs;
  SegmentRecord b = Tooth(6, 3800, 4600);
  b.start_ms = 6 * kHourMs + kHourMs / 2;
  b.end_ms = 8 * kHourMs;
  h.Record(a);
  h.Record(b);
  const MinimaVerdict v = h.Evaluate(Open(8, 3200, 3500), 16384, 300, 0, 9 * kHourMs, Options());
  ASSERT_TRUE(v.valid);
  EXPECT_EQ(v.teeth, 3u);
  EXPECT_NEAR(v.per_hour, 150, 1e-6);  // (3200 - 2000) / 8 h
}

TEST(MinimaTrendTest, OldRecordsAndTroughsWithinNoiseDoNotCount) {
  SegmentHistory h;
  for (int k = 0; k < 3; ++k) h.Record(Tooth(4.0 * k, 2000 + 200.0f * k, 6000 + 200.0f * k));
  const Options options;
  // Rises of 200 per tooth against a noise threshold of 300: not clearly rising.
  EXPECT_FALSE(h.Evaluate(Open(12, 2600, 3000), 16384, 300, 0, 13 * kHourMs, options).valid);
  EXPECT_TRUE(h.Evaluate(Open(12, 2600, 3000), 16384, 100, 0, 13 * kHourMs, options).valid);
  // Records that ended before `since` are outside the window.
  EXPECT_FALSE(
      h.Evaluate(Open(12, 2600, 3000), 16384, 100, 9 * kHourMs, 13 * kHourMs, options).valid);
}

TEST(SegmentHistoryTest, HoldsAFewRecordsAndTheirHighs) {
  SegmentHistory h;
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.HighSince(0), -std::numeric_limits<double>::infinity());
  for (int k = 0; k < 20; ++k) h.Record(Tooth(4.0 * k, 100, 1000.0f + k));
  EXPECT_LE(h.MemoryBytes(), SegmentHistory::kMaxRecords * sizeof(SegmentRecord) * 2)
      << "bounded, however many resets";
  EXPECT_EQ(h.HighSince(0), 1019) << "the newest records are kept";
  EXPECT_EQ(h.HighSince(81 * kHourMs), -std::numeric_limits<double>::infinity());
}

}  // namespace
}  // namespace portwatch::analysis
