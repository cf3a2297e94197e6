// Soft resets: a change point or a gap restarts a series' fit without costing the host its
// drifting state or the highs it held, and the trend of minima catches a sawtooth leak.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "portwatch/analysis/host_analyzer.h"
#include "synthetic_test_util.h"

namespace portwatch::analysis {
namespace {

using namespace testing;  // NOLINT: the synthetic helpers

// A 3%/h leak from 20%, plus `adjust(t)`, one sample a minute (none in [gap_from, gap_to)),
// until it reaches 90% of the range.
void FeedLeak(HostRun* run, const std::function<double(int64_t)>& adjust, int64_t gap_from = -1,
              int64_t gap_to = -1) {
  Noise noise(0.005 * kCapacity, 7);
  const double rate = 0.03 * kCapacity;
  for (int64_t t = 0;; t += kMinute) {
    const double ports = 0.2 * kCapacity + rate * t / kHour + adjust(t);
    if (ports >= 0.9 * kCapacity) break;
    if (t >= gap_from && t < gap_to) continue;
    run->Feed(PortsSample(t, ports + noise()));
  }
}

TEST(SoftResetTest, DriftingSurvivesADeployStep) {
  // The leak is drifting by about 40% of its way (~11 h); at 14 h a deploy drops 15% of the
  // range and the leak goes on from there.
  HostRun run;
  const int64_t step_at = 14 * kHour;
  FeedLeak(&run, [&](int64_t t) { return t >= step_at ? -0.15 * kCapacity : 0.0; });
  const int64_t drifting_at = run.FirstTime(HostState::kDrifting);
  ASSERT_GE(drifting_at, 0);
  ASSERT_LT(drifting_at, step_at) << run.History();
  EXPECT_GE(run.host().Describe(run.options(), 0).ports.fit.level_shifts, 1u) << "a real reset";
  for (const Transition& tr : run.transitions()) {
    if (tr.unix_ms > drifting_at) {
      EXPECT_NE(tr.state, HostState::kOk) << "back to ok after the step: " << run.History();
    }
  }
}

TEST(SoftResetTest, DriftingSurvivesA45MinuteGap) {
  HostRun run;
  const int64_t gap_from = 14 * kHour, gap_to = gap_from + 45 * kMinute;
  FeedLeak(
      &run, [](int64_t) { return 0.0; }, gap_from, gap_to);
  const int64_t drifting_at = run.FirstTime(HostState::kDrifting);
  ASSERT_GE(drifting_at, 0);
  ASSERT_LT(drifting_at, gap_from) << run.History();
  EXPECT_GE(run.host().Describe(run.options(), 0).ports.fit.segment_start_ms,
            gap_to - run.options().host.bucket_ms)
      << "the gap restarted the fit";
  for (const Transition& tr : run.transitions()) {
    if (tr.unix_ms > drifting_at) {
      EXPECT_NE(tr.state, HostState::kOk) << "back to ok after the gap: " << run.History();
    }
  }
}

TEST(SoftResetTest, AFixThatStopsTheLeakStillEndsDrifting) {
  // A restart that releases the leak for good: the host settles, then the flat new segment is
  // clearly slower than the leak was, and the host leaves drifting.
  HostRun run;
  Noise noise(0.005 * kCapacity, 3);
  const double rate = 0.03 * kCapacity;
  const int64_t fix_at = 14 * kHour;
  for (int64_t t = 0; t < fix_at + 6 * kHour; t += kMinute) {
    const double ports = t < fix_at ? 0.2 * kCapacity + rate * t / kHour : 0.2 * kCapacity;
    run.Feed(PortsSample(t, ports + noise()));
  }
  ASSERT_LT(run.FirstTime(HostState::kDrifting), fix_at) << run.History();
  EXPECT_EQ(run.host().state(), HostState::kOk) << run.History();
}

TEST(SoftResetTest, AHighHeldBeforeADownwardStepIsNoNewHigh) {
  // 10000 ports held for 6 h, a restart drops to 3000, then a steady climb back: a return to a
  // level the host held, not a leak, until it clearly passes 10000. Without the carried high the
  // new segment alone (3000 -> 9800 in 1.7 h, ETA 1.6 h) reads as a leak from about 8400.
  HostRun run;
  Noise noise(0.004 * kCapacity, 11);
  const int64_t drop_at = 6 * kHour;
  const double climb = 4000;  // ports per hour
  auto ports = [&](int64_t t) {
    if (t < drop_at) return 10000.0;
    return 3000 + climb * static_cast<double>(t - drop_at) / kHour;
  };
  int64_t t = 0;
  for (; t < drop_at || ports(t) < 9800; t += kMinute) run.Feed(PortsSample(t, ports(t) + noise()));
  EXPECT_EQ(run.FirstTime(HostState::kDrifting), -1) << run.History();
  EXPECT_GE(run.host().Describe(run.options(), t).ports.fit.level_shifts, 1u);
  // Past the old high by more than noise, the climb is a new high and is called.
  for (; ports(t) < 13500; t += kMinute) run.Feed(PortsSample(t, ports(t) + noise()));
  EXPECT_GT(run.FirstTime(HostState::kDrifting), 0) << run.History();
}

TEST(SoftResetTest, SawtoothLeakIsFlaggedEarlyAtItsNetRateAndStays) {
  // Gross +5%/h, 60% of each 4 h released: net +2%/h. Full when a peak reaches the range.
  HostRun run;
  Noise noise(0.005 * kCapacity, 5);
  const double gross = 0.05 * kCapacity, net = 0.4 * gross;
  auto level = [&](int64_t t) {
    const double h = static_cast<double>(t) / kHour;
    const double cycles = std::floor(h / 4);
    return 0.15 * kCapacity + cycles * 4 * net + (h - cycles * 4) * gross;
  };
  int64_t full = 0;
  while (level(full) < kCapacity) full += kMinute;
  int64_t flagged_at = -1;
  SeriesFit at_flag;
  std::string explanation;
  for (int64_t t = 0; t < full; t += kMinute) {
    run.Feed(PortsSample(t, level(t) + noise()));
    if (flagged_at < 0 && run.host().state() != HostState::kOk) {
      flagged_at = t;
      at_flag = run.Describe(t).headline_fit;
      explanation = run.Describe(t).explanation;
    }
  }
  ASSERT_GE(flagged_at, 0);
  const double share = static_cast<double>(flagged_at) / static_cast<double>(full);
  EXPECT_LT(share, 0.4) << run.History();
  EXPECT_TRUE(at_flag.minima);
  EXPECT_NE(explanation.find("net (troughs rising across"), std::string::npos) << explanation;
  EXPECT_GE(at_flag.troughs, 3u);
  EXPECT_NEAR(at_flag.trend.per_hour, net, 0.1 * net) << "the net rate, not the gross";
  const double truth_s = static_cast<double>(full - flagged_at) / 1000;
  EXPECT_NEAR(at_flag.forecast.eta_s, truth_s, 0.2 * truth_s);
  for (const Transition& tr : run.transitions()) {
    if (tr.unix_ms > flagged_at) {
      EXPECT_NE(tr.state, HostState::kOk) << run.History();
    }
  }
}

TEST(SoftResetTest, ABatchCycleReleasedToTheSameTroughIsNotALeak) {
  // Fills +5%/h for 4 h, then released back to 15%: every trough the same, for two days.
  HostRun run;
  Noise noise(0.005 * kCapacity, 9);
  const double gross = 0.05 * kCapacity;
  for (int64_t t = 0; t < 2 * kDay; t += kMinute) {
    const double h = static_cast<double>(t) / kHour;
    run.Feed(PortsSample(t, 0.15 * kCapacity + (h - 4 * std::floor(h / 4)) * gross + noise()));
  }
  const HostStatus st = run.Describe(2 * kDay);
  EXPECT_GE(st.ports.fit.level_shifts, 8u) << "the releases are change points";
  EXPECT_FALSE(st.ports.fit.minima);
  EXPECT_EQ(run.FirstTime(HostState::kDrifting), -1) << run.History();
}

}  // namespace
}  // namespace portwatch::analysis
