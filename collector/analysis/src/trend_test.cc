#include "portwatch/analysis/trend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace portwatch::analysis {
namespace {

std::vector<Point> Line(size_t n, double intercept, double slope) {
  std::vector<Point> p;
  for (size_t i = 0; i < n; ++i) {
    p.push_back({static_cast<double>(i), intercept + slope * static_cast<double>(i)});
  }
  return p;
}

TEST(MedianInPlace, OddEvenAndEmpty) {
  std::vector<double> odd{5, 1, 3};
  EXPECT_EQ(MedianInPlace(odd.data(), odd.size()), 3);
  std::vector<double> even{4, 1, 3, 2};
  EXPECT_EQ(MedianInPlace(even.data(), even.size()), 2.5);
  EXPECT_EQ(MedianInPlace(nullptr, 0), 0);
}

TEST(HalfLagSlope, ExactOnALine) {
  std::vector<double> scratch;
  auto p = Line(101, 10, 0.75);
  SlopeEstimate e = HalfLagSlope(p.data(), p.size(), 1.96, &scratch);
  EXPECT_DOUBLE_EQ(e.slope, 0.75);
  EXPECT_DOUBLE_EQ(e.low, 0.75);
  EXPECT_DOUBLE_EQ(e.high, 0.75);
  EXPECT_EQ(e.pairs, 50u);
  EXPECT_DOUBLE_EQ(RobustLevelAt(p.data(), p.size(), e.slope, 200, &scratch), 10 + 0.75 * 200);
}

TEST(HalfLagSlope, IgnoresAFifthOfThePointsBeingWild) {
  std::vector<double> scratch;
  auto p = Line(200, 100, 2);
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < p.size(); i += 5) p[i].x = (rng() % 2 == 0) ? 1e6 : -1e6;
  SlopeEstimate e = HalfLagSlope(p.data(), p.size(), 1.96, &scratch);
  EXPECT_DOUBLE_EQ(e.slope, 2);
}

TEST(HalfLagSlope, TooFewPointsHaveNoBounds) {
  std::vector<double> scratch;
  auto p = Line(5, 0, 1);
  SlopeEstimate e = HalfLagSlope(p.data(), p.size(), 1.96, &scratch);
  EXPECT_DOUBLE_EQ(e.slope, 1);
  EXPECT_TRUE(std::isinf(e.low) && e.low < 0);
  EXPECT_TRUE(std::isinf(e.high) && e.high > 0);
}

TEST(HalfLagSlope, IntervalCoversTheTrueSlopeAboutAsOftenAsItSays) {
  // 95% nominal: over 500 noisy lines the interval should miss the truth about 25 times.
  std::mt19937_64 rng(1234);
  std::normal_distribution<double> noise(0, 5);
  std::vector<double> scratch;
  int covered = 0;
  const int kRuns = 500;
  for (int r = 0; r < kRuns; ++r) {
    auto p = Line(120, 50, 0.1);
    for (Point& q : p) q.x += noise(rng);
    SlopeEstimate e = HalfLagSlope(p.data(), p.size(), 1.96, &scratch);
    covered += (e.low <= 0.1 && 0.1 <= e.high) ? 1 : 0;
  }
  EXPECT_GE(covered, kRuns * 90 / 100);
  EXPECT_LE(covered, kRuns * 99 / 100);
}

TEST(DifferenceNoise, EstimatesSigmaAndIgnoresTrendAndAStep) {
  std::mt19937_64 rng(99);
  std::normal_distribution<double> noise(0, 4);
  std::vector<double> scratch;
  auto p = Line(2000, 0, 3);
  for (size_t i = 0; i < p.size(); ++i) p[i].x += noise(rng) + (i >= 1000 ? 500 : 0);
  EXPECT_NEAR(DifferenceNoise(p.data(), p.size(), &scratch), 4, 0.4);
}

TEST(TestLevelShift, FindsAStepButNotARampItWasToldAbout) {
  std::vector<double> scratch;
  auto ramp = Line(20, 0, 5);
  EXPECT_FALSE(TestLevelShift(ramp.data(), ramp.size(), 10, 5, 5, 10, &scratch).found);
  // Without the trend's slope the same ramp looks like a rise of 25 between the windows.
  LevelShift naive = TestLevelShift(ramp.data(), ramp.size(), 10, 5, 0, 10, &scratch);
  EXPECT_TRUE(naive.found);
  EXPECT_DOUBLE_EQ(naive.size, 25);

  auto step = Line(20, 100, 0);
  for (size_t i = 10; i < 20; ++i) step[i].x = 40;
  LevelShift s = TestLevelShift(step.data(), step.size(), 10, 5, 0, 10, &scratch);
  EXPECT_TRUE(s.found);
  EXPECT_DOUBLE_EQ(s.size, -60);
  // One spike in the window after is outvoted by the median.
  auto spike = Line(20, 100, 0);
  spike[11].x = 900;
  EXPECT_FALSE(TestLevelShift(spike.data(), spike.size(), 10, 5, 0, 10, &scratch).found);
}

TEST(FitCycle, FindsTheFirstMorningsPeakAndPrefersALineForALeak) {
  // The first 8 h of a daily cycle from its trough, 2-min buckets: 15% -> 60% of 16384.
  const double omega = 2 * M_PI / 720;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 160);
  std::vector<Point> rise, line;
  for (int i = 0; i < 240; ++i) {
    rise.push_back({static_cast<double>(i), 6144 - 3686 * std::cos(omega * i) + noise(rng)});
    line.push_back({static_cast<double>(i), 3300 + 8.0 * i + noise(rng)});
  }
  const CycleFit c = FitCycle(rise.data(), rise.size(), omega);
  ASSERT_TRUE(c.valid);
  EXPECT_NEAR(c.peak, 6144 + 3686, 400) << "the cycle's peak, 60%, from its first 8 h";
  EXPECT_GT(c.rss_line - c.rss_cycle, 10 * c.rss_cycle / (rise.size() - 3)) << "clearly curved";
  const CycleFit l = FitCycle(line.data(), line.size(), omega);
  ASSERT_TRUE(l.valid);
  EXPECT_LT(l.rss_line - l.rss_cycle, 10 * l.rss_cycle / (line.size() - 3)) << "a line is a line";
  EXPECT_FALSE(FitCycle(line.data(), 5, omega).valid) << "too few points";
}

}  // namespace
}  // namespace portwatch::analysis
