#include "portwatch/analysis/host_analyzer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "portwatch/analysis/fleet_analyzer.h"
#include "synthetic_test_util.h"

namespace portwatch::analysis {
namespace {

using namespace testing;  // NOLINT: the synthetic helpers

constexpr int64_t kInterval = 30 * kSecond;

// A steady leak on top of noise: it must turn drifting well before exhaustion, with a forecast
// close to the real remaining time at the moment it does.
struct LeakCase {
  double base_ports;
  double pct_per_hour;
  double noise_ports;
};

class LeakTest : public ::testing::TestWithParam<LeakCase> {};

TEST_P(LeakTest, CaughtEarlyWithAnAccurateForecast) {
  const LeakCase c = GetParam();
  const double per_hour = c.pct_per_hour / 100 * kCapacity;
  const double true_full_h = (kCapacity - c.base_ports) / per_hour;  // from the leak's start
  HostRun run;
  Noise noise(c.noise_ports);
  auto level = [&](int64_t t) { return c.base_ports + per_hour * static_cast<double>(t) / kHour; };
  double eta_at_drift_s = -1;
  int64_t eta_at_ms = -1, exhausted_at_ms = -1;
  // The truth is the first sample at the exhaustion threshold (what makes the host exhausted).
  const double threshold = run.options().exhausted_enter_utilization * kCapacity;
  run.Feed(
      0, static_cast<int64_t>(true_full_h * kHour), kInterval,
      [&](int64_t t) {
        const double x = level(t) + noise();
        if (exhausted_at_ms < 0 && x >= threshold) exhausted_at_ms = t;
        return x;
      },
      [&](int64_t t) {
        if (eta_at_drift_s < 0 && run.host().state() == HostState::kDrifting) {
          eta_at_drift_s = run.Describe(t).headline_fit.forecast.eta_s;
          eta_at_ms = t;
        }
      });
  ASSERT_GE(exhausted_at_ms, 0);
  const double true_remaining_s = static_cast<double>(exhausted_at_ms - eta_at_ms) / kSecond;
  const int64_t drift_at = run.FirstTime(HostState::kDrifting);
  ASSERT_GE(drift_at, 0) << run.History();
  const double drift_fraction = static_cast<double>(drift_at) / kHour / true_full_h;
  const double eta_error = (eta_at_drift_s - true_remaining_s) / true_remaining_s;
  std::printf(
      "leak %.1f%%/h from %.0f, noise %.0f: drifting after %.1f h of %.1f h (%.0f%%), "
      "forecast %.1f h vs real %.1f h (%+.1f%%)\n",
      c.pct_per_hour, c.base_ports, c.noise_ports, static_cast<double>(drift_at) / kHour,
      true_full_h, drift_fraction * 100, eta_at_drift_s / 3600, true_remaining_s / 3600,
      eta_error * 100);
  // Early: the forecast may reach max_extrapolation times the span measured (at most the
  // window), and no further than the horizon, so the earliest possible moment is the later of T /
  // (1 + r) and T - horizon; dwell and noise may add a little.
  const Options& o = run.options();
  const double window_h = static_cast<double>(o.host.bucket_ms) * o.host.window_buckets / kHour;
  const double reach_h =
      std::min(static_cast<double>(o.drift_horizon_ms) / kHour, o.max_extrapolation * window_h);
  const double earliest_h =
      std::max(true_full_h / (1 + o.max_extrapolation), true_full_h - reach_h);
  EXPECT_LT(static_cast<double>(drift_at) / kHour, earliest_h + 0.05 * true_full_h);
  EXPECT_LT(drift_fraction, 0.6);
  // Accurate: within 20% of the real remaining time.
  EXPECT_LT(std::fabs(eta_error), 0.20);
  // Once drifting it only gets worse (critical when the forecast is under an hour, if it is not
  // full by then) and ends exhausted when the range is (nearly) full: no flip-flop.
  for (size_t i = 1; i < run.transitions().size(); ++i) {
    EXPECT_GT(run.transitions()[i].state, run.transitions()[i - 1].state) << run.History();
  }
  EXPECT_EQ(run.host().state(), HostState::kExhausted) << run.History();
}

INSTANTIATE_TEST_SUITE_P(Leaks, LeakTest,
                         ::testing::Values(LeakCase{2000, 1.5, 30}, LeakCase{3000, 5, 60},
                                           LeakCase{1000, 0.8, 10}, LeakCase{5000, 10, 150}),
                         [](const ::testing::TestParamInfo<LeakCase>& param_info) {
                           // e.g. "From2000At15PerMillePerHour": gtest names allow only
                           // [A-Za-z0-9_].
                           return "From" +
                                  std::to_string(std::lround(param_info.param.base_ports)) + "At" +
                                  std::to_string(std::lround(param_info.param.pct_per_hour * 10)) +
                                  "PerMillePerHour";
                         });

TEST(HostAnalyzerTest, DailyCycleThatReturnsToBaselineIsNeverDrift) {
  // A busy host: 15% at night, 45% at the afternoon peak, for five days, starting at the trough
  // (the hardest start: the first twelve hours are all rise).
  HostRun run;
  Noise noise(40);
  const double low = 0.15 * kCapacity;
  const double high = 0.45 * kCapacity;
  run.Feed(0, 5 * kDay, kInterval, [&](int64_t t) {
    const double phase = 2 * M_PI * static_cast<double>(t) / kDay;
    return low + (high - low) * (1 - std::cos(phase)) / 2 + noise();
  });
  EXPECT_EQ(run.Entries(HostState::kDrifting), 0) << run.History();
  EXPECT_EQ(run.host().state(), HostState::kOk);
}

TEST(HostAnalyzerTest, LeakOnTopOfADailyCycleIsCaughtOnceItPassesThePeaks) {
  // The same cycle for three days, then every day's trough and peak 1,500 ports (9%) higher: a
  // leak of about 62 ports an hour under the cycle.
  HostRun run;
  Noise noise(40);
  const double low = 0.15 * kCapacity;
  const double high = 0.45 * kCapacity;
  const double leak_per_hour = 1500.0 / 24;
  run.Feed(0, 9 * kDay, kInterval, [&](int64_t t) {
    const double phase = 2 * M_PI * static_cast<double>(t) / kDay;
    const double leak =
        t < 3 * kDay ? 0 : leak_per_hour * static_cast<double>(t - 3 * kDay) / kHour;
    return low + (high - low) * (1 - std::cos(phase)) / 2 + leak + noise();
  });
  const int64_t drift_at = run.FirstTime(HostState::kDrifting);
  std::printf("leak under a daily cycle: drifting %.1f h after the leak began\n",
              static_cast<double>(drift_at - 3 * kDay) / kHour);
  EXPECT_GT(drift_at, 3 * kDay) << run.History();
  EXPECT_LT(drift_at, 8 * kDay) << run.History();
}

TEST(HostAnalyzerTest, BurstsThatReturnToBaselineAreNeverDrift) {
  // Every two hours a 25-minute batch job holds 4000 more ports, then lets them go.
  HostRun run;
  Noise noise(40);
  run.Feed(0, 3 * kDay, kInterval, [&](int64_t t) {
    const bool burst = (t % (2 * kHour)) < 25 * kMinute;
    return 3000 + (burst ? 4000 : 0) + noise();
  });
  EXPECT_EQ(run.Entries(HostState::kDrifting), 0) << run.History();
}

TEST(HostAnalyzerTest, SingleSpikeDoesNotChangeTheState) {
  HostRun run;
  Noise noise(30);
  run.Feed(0, 6 * kHour, kInterval, [&](int64_t t) {
    return (t == 3 * kHour ? 0.90 * kCapacity : 0.30 * kCapacity) + noise();
  });
  EXPECT_EQ(run.transitions().size(), 1u) << run.History();
  EXPECT_EQ(run.host().state(), HostState::kOk);
}

TEST(HostAnalyzerTest, SpikeOrDipDuringALeakDoesNotFlipFlop) {
  HostRun run;
  Noise noise(30);
  const double per_hour = 0.04 * kCapacity;
  run.Feed(0, 14 * kHour, kInterval, [&](int64_t t) {
    const double v = 2000 + per_hour * static_cast<double>(t) / kHour + noise();
    if (t == 10 * kHour) return 100.0;            // a dip to nearly nothing
    if (t == 11 * kHour) return 0.9 * kCapacity;  // and a spike
    return v;
  });
  ASSERT_GE(run.FirstTime(HostState::kDrifting), 0) << run.History();
  EXPECT_LT(run.FirstTime(HostState::kDrifting), 10 * kHour);
  EXPECT_EQ(run.Entries(HostState::kDrifting), 1) << run.History();
  EXPECT_EQ(run.Entries(HostState::kOk), 1) << run.History();
}

TEST(HostAnalyzerTest, SpikeToFullIsExhaustedOnceThenOkOnce) {
  HostRun run;
  run.Feed(0, 4 * kHour, kInterval,
           [&](int64_t t) { return t == 2 * kHour ? 0.99 * kCapacity : 0.3 * kCapacity; });
  ASSERT_EQ(run.transitions().size(), 3u) << run.History();
  EXPECT_EQ(run.transitions()[1].state, HostState::kExhausted);
  EXPECT_EQ(run.transitions()[1].unix_ms, 2 * kHour) << "at once";
  EXPECT_EQ(run.transitions()[2].state, HostState::kOk);
  EXPECT_GE(run.transitions()[2].unix_ms - 2 * kHour, run.options().min_dwell_ms);
}

TEST(HostAnalyzerTest, StepUpIsNotALeakAndResetsTheTrend) {
  // A deploy at 6 h opens a connection pool of 4000 ports; flat before and after.
  HostRun run;
  Noise noise(30);
  run.Feed(0, 18 * kHour, kInterval,
           [&](int64_t t) { return (t < 6 * kHour ? 3000 : 7000) + noise(); });
  EXPECT_EQ(run.Entries(HostState::kDrifting), 0) << run.History();
  const SeriesFit fit = run.Describe(18 * kHour).ports.fit;
  EXPECT_EQ(fit.level_shifts, 1u);
  EXPECT_NEAR(static_cast<double>(fit.segment_start_ms), 6.0 * kHour, 1.0 * kMinute);
  EXPECT_NEAR(fit.trend.per_hour, 0, 5) << "the trend is measured after the step only";
}

TEST(HostAnalyzerTest, LeakAfterARestartIsCaughtFromTheRestart) {
  // Drifting toward exhaustion, then a restart drops the ports at 8 h; the leak resumes from a
  // lower level. The trend restarts at the step and the new leak is caught on its own data.
  HostRun run;
  Noise noise(30);
  const double per_hour = 0.05 * kCapacity;
  auto level = [&](int64_t t) {
    const double h = static_cast<double>(t) / kHour;
    return h < 8 ? 2000 + per_hour * h : 1000 + per_hour * (h - 8);
  };
  double eta_at_redrift = -1;
  int64_t redrift_at = -1;
  run.Feed(
      0, 20 * kHour, kInterval, [&](int64_t t) { return level(t) + noise(); },
      [&](int64_t t) {
        if (t < 8 * kHour || redrift_at >= 0) return;
        const SeriesFit fit = run.Describe(t).headline_fit;
        if (fit.evidence && fit.segment_start_ms >= 8 * kHour) {
          redrift_at = t;
          eta_at_redrift = fit.forecast.eta_s;
        }
      });
  const SeriesFit fit = run.Describe(20 * kHour).ports.fit;
  EXPECT_EQ(fit.level_shifts, 1u);
  EXPECT_NEAR(static_cast<double>(fit.segment_start_ms), 8.0 * kHour, 1.0 * kMinute);
  ASSERT_GE(redrift_at, 0) << run.History();
  const double real = (kCapacity - level(redrift_at)) / per_hour * 3600;
  std::printf(
      "leak after restart: evidence again %.1f h after it, forecast %.1f h vs real %.1f h\n",
      static_cast<double>(redrift_at) / kHour - 8, eta_at_redrift / 3600, real / 3600);
  EXPECT_NEAR(eta_at_redrift, real, 0.2 * real);
  EXPECT_EQ(run.host().state(), HostState::kDrifting) << run.History();
}

TEST(HostAnalyzerTest, NoiseAloneNeverAlarms) {
  // Two weeks of heavy noise (sd 3% of the range) around 30%, white and autocorrelated.
  for (double rho : {0.0, 0.9}) {
    HostRun run;
    Noise noise(0.03 * kCapacity * std::sqrt(1 - rho * rho), 2024);
    double ar = 0;
    run.Feed(0, 14 * kDay, kInterval, [&](int64_t) {
      ar = rho * ar + noise();
      return 0.3 * kCapacity + ar;
    });
    EXPECT_EQ(run.transitions().size(), 1u) << "rho " << rho << ": " << run.History();
  }
}

TEST(HostAnalyzerTest, SilentAfterTheTimeoutAndRecoversOnTheNextSample) {
  HostRun run;
  run.Feed(0, kHour, kInterval, [](int64_t) { return 3000.0; });
  HostAnalyzer& h = run.host();
  EXPECT_EQ(h.state(), HostState::kOk);
  h.MarkSilent(kHour + run.options().silent_after_ms);
  EXPECT_EQ(h.state(), HostState::kSilent);
  const HostStatus st = run.Describe(kHour - kInterval + 7 * kMinute);
  EXPECT_EQ(st.state, HostState::kSilent);
  EXPECT_NE(st.explanation.find("silent, no report for ~7 min"), std::string::npos)
      << st.explanation;
  run.Feed(PortsSample(kHour + 8 * kMinute, 3000));
  EXPECT_EQ(h.state(), HostState::kOk);
}

HostSample WithCounter(HostSample s, const std::string& name, uint64_t value) {
  s.counters.push_back({name, value});
  return s;
}

TEST(HostAnalyzerTest, EventCounterIncreaseIsCriticalAtOnce) {
  HostRun run;
  // The first reading is history from before we watched: a baseline, not an event.
  run.Feed(WithCounter(PortsSample(0, 500), "Tcpip.4227", 17));
  run.Feed(WithCounter(PortsSample(kMinute, 500), "Tcpip.4227", 17));
  EXPECT_EQ(run.host().state(), HostState::kOk);
  run.Feed(WithCounter(PortsSample(2 * kMinute, 500), "Tcpip.4227", 19));
  EXPECT_EQ(run.host().state(), HostState::kCritical);
  const HostStatus st = run.Describe(2 * kMinute);
  EXPECT_EQ(st.reason, "Tcpip.4227 rose by 2");
  EXPECT_NE(st.explanation.find("critical (Tcpip.4227 rose by 2)"), std::string::npos)
      << st.explanation;
  // It holds for critical_hold_ms after the last increase, then clears.
  const int64_t hold = run.options().critical_hold_ms;
  run.Feed(WithCounter(PortsSample(2 * kMinute + hold - kMinute, 500), "Tcpip.4227", 19));
  EXPECT_EQ(run.host().state(), HostState::kCritical);
  run.Feed(WithCounter(PortsSample(2 * kMinute + hold, 500), "Tcpip.4227", 19));
  EXPECT_EQ(run.host().state(), HostState::kOk);
  // A counter that goes down (reboot) starts a new baseline.
  run.Feed(WithCounter(PortsSample(3 * kMinute + hold, 500), "Tcpip.4227", 0));
  EXPECT_EQ(run.host().state(), HostState::kOk);
}

TEST(HostAnalyzerTest, LinuxOverflowCounterIsCriticalAndUnlistedCountersAreNot) {
  HostRun run;
  run.Feed(WithCounter(WithCounter(PortsSample(0, 500), "TcpExt.ListenDrops", 5),
                       "TcpExt.TCPTimeWaitOverflow", 0));
  run.Feed(WithCounter(WithCounter(PortsSample(kMinute, 500), "TcpExt.ListenDrops", 900),
                       "TcpExt.TCPTimeWaitOverflow", 0));
  EXPECT_EQ(run.host().state(), HostState::kOk) << "ListenDrops is not in critical_counters";
  run.Feed(WithCounter(WithCounter(PortsSample(2 * kMinute, 500), "TcpExt.ListenDrops", 900),
                       "TcpExt.TCPTimeWaitOverflow", 1));
  EXPECT_EQ(run.host().state(), HostState::kCritical);
}

TEST(HostAnalyzerTest, PortSpaceExhaustedEventIsExhaustedAtOnce) {
  HostRun run;
  run.Feed(WithCounter(PortsSample(0, 500), "Tcpip.4231", 0));
  run.Feed(WithCounter(PortsSample(kMinute, 500), "Tcpip.4231", 1));
  EXPECT_EQ(run.host().state(), HostState::kExhausted);
  EXPECT_EQ(run.Describe(kMinute).reason, "Tcpip.4231 rose by 1");
}

TEST(HostAnalyzerTest, FullRangeIsExhaustedAndLeavesOnlyBelowTheLowerThreshold) {
  HostRun run;
  run.Feed(PortsSample(0, 0.5 * kCapacity));
  run.Feed(PortsSample(kMinute, kCapacity));
  EXPECT_EQ(run.host().state(), HostState::kExhausted);
  EXPECT_EQ(run.Describe(kMinute).reason, "100% of 16384 ports in use");
  // 96% is under the entry line but above the exit line: still exhausted after the dwell.
  run.Feed(PortsSample(kHour, 0.96 * kCapacity));
  EXPECT_EQ(run.host().state(), HostState::kExhausted);
  run.Feed(PortsSample(kHour + kMinute, 0.70 * kCapacity));
  EXPECT_EQ(run.host().state(), HostState::kOk);
}

TEST(HostAnalyzerTest, DestinationFourTuplesFullIsExhaustedNamingIt) {
  HostRun run;
  HostSample s = PortsSample(0, 0.4 * kCapacity);
  s.destinations.push_back({"10.0.4.12:1433", static_cast<uint32_t>(0.99 * kCapacity), 9000});
  run.Feed(s);
  EXPECT_EQ(run.host().state(), HostState::kExhausted);
  EXPECT_EQ(run.Describe(0).reason, "4-tuples toward 10.0.4.12:1433 at 99% of 16384");
}

TEST(HostAnalyzerTest, ExplanationNamesWhatDrivesTheLeak) {
  // w3wp.exe leaks connections to the database; svchost.exe and a web API stay flat.
  HostRun run;
  Noise noise(20);
  const double per_hour = 0.031 * kCapacity;
  int64_t t = 0;
  for (; run.host().state() != HostState::kDrifting && t < 30 * kHour; t += kInterval) {
    const double leak = per_hour * static_cast<double>(t) / kHour;
    HostSample s = PortsSample(t, 1500 + leak + noise());
    s.destinations.push_back({"10.0.4.12:1433", static_cast<uint32_t>(200 + leak), 40});
    s.destinations.push_back({"10.0.9.1:443", static_cast<uint32_t>(800 + noise()), 300});
    s.processes.push_back({"w3wp.exe", static_cast<uint32_t>(300 + leak), 40});
    s.processes.push_back({"svchost.exe", static_cast<uint32_t>(900 + noise()), 300});
    run.Feed(s);
  }
  ASSERT_EQ(run.host().state(), HostState::kDrifting) << run.History();
  const HostStatus st = run.Describe(t);
  std::printf("%s\n", st.explanation.c_str());
  EXPECT_EQ(st.driver_process, "w3wp.exe");
  EXPECT_EQ(st.driver_destination, "10.0.4.12:1433");
  EXPECT_EQ(st.explanation.rfind("web01: ", 0), 0u) << st.explanation;
  EXPECT_NE(st.explanation.find(" of 16384 ports, +3."), std::string::npos) << st.explanation;
  EXPECT_NE(st.explanation.find(", full in ~"), std::string::npos) << st.explanation;
  EXPECT_NE(st.explanation.find(", driven by w3wp.exe -> 10.0.4.12:1433"), std::string::npos)
      << st.explanation;
  ASSERT_EQ(st.processes.size(), 2u);
  EXPECT_GE(st.processes[0].ports, st.processes[1].ports) << "largest first";
}

TEST(HostAnalyzerTest, SmallBackwardStepIsHeldAtThePreviousTimeAndCounted) {
  HostAnalyzer h("web01");
  Options options;
  Workspace ws;
  ASSERT_TRUE(h.Update(PortsSample(kHour, 100), kHour, options, &ws).ok());
  // A second back (an NTP slew): the sample counts, at the previous time, and last-seen moves.
  ASSERT_TRUE(h.Update(PortsSample(kHour - kSecond, 120), kHour + 15 * kSecond, options, &ws).ok());
  const HostStatus st = h.Describe(options, kHour + 15 * kSecond);
  EXPECT_EQ(st.last_sample_ms, kHour);
  EXPECT_EQ(st.last_seen_ms, kHour + 15 * kSecond);
  EXPECT_EQ(st.ports.ports, 120u);
  EXPECT_EQ(st.clock_corrections, 1u);
  EXPECT_EQ(h.state(), HostState::kOk);
}

TEST(HostAnalyzerTest, CompressedTimeDrillLeakIsCaughtBeforeFailure) {
  // The shape of the end-to-end drill: 300 usable ports, one sample a second, a leak of one port
  // a second from 20 ports, options scaled so an hour is a minute.
  HostRun run(Options().Scaled(1.0 / 60));
  const uint32_t capacity = 300;
  int64_t failed_at = -1;
  double eta_at_drift = -1;
  int64_t drift_at = -1;
  for (int64_t t = 0; failed_at < 0; t += kSecond) {
    const double ports = std::min<double>(capacity, 20 + static_cast<double>(t) / kSecond);
    run.Feed(PortsSample(t, ports, capacity));
    if (drift_at < 0 && run.host().state() != HostState::kOk) {
      drift_at = t;
      eta_at_drift = run.Describe(t).headline_fit.forecast.eta_s;
    }
    if (ports >= capacity) failed_at = t;
  }
  ASSERT_GE(drift_at, 0);
  const double real_s = static_cast<double>(failed_at - drift_at) / kSecond;
  std::printf(
      "drill shape: drifting at %.0f s, failure at %.0f s, forecast %.0f s vs real %.0f s\n",
      static_cast<double>(drift_at) / kSecond, static_cast<double>(failed_at) / kSecond,
      eta_at_drift, real_s);
  EXPECT_EQ(run.FirstTime(HostState::kDrifting), drift_at) << run.History();
  EXPECT_LT(drift_at, failed_at / 2);
  EXPECT_NEAR(eta_at_drift, real_s, 0.3 * real_s);
  EXPECT_EQ(run.host().state(), HostState::kExhausted);
}

TEST(HostAnalyzerTest, CompressedLeakDriftsWhateverTheClockPhaseJitterOrStalls) {
  // The status page test's shape: an analysis hour is 6 s, 1000 ports, a leak from 100 ports of
  // 2 every 50 ms; a third of them TIME_WAIT. Reported every 50 ms on the dot (as its stand-in
  // agent dates them), starting anywhere within a season slot (1.5 s here); or, as a real agent
  // reports a leak that grows with time, 0-20 ms late each and once a whole second late (a
  // stalled process). Every run reads drifting by the end, as the test asserts.
  int failures = 0;
  std::string detail;
  for (const bool real : {false, true}) {
    for (int64_t phase = 0; phase < 1500; phase += 50) {
      HostRun run(Options().Scaled(1.0 / 600));
      const int64_t start = 1'800'000'000'000 + phase;
      std::mt19937_64 rng(static_cast<uint64_t>(phase));
      int64_t t = start;
      for (int i = 0; i < 250; ++i) {
        t = real ? t + 50 + static_cast<int64_t>(rng() % 21) + (i == 120 ? 1000 : 0)
                 : start + 50 * i;
        const double ports = 100 + 2.0 * static_cast<double>(t - start) / 50;
        HostSample s = PortsSample(t, std::min(ports, 950.0), 1000);
        s.time_wait = s.ports_in_use / 3;
        run.Feed(s);
      }
      if (run.host().state() != HostState::kDrifting) {
        ++failures;
        detail += std::string(real ? "real" : "scheduled") + " phase " + std::to_string(phase) +
                  " ms: " + std::string(HostStateName(run.host().state())) + "; ";
      }
    }
  }
  EXPECT_EQ(failures, 0) << detail;
}

TEST(OptionsTest, ValidateNamesTheBadOption) {
  Options o;
  EXPECT_TRUE(o.Validate().ok());
  o.host.window_buckets = 10;
  Status st = o.Validate();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("host.window_buckets"), std::string::npos) << st.message();
  Options p;
  p.exhausted_leave_utilization = 0.99;
  EXPECT_FALSE(p.Validate().ok());
}

// --- Agent clocks -------------------------------------------------------------------------------

TEST(HostAnalyzerClockTest, ReportDatedAYearAheadDoesNotFreezeTheHost) {
  HostAnalyzer h("web01");
  Options options;
  Workspace ws;
  int64_t t = 10 * kDay;
  ASSERT_TRUE(h.Update(PortsSample(t, 100), t, options, &ws).ok());
  t += 15 * kSecond;
  ASSERT_TRUE(h.Update(PortsSample(t + 365 * kDay, 200), t, options, &ws).ok());
  EXPECT_EQ(h.Describe(options, t).last_sample_ms, t) << "timed at receipt";
  EXPECT_NEAR(h.Summarize().clock_skew_s, 365.0 * 86400, 1) << "the skew is exposed";
  for (int i = 0; i < 100; ++i) {
    t += 15 * kSecond;
    ASSERT_TRUE(h.Update(PortsSample(t, 300 + i), t, options, &ws).ok());
  }
  const HostStatus st = h.Describe(options, t);
  EXPECT_EQ(st.last_sample_ms, t) << "the next 100 reports all count";
  EXPECT_EQ(st.ports.ports, 399u);
  EXPECT_EQ(st.clock_corrections, 1u);
  EXPECT_EQ(h.Summarize().clock_skew_s, 0);
}

TEST(HostAnalyzerClockTest, ClockSteppingBackAnHourKeepsTheHostReportingAndAnalysed) {
  auto fleet = FleetAnalyzer::Create(Options());
  ASSERT_TRUE(fleet.ok());
  FleetAnalyzer& f = **fleet;
  int64_t received = 0;
  int64_t agent = 0;
  for (int i = 0; i < 40; ++i, received += 30 * kSecond, agent += 30 * kSecond) {
    if (i == 20) agent -= kHour;  // the agent's clock steps back an hour
    ASSERT_TRUE(f.OnSample("web01", PortsSample(agent, 1000 + 10 * i), received).ok());
    f.Tick(received);
    ASSERT_NE(f.Host("web01", received)->state, HostState::kSilent) << i;
  }
  const HostStatus st = *f.Host("web01", received);
  EXPECT_EQ(st.ports.ports, 1390u) << "samples after the step are analysed";
  EXPECT_EQ(st.clock_corrections, 1u) << "re-based once, then the offset holds";
  EXPECT_GT(st.last_sample_ms, 19 * 30 * kSecond);
  EXPECT_NEAR(static_cast<double>(st.clock_skew_ms), -static_cast<double>(kHour), 1);
}

TEST(HostAnalyzerClockTest, LateSpooledBacklogKeepsItsOwnTimes) {
  // An agent that was cut off delivers an hour of spooled reports at once: behind receipt time
  // is not skew to correct, the samples keep their times (and so the trend its shape).
  HostAnalyzer h("web01");
  Options options;
  Workspace ws;
  const int64_t arrival = 5 * kHour;
  for (int64_t t = 4 * kHour; t < arrival; t += kMinute) {
    ASSERT_TRUE(h.Update(PortsSample(t, 1000), arrival, options, &ws).ok());
  }
  EXPECT_EQ(h.Describe(options, arrival).last_sample_ms, arrival - kMinute);
  EXPECT_EQ(h.Describe(options, arrival).clock_corrections, 0u);
}

// --- Counters -----------------------------------------------------------------------------------

TEST(HostAnalyzerCounterTest, OnlyTcpPortCountersAreCritical) {
  for (const char* name : {"TcpExt.ListenOverflows", "Tcpip.4266"}) {
    HostRun run;
    run.Feed(WithCounter(PortsSample(0, 500), name, 3));
    run.Feed(WithCounter(PortsSample(kMinute, 500), name, 90));
    EXPECT_EQ(run.host().state(), HostState::kOk) << name << " is not TCP port trouble";
  }
  for (const char* name : {"Tcpip.4227", "TcpExt.TCPTimeWaitOverflow"}) {
    HostRun run;
    run.Feed(WithCounter(PortsSample(0, 500), name, 3));
    run.Feed(WithCounter(PortsSample(kMinute, 500), name, 4));
    EXPECT_EQ(run.host().state(), HostState::kCritical) << name;
  }
}

// --- Tiers: the page (critical: short and long windows agree) and the ticket (drifting) ---------

// Feeds ports(t) every 2 minutes over [from, to) and records, per sample, the host's state and
// the host series' short and long window forecasts.
struct TierTrace {
  int64_t first_critical = -1;
  int64_t last_critical = -1;
  int64_t last_drifting = -1;
  int critical_entries = 0;
  int flag_entries = 0;             // from ok to any other state: a new alert
  double min_short_eta_s = kNever;  // the short window's soonest forecast
  double min_long_eta_s = kNever;
  bool trend_page_seen = false;
  std::string page_reason;
};

void FeedTiers(HostRun* run, int64_t from, int64_t to, const std::function<double(int64_t)>& ports,
               TierTrace* trace) {
  HostState last = run->host().state();
  for (int64_t t = from; t < to; t += 2 * kMinute) {
    run->Feed(PortsSample(t, ports(t)));
    const HostState st = run->host().state();
    const HostStatus status = run->Describe(t);
    const SeriesFit& f = status.ports.fit;
    if (f.short_window.valid)
      trace->min_short_eta_s = std::min(trace->min_short_eta_s, f.short_window.eta_s);
    if (f.long_window.valid)
      trace->min_long_eta_s = std::min(trace->min_long_eta_s, f.long_window.eta_s);
    if (st == HostState::kCritical) {
      if (trace->first_critical < 0) trace->first_critical = t;
      trace->last_critical = t;
      if (status.trend_page && !trace->trend_page_seen) {
        trace->trend_page_seen = true;
        trace->page_reason = status.reason;
      }
    }
    if (st == HostState::kDrifting) trace->last_drifting = t;
    if (st != last) {
      trace->critical_entries += st == HostState::kCritical ? 1 : 0;
      trace->flag_entries += last == HostState::kOk ? 1 : 0;
    }
    last = st;
  }
}

TEST(TiersTest, ASteepRiseBothWindowsSeePages) {
  // Six quiet hours at 30%, then 30 %/h: full (98%) about 2.3 h later. Both windows see the rise,
  // so it pages before the range is full, from the trend (not a counter). The long window's
  // average over 6 h, five of them quiet, is what makes the page late: a rise of D hours from a
  // quiet host pages about D/7 before full (here ~19 min), a leak older than 6 h an hour before.
  HostRun run;
  Noise noise(0.01 * kCapacity);
  const int64_t rise = 6 * kHour;
  auto ports = [&](int64_t t) {
    const double h = t < rise ? 0 : static_cast<double>(t - rise) / kHour;
    return 0.3 * kCapacity + 0.3 * kCapacity * h + noise();
  };
  const int64_t full = rise + static_cast<int64_t>(0.68 / 0.3 * kHour);
  TierTrace trace;
  FeedTiers(&run, 0, full, ports, &trace);
  ASSERT_GE(trace.first_critical, 0) << run.History();
  EXPECT_GT(trace.first_critical, rise) << "nothing paged before the rise";
  EXPECT_TRUE(trace.trend_page_seen);
  EXPECT_NE(trace.page_reason.find("short window; long window"), std::string::npos)
      << trace.page_reason;
  const double lead_min = static_cast<double>(full - trace.first_critical) / kMinute;
  std::printf("steep rise 30%%/h: paged %.0f min before full (%s)\n", lead_min,
              trace.page_reason.c_str());
  EXPECT_GE(lead_min, 10);
}

// Runs a shape that must not page (1% noise, 2-minute samples) and prints what the windows saw.
TierTrace RunWithoutPage(const char* name, int64_t span, const std::function<double(int64_t)>& x) {
  HostRun run;
  Noise noise(0.01 * kCapacity);
  TierTrace trace;
  FeedTiers(
      &run, 0, span, [&](int64_t t) { return x(t) * kCapacity + noise(); }, &trace);
  std::printf("%s: soonest short-window ETA %.0f min, long %.0f min\n", name,
              trace.min_short_eta_s / 60, trace.min_long_eta_s / 60);
  EXPECT_EQ(trace.first_critical, -1) << name << ": " << run.History();
  return trace;
}

TEST(TiersTest, ALevelStepUpDoesNotPage) {
  // A deploy doubles the held ports at once, 30% -> 80%, and it stays there. The short window
  // starts after the step (a change point) and is flat; the long window spreads the jump over
  // 6 h (8 %/h, 2.4 h for the 20% left). Neither agrees with the other: no page.
  const int64_t step = 7 * kHour;
  const TierTrace trace = RunWithoutPage("step 30% -> 80%", step + 4 * kHour,
                                         [&](int64_t t) { return t < step ? 0.3 : 0.8; });
  EXPECT_GT(trace.min_long_eta_s, 3600);
}

TEST(TiersTest, ABurstTheShortWindowSeesButTheLongDoesNotDoesNotPage) {
  // Six quiet hours at 35%, then a 20-minute burst to 70% that drains over 20 minutes. The short
  // window forecasts exhaustion within the hour during the climb; averaged over 6 h it is a
  // small rise, so the long window does not.
  const int64_t burst = 6 * kHour;
  const TierTrace trace =
      RunWithoutPage("burst 35% -> 70% in 20 min", burst + 3 * kHour, [&](int64_t t) {
        const double m = static_cast<double>(t - burst) / kMinute;
        double x = 0.35;
        if (m >= 0 && m < 20) x += 0.35 * m / 20;
        if (m >= 20 && m < 40) x += 0.35 * (40 - m) / 20;
        return x;
      });
  EXPECT_LT(trace.min_short_eta_s, 3600) << "the short window saw the burst";
  EXPECT_GT(trace.min_long_eta_s, 3600) << "the long window did not";
}

TEST(TiersTest, CriticalClearsWithinAFewBucketsOfTheRiseStopping) {
  // A host that starts climbing at 35 %/h from 10% (its whole history is the rise, so the long
  // window is too): critical once both windows forecast full within the hour (about 65%), then
  // the rise stops at 80% and holds. The page ends within a few buckets, the ticket (drifting)
  // soon after, and the held level raises nothing again.
  HostRun run;
  Noise noise(0.01 * kCapacity);
  const int64_t stop = 2 * kHour;
  auto ports = [&](int64_t t) {
    const double h = static_cast<double>(std::min(t, stop)) / kHour;
    return (0.1 + 0.35 * h) * kCapacity + noise();
  };
  TierTrace trace;
  FeedTiers(&run, 0, stop + 8 * kHour, ports, &trace);
  ASSERT_GE(trace.first_critical, 0) << run.History();
  EXPECT_TRUE(trace.trend_page_seen);
  const double page_clear_min = static_cast<double>(trace.last_critical - stop) / kMinute;
  const double ticket_clear_min = static_cast<double>(trace.last_drifting - stop) / kMinute;
  std::printf(
      "35%%/h rise stopped at 80%%: critical ended %.0f min after, drifting %.0f min "
      "after; %s\n",
      page_clear_min, ticket_clear_min, run.History().c_str());
  EXPECT_LE(page_clear_min, 12) << "a few 2-minute buckets: " << run.History();
  EXPECT_EQ(trace.critical_entries, 1) << run.History();
  EXPECT_LE(ticket_clear_min, 60) << run.History();
  EXPECT_EQ(trace.flag_entries, 1) << run.History();
  EXPECT_EQ(run.host().state(), HostState::kOk) << run.History();
}

TEST(TiersTest, DriftingClearsQuicklyOnceALeakStopsAndStaysClear) {
  // 4 %/h from 30% for 12 h (78%), then flat for 11 h: drifting (the ticket) ends once the
  // recent window's growth is clearly below half the trend, not after the slow rule, and does
  // not come back while the level holds. Compared with the slow rule alone (stop_evaluations
  // out of reach), it clears sooner.
  auto run_case = [](const Options& options, TierTrace* trace, std::string* history) {
    HostRun run(options);
    Noise noise(0.01 * kCapacity);
    const int64_t stop = 12 * kHour;
    // Until 23 h: past a day, the seasonal baseline (not these windows) judges the held level.
    FeedTiers(
        &run, 0, stop + 11 * kHour,
        [&](int64_t t) {
          const double h = static_cast<double>(std::min(t, stop)) / kHour;
          return (0.3 + 0.04 * h) * kCapacity + noise();
        },
        trace);
    *history = run.History();
    return static_cast<double>(trace->last_drifting - stop) / kMinute;
  };
  TierTrace quick, slow;
  std::string quick_history, slow_history;
  Options slow_options;
  slow_options.stop_evaluations = 1'000'000;
  const double quick_min = run_case(Options(), &quick, &quick_history);
  const double slow_min = run_case(slow_options, &slow, &slow_history);
  std::printf("4%%/h leak stopped at 78%%: drifting ended %.0f min after (slow rule alone: %.0f)\n",
              quick_min, slow_min);
  ASSERT_GE(quick.last_drifting, 0) << quick_history;
  EXPECT_EQ(quick.flag_entries, 1) << quick_history;
  EXPECT_LT(quick_min, slow_min) << quick_history << " / " << slow_history;
  EXPECT_LE(quick_min, 120) << quick_history;
}

}  // namespace
}  // namespace portwatch::analysis
