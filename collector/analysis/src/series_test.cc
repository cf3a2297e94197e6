#include "portwatch/analysis/series.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace portwatch::analysis {
namespace {

constexpr int64_t kMinute = 60'000;

class TrackedSeriesTest : public ::testing::Test {
 protected:
  TrackedSeriesTest() { options_.host = SeriesOptions{kMinute, 1440}; }
  Options options_;
  Workspace ws_;
};

TEST_F(TrackedSeriesTest, AveragesSamplesIntoBucketsAndClosesThemInOrder) {
  TrackedSeries s(options_.host.window_buckets);
  EXPECT_EQ(s.Add(0, 100, 10, options_.host, options_), TrackedSeries::AddResult::kSameBucket);
  EXPECT_EQ(s.Add(30'000, 200, 20, options_.host, options_), TrackedSeries::AddResult::kSameBucket);
  EXPECT_EQ(s.Add(kMinute, 300, 30, options_.host, options_),
            TrackedSeries::AddResult::kBucketClosed);
  EXPECT_EQ(s.last_ports(), 300u);
  EXPECT_EQ(s.Add(kMinute - 1, 1, 1, options_.host, options_), TrackedSeries::AddResult::kRejected);
  EXPECT_EQ(s.last_ports(), 300u) << "a refused sample changes nothing";
}

TEST_F(TrackedSeriesTest, MeasuresALinearRiseAndForecastsExhaustion) {
  TrackedSeries s(options_.host.window_buckets);
  // 1000 ports, +600 ports per hour, one sample a minute for two hours.
  for (int64_t i = 0; i <= 120; ++i) {
    if (s.Add(i * kMinute, static_cast<uint32_t>(1000 + 10 * i), 0, options_.host, options_) ==
        TrackedSeries::AddResult::kBucketClosed) {
      s.Refit(16384, options_.host, options_, &ws_);
    }
  }
  const SeriesFit& f = s.fit();
  ASSERT_TRUE(f.trend.valid);
  EXPECT_NEAR(f.trend.per_hour, 600, 1e-6);
  EXPECT_NEAR(f.trend.pct_per_hour, 600.0 / 16384 * 100, 1e-9);
  // The newest sample is 2200. A bucket's mean is placed at its middle while these samples sit at
  // bucket starts, so the level may lag by half a bucket's rise (5 ports, 30 s of forecast).
  EXPECT_NEAR(f.trend.level, 2200, 5.01);
  ASSERT_TRUE(f.forecast.finite);
  // Exhausted is declared at 98% of the range: the forecast is of reaching it. Without noise the
  // first peak is the mean.
  EXPECT_EQ(f.forecast.peak_margin, 0);
  EXPECT_NEAR(f.forecast.eta_s, (0.98 * 16384 - 2200) / 600 * 3600, 30.1);
  EXPECT_EQ(f.level_shifts, 0u);
}

TEST_F(TrackedSeriesTest, ForecastsTheFirstPeakAheadOfTheMeanByAboutTheNoise) {
  // +600 ports per hour with white noise of sd 150, a sample a minute for six hours: a sample
  // first reaches the threshold while the mean is still one to two sd below it.
  std::mt19937_64 rng(21);
  std::normal_distribution<double> noise(0, 150);
  TrackedSeries s(options_.host.window_buckets);
  for (int64_t i = 0; i <= 360; ++i) {
    const double x = 1000 + 10.0 * static_cast<double>(i) + noise(rng);
    if (s.Add(i * kMinute, static_cast<uint32_t>(x), 0, options_.host, options_) ==
        TrackedSeries::AddResult::kBucketClosed) {
      s.Refit(16384, options_.host, options_, &ws_);
    }
  }
  const SeriesFit& f = s.fit();
  ASSERT_TRUE(f.forecast.finite);
  const double threshold = 0.98 * 16384;
  const double mean_eta_s = (threshold - f.trend.level) / f.trend.per_hour * 3600;
  EXPECT_GT(f.forecast.peak_margin, 1.0 * 150);
  EXPECT_LT(f.forecast.peak_margin, 3.0 * 150);
  EXPECT_NEAR(mean_eta_s - f.forecast.eta_s, f.forecast.peak_margin / f.trend.per_hour * 3600, 60);
  EXPECT_LT(f.forecast.eta_early_s, f.forecast.eta_s);
  EXPECT_GT(f.forecast.eta_late_s, f.forecast.eta_s);
  // Where the simulated series itself first reaches the threshold, continued from here: the
  // median forecast is within the spread of first passages.
  std::vector<double> first;
  for (int run = 0; run < 200; ++run) {
    for (int64_t i = 361;; ++i) {
      if (1000 + 10.0 * static_cast<double>(i) + noise(rng) >= threshold) {
        first.push_back(static_cast<double>(i - 360) * 60);
        break;
      }
    }
  }
  std::sort(first.begin(), first.end());
  EXPECT_NEAR(f.forecast.eta_s, first[first.size() / 2], 0.05 * first[first.size() / 2]);
}

TEST_F(TrackedSeriesTest, MemoryIsBoundedByTheWindowNotByHowLongItRuns) {
  TrackedSeries s(options_.detail.window_buckets);
  // The seasonal ring is sized on the first sample.
  s.Add(0, 500, 0, options_.detail, options_);
  const size_t before = s.MemoryBytes();
  for (int64_t i = 1; i < 10'000; ++i) {
    if (s.Add(i * kMinute, 500, 0, options_.detail, options_) ==
        TrackedSeries::AddResult::kBucketClosed) {
      s.Refit(16384, options_.detail, options_, &ws_);
    }
  }
  EXPECT_EQ(s.MemoryBytes(), before);
  EXPECT_EQ(s.MemoryBytes(), sizeof(TrackedSeries) + 4 * options_.detail.window_buckets +
                                 2 * options_.detail.season_slots);
  // The fit only ever sees the window: 72 buckets of 5 minutes minus the open one.
  EXPECT_EQ(s.fit().trend.points, options_.detail.window_buckets - 1);
}

TEST_F(TrackedSeriesTest, ALongGapRestartsTheTrend) {
  TrackedSeries s(options_.host.window_buckets);
  for (int64_t i = 0; i < 60; ++i)
    s.Add(i * kMinute, 1000 + 10 * static_cast<uint32_t>(i), 0, options_.host, options_);
  const int64_t resume = 60 * kMinute + options_.gap_reset_ms + kMinute;
  s.Add(resume, 1000, 0, options_.host, options_);
  s.Add(resume + kMinute, 1000, 0, options_.host, options_);
  s.Refit(16384, options_.host, options_, &ws_);
  EXPECT_EQ(s.fit().segment_start_ms, resume);
  EXPECT_FALSE(s.fit().trend.valid) << "one bucket after the gap is not a trend";
}

TEST_F(TrackedSeriesTest, ValuesSaturateInsteadOfWrapping) {
  TrackedSeries s(options_.host.window_buckets);
  s.Add(0, 70'000, 0, options_.host, options_);
  s.Add(kMinute, 70'000, 0, options_.host, options_);
  EXPECT_EQ(s.last_ports(), 70'000u) << "the latest raw value is kept exactly";
}

}  // namespace
}  // namespace portwatch::analysis
