// The scenario bank: each case is run over many seeds and judged on quantiles, the way an
// operator meets it: when the first flag comes (share of the way to exhaustion), how wrong the
// forecast is then, how often its interval holds the truth, and how many hours a healthy host
// spends flagged per simulated week. Every case prints its row of the table in README.md.
// PORTWATCH_BANK_SEEDS=500 runs a longer sweep (default 50).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "portwatch/analysis/host_analyzer.h"
#include "synthetic_test_util.h"

namespace portwatch::analysis {
namespace {

using namespace testing;  // NOLINT: the synthetic helpers

int Seeds() {
  const char* env = std::getenv("PORTWATCH_BANK_SEEDS");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n >= 50 ? n : 50;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// AR(1) noise with unit-free correlation phi and stationary standard deviation sigma.
class Ar1 {
 public:
  Ar1(double sigma, double phi, uint64_t seed) : noise_(1.0, seed), sigma_(sigma), phi_(phi) {}
  double operator()() {
    x_ = phi_ * x_ + std::sqrt(1 - phi_ * phi_) * sigma_ * noise_();
    return x_;
  }

 private:
  Noise noise_;
  double sigma_, phi_;
  double x_ = 0;
};

// What one run of a leak case measured.
struct LeakRun {
  bool flagged = false;
  double share = 1;      // of the way from the leak's start to exhaustion, at the first flag
  double eta_error = 0;  // (forecast - truth) / truth at the first flag
  bool covered = false;  // truth within [eta_early, eta_late] at the first flag
  bool before_exhaustion = false;
  int ok_returns = 0;  // back to ok after the first flag, before exhaustion: flapping
};

struct LeakStats {
  int runs = 0, flagged = 0, before = 0, covered = 0;
  std::vector<double> share, abs_error;
  int max_ok_returns = 0;
  void Add(const LeakRun& r) {
    ++runs;
    if (!r.flagged) return;
    ++flagged;
    before += r.before_exhaustion ? 1 : 0;
    covered += r.covered ? 1 : 0;
    share.push_back(r.share);
    abs_error.push_back(std::fabs(r.eta_error));
    max_ok_returns = std::max(max_ok_returns, r.ok_returns);
  }
  double coverage() const { return flagged == 0 ? 0 : static_cast<double>(covered) / flagged; }
  void Print(const char* name) const {
    std::printf(
        "BANK | %-34s | %3d | flagged %3d, before exhaustion %3d | share at flag p50 %.2f p90 "
        "%.2f | |ETA error| p50 %.1f%% p90 %.1f%% | interval coverage %.0f%% | max returns to "
        "ok %d\n",
        name, runs, flagged, before, Quantile(share, 0.5), Quantile(share, 0.9),
        100 * Quantile(abs_error, 0.5), 100 * Quantile(abs_error, 0.9), 100 * coverage(),
        max_ok_returns);
  }
};

// The values of `ports` every interval over [0, to_ms), generated ahead so the truth is known.
std::vector<double> Generate(const std::function<double(int64_t)>& ports, int64_t to_ms,
                             int64_t interval_ms) {
  std::vector<double> xs;
  for (int64_t t = 0; t < to_ms; t += interval_ms) xs.push_back(ports(t));
  return xs;
}

// The truth a forecast is judged against: the first sample, from `from_ms` on, at which the host
// is exhausted (utilisation at exhausted_enter_utilization), as the analyzer sees it: the first
// peak that crosses, not the mean. `fallback` if none does.
int64_t FirstExhaustedSample(const std::vector<double>& xs, int64_t from_ms, int64_t interval_ms,
                             int64_t fallback, uint32_t capacity = kCapacity) {
  const double threshold = Options().exhausted_enter_utilization * capacity;
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t t = static_cast<int64_t>(i) * interval_ms;
    if (t >= from_ms && PortsSample(t, xs[i], capacity).ports_in_use >= threshold) return t;
  }
  return fallback;
}

// Records the first flag at `t` of a leak that started at `start_ms` and is first exhausted at
// `full_ms`.
void JudgeFirstFlag(LeakRun* out, const SeriesFit& f, int64_t t, int64_t start_ms,
                    int64_t full_ms) {
  out->flagged = true;
  out->before_exhaustion = t < full_ms;
  out->share = static_cast<double>(t - start_ms) / static_cast<double>(full_ms - start_ms);
  const double truth_s = static_cast<double>(full_ms - t) / 1000;
  if (truth_s > 0 && std::isfinite(f.forecast.eta_s)) {
    out->eta_error = (f.forecast.eta_s - truth_s) / truth_s;
    out->covered = f.forecast.eta_early_s <= truth_s && truth_s <= f.forecast.eta_late_s;
  } else {
    out->eta_error = 1;
  }
}

// Runs ports(t) from t = 0 every interval until it reaches capacity (time `full_ms`), the leak
// starting at `leak_start_ms`. `feed` may rewrite the sample (clock cases).
// The truth is the first sample at the exhaustion threshold (FirstExhaustedSample), at the
// latest `full_ms`, when the mean reaches capacity.
LeakRun RunLeak(const std::function<double(int64_t)>& ports, int64_t leak_start_ms, int64_t full_ms,
                int64_t interval_ms,
                const std::function<HostSample(HostSample)>& rewrite = nullptr) {
  HostRun run;
  LeakRun out;
  HostState last = HostState::kOk;
  const std::vector<double> xs = Generate(ports, full_ms + kHour, interval_ms);
  full_ms = FirstExhaustedSample(xs, leak_start_ms, interval_ms, full_ms);
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t t = static_cast<int64_t>(i) * interval_ms;
    HostSample s = PortsSample(t, xs[i]);
    if (rewrite) s = rewrite(s);
    run.Feed(s);
    const HostState st = run.host().state();
    if (out.flagged && st == HostState::kOk && last != HostState::kOk) ++out.ok_returns;
    last = st;
    if (!out.flagged && st != HostState::kOk && t >= leak_start_ms) {
      JudgeFirstFlag(&out, run.Describe(t).headline_fit, t, leak_start_ms, full_ms);
    }
    if (t >= full_ms) break;
  }
  return out;
}

// Hours flagged (any state but ok) per simulated week. `critical_ms`, if given, adds the time
// spent critical (paged).
double FalseAlarmHoursPerWeek(const std::function<double(int64_t)>& ports, int64_t span_ms,
                              int64_t interval_ms, uint32_t capacity = kCapacity,
                              int64_t* critical_ms = nullptr) {
  HostRun run;
  int64_t flagged_ms = 0;
  for (int64_t t = 0; t < span_ms; t += interval_ms) {
    run.Feed(PortsSample(t, ports(t), capacity));
    if (run.host().state() != HostState::kOk) flagged_ms += interval_ms;
    if (critical_ms != nullptr && run.host().state() == HostState::kCritical) {
      *critical_ms += interval_ms;
    }
  }
  return static_cast<double>(flagged_ms) / kHour / (static_cast<double>(span_ms) / (7 * kDay));
}

void PrintAlarms(const char* name, const std::vector<double>& hours) {
  std::printf("BANK | %-34s | %3zu | false-alarm h/week p50 %.2f p90 %.2f max %.2f\n", name,
              hours.size(), Quantile(hours, 0.5), Quantile(hours, 0.9),
              *std::max_element(hours.begin(), hours.end()));
}

// Samples come at least once per host bucket (2 min): agents report every 15-60 s, and sparser
// sampling leaves buckets empty, which measurably raises false alarms on cycles (4-min samples:
// 14.7 instead of 4.3 flagged hours a week on the 15->60% daily cycle).
constexpr double kCap = kCapacity;

// --- Leaks ------------------------------------------------------------------------------------

TEST(ScenarioBank, LinearLeakWhiteNoise) {
  LeakStats stats;
  for (int seed = 0; seed < Seeds(); ++seed) {
    std::mt19937_64 rng(seed);
    const double rate = std::uniform_real_distribution<double>(1.5, 4)(rng) / 100 * kCap;  // /h
    const double base = 0.2 * kCap;
    const int64_t full = static_cast<int64_t>((kCap - base) / rate * kHour);
    Noise noise(0.01 * kCap, seed);
    stats.Add(RunLeak([&](int64_t t) { return base + rate * t / kHour + noise(); }, 0, full,
                      2 * kMinute));
  }
  stats.Print("linear leak, white noise");
  EXPECT_EQ(stats.before, stats.runs);
  EXPECT_LT(Quantile(stats.share, 0.9), 0.5);
  EXPECT_LT(Quantile(stats.abs_error, 0.5), 0.10);
  EXPECT_LT(Quantile(stats.abs_error, 0.9), 0.25);
  EXPECT_EQ(stats.max_ok_returns, 0) << "no flapping";
  // --- Calibrated intervals (the target): a nominal 90% interval of the first sample
  // at the exhaustion threshold covers it in >= 85% of runs.
  EXPECT_GE(stats.coverage(), 0.85);
}

TEST(ScenarioBank, LinearLeakAutocorrelatedNoise) {
  LeakStats stats;
  for (int seed = 0; seed < Seeds(); ++seed) {
    std::mt19937_64 rng(seed);
    const double rate = std::uniform_real_distribution<double>(1.5, 4)(rng) / 100 * kCap;
    const double base = 0.2 * kCap;
    const int64_t full = static_cast<int64_t>((kCap - base) / rate * kHour);
    Ar1 noise(0.02 * kCap, 0.95, seed);
    stats.Add(RunLeak([&](int64_t t) { return base + rate * t / kHour + noise(); }, 0, full,
                      2 * kMinute));
  }
  stats.Print("linear leak, AR(1) noise phi 0.95");
  EXPECT_EQ(stats.before, stats.runs);
  // --- Calibrated intervals (the target): a nominal 90% interval covers the first sample
  // at the exhaustion threshold in >= 85% of runs (measured 94%). The level-shift test takes its
  // noise from block medians as well as first differences; from first differences alone it read
  // this wandering noise as steps, the fit restarted every few hours and coverage was 44%.
  EXPECT_GE(stats.coverage(), 0.85);
  // Flagged at about half the way (p50 0.47, p90 0.64); the ETA within 10% at p50, 30% at p90.
  EXPECT_LT(Quantile(stats.share, 0.9), 0.7);
  EXPECT_LT(Quantile(stats.abs_error, 0.5), 0.15);
  EXPECT_LT(Quantile(stats.abs_error, 0.9), 0.4);
}

TEST(ScenarioBank, LeakOnADailyCycle) {
  // 1%/h on top of a 15 -> 60% daily cycle, starting on day 2 (day 1 is the cycle alone).
  LeakStats stats;
  std::vector<double> day1_alarm_hours;
  for (int seed = 0; seed < Seeds(); ++seed) {
    const double rate = 0.01 * kCap;
    Noise noise(0.01 * kCap, seed);
    const int64_t start = kDay;
    auto level = [&](int64_t t, bool leak) {
      const double phase = 2 * M_PI * static_cast<double>(t % kDay) / kDay;
      const double cycle = 0.375 * kCap - 0.225 * kCap * std::cos(phase);
      return cycle + (leak && t > start ? rate * (t - start) / kHour : 0);
    };
    int64_t full = start;
    while (level(full, true) < kCap) full += kMinute;
    LeakRun r =
        RunLeak([&](int64_t t) { return level(t, true) + noise(); }, start, full, 2 * kMinute);
    stats.Add(r);
    day1_alarm_hours.push_back(
        FalseAlarmHoursPerWeek([&](int64_t t) { return level(t, false) + noise(); }, kDay,
                               2 * kMinute) /
        7);
  }
  stats.Print("1%/h leak on a 15->60% daily cycle");
  std::printf("BANK | %-34s | %3zu | day-1 flagged hours p50 %.2f max %.2f\n",
              "  (same cycle, day 1, no leak)", day1_alarm_hours.size(),
              Quantile(day1_alarm_hours, 0.5),
              *std::max_element(day1_alarm_hours.begin(), day1_alarm_hours.end()));
  EXPECT_EQ(stats.before, stats.runs);
  // The targets: once a day of history exists the season-adjusted growth calls the leak
  // before 20% of its way, and the first day's rise (one daily cycle fits it better than a line,
  // peaking below capacity) is no alarm.
  EXPECT_LT(Quantile(stats.share, 0.9), 0.2);
  // --- Calibrated intervals: the first flag comes a little later (p50 share 0.14, was 0.10):
  // the season-adjusted growth's bounds count correlated offsets as fewer points.
  EXPECT_EQ(stats.max_ok_returns, 0) << "no flapping";
  EXPECT_EQ(Quantile(day1_alarm_hours, 1.0), 0) << "no day-1 false alarm";
}

TEST(ScenarioBank, ClockSkewDuringALeak) {
  // The same leak, with one report dated a year ahead and, later, the clock stepping back an
  // hour: the first flag and its forecast must match the clean run.
  LeakStats clean, skewed;
  for (int seed = 0; seed < Seeds(); ++seed) {
    const double rate = 0.03 * kCap, base = 0.2 * kCap;
    const int64_t full = static_cast<int64_t>((kCap - base) / rate * kHour);
    Noise n1(0.01 * kCap, seed), n2(0.01 * kCap, seed);
    clean.Add(
        RunLeak([&](int64_t t) { return base + rate * t / kHour + n1(); }, 0, full, 2 * kMinute));
    std::mt19937_64 rng(seed);
    const int64_t ahead_at = (rng() % 60) * 2 * kMinute;
    const int64_t back_at = ahead_at + 2 * kHour;
    HostAnalyzer host("web01");
    const Options options;
    Workspace ws;
    LeakRun r;
    const std::vector<double> xs = Generate(
        [&](int64_t t) { return base + rate * t / kHour + n2(); }, full + kHour, 2 * kMinute);
    const int64_t exhausted = FirstExhaustedSample(xs, 0, 2 * kMinute, full);
    for (int64_t t = 0; t <= exhausted; t += 2 * kMinute) {
      HostSample s = PortsSample(t, xs[static_cast<size_t>(t / (2 * kMinute))]);
      if (t == ahead_at) s.unix_ms += 365 * kDay;
      if (t >= back_at) s.unix_ms -= kHour;
      ASSERT_TRUE(host.Update(s, t, options, &ws).ok());
      if (!r.flagged && host.state() != HostState::kOk) {
        JudgeFirstFlag(&r, host.Describe(options, t).headline_fit, t, 0, exhausted);
      }
      ASSERT_EQ(host.last_seen_ms(), t);
    }
    skewed.Add(r);
  }
  clean.Print("linear leak 3%/h, clean clock");
  skewed.Print("  same, +1 y report and -1 h step");
  EXPECT_EQ(skewed.before, skewed.runs);
  EXPECT_NEAR(Quantile(skewed.share, 0.5), Quantile(clean.share, 0.5), 0.05);
  EXPECT_LT(Quantile(skewed.abs_error, 0.9), 0.25);
  EXPECT_NEAR(skewed.coverage(), clean.coverage(), 0.1);
}

// --- Healthy hosts ------------------------------------------------------------------------------

TEST(ScenarioBank, HealthyHostsFalseAlarms) {
  std::vector<double> flat, daily, weekly, resized;
  int64_t page_ms = 0;  // time critical, over every run: the tiers' false pages
  for (int seed = 0; seed < Seeds(); ++seed) {
    Ar1 ar(0.03 * kCap, 0.9, seed);
    flat.push_back(FalseAlarmHoursPerWeek([&](int64_t) { return 0.4 * kCap + ar(); }, 7 * kDay,
                                          4 * kMinute, kCapacity, &page_ms));
    Noise noise(0.01 * kCap, seed);
    daily.push_back(FalseAlarmHoursPerWeek(
        [&](int64_t t) {
          const double phase = 2 * M_PI * static_cast<double>(t % kDay) / kDay;
          return 0.375 * kCap - 0.225 * kCap * std::cos(phase) + noise();
        },
        7 * kDay, 2 * kMinute, kCapacity, &page_ms));
    // Weekdays peak at 60%, the weekend (days 5, 6) at 25%; Monday (day 7) climbs back.
    weekly.push_back(FalseAlarmHoursPerWeek(
        [&](int64_t t) {
          const int64_t day = (t / kDay) % 7;
          const double peak = day >= 5 ? 0.25 : 0.60;
          const double phase = 2 * M_PI * static_cast<double>(t % kDay) / kDay;
          return 0.15 * kCap + (peak - 0.15) * kCap * (0.5 - 0.5 * std::cos(phase)) + noise();
        },
        8 * kDay, 2 * kMinute, kCapacity, &page_ms));
  }
  PrintAlarms("flat 40%, AR(1) noise", flat);
  PrintAlarms("daily cycle 15->60%", daily);
  PrintAlarms("weekly cycle (quiet weekend)", weekly);
  std::printf("BANK | %-34s | %3d | critical (paged) %.2f h in all of them\n",
              "  (the three above: pages)", 3 * Seeds(), static_cast<double>(page_ms) / kHour);
  EXPECT_EQ(page_ms, 0) << "a healthy host never pages";
  // --- Calibrated intervals: the season-adjusted growth's bounds count the correlated offsets
  // as fewer points (was p90 0.07, max 1.2 h). The level-shift test's block noise keeps the fit
  // from restarting on the wander, so a longer fit may now and then read it as a rise: measured
  // one week in 50 flagged for 1.7 h, the others never.
  EXPECT_EQ(Quantile(flat, 0.9), 0);
  EXPECT_LT(Quantile(flat, 1.0), 2.5);
  // The first day's rise is one daily cycle (no alarm); from the second day the seasonal
  // baseline (the highest of the earlier days at this time) explains every rise, the Monday after
  // a quiet weekend included (the weekdays of the week before stand over it).
  EXPECT_LT(Quantile(daily, 1.0), 0.5);
  EXPECT_LT(Quantile(weekly, 1.0), 0.5);
}

TEST(ScenarioBank, DailyCycleOnOneDestination) {
  // The host holds 1000 ports steadily; one destination cycles daily from 1000 to 12000 (6 ->
  // 73% of the range; the host peaks at 79%, below the at-risk margin), no TIME_WAIT. Its detail
  // series keeps 6 h of buckets, too short to hold yesterday's peak, so without its seasonal
  // ring (a day) every day's rise read as a leak (measured: ~6 h flagged each day).
  std::vector<double> hours;
  for (int seed = 0; seed < Seeds(); ++seed) {
    Noise noise(0.005 * kCap, seed);
    HostRun run;
    int64_t flagged_ms = 0;
    const int64_t span = 4 * kDay;
    for (int64_t t = 0; t < span; t += 2 * kMinute) {
      const double phase = 2 * M_PI * static_cast<double>(t % kDay) / kDay;
      const double dest = 6500 - 5500 * std::cos(phase) + noise();
      HostSample s = PortsSample(t, 1000 + dest + noise());
      s.time_wait = 0;
      s.destinations.push_back({"10.0.4.12:1433", static_cast<uint32_t>(std::max(0.0, dest)), 0});
      run.Feed(s);
      if (run.host().state() != HostState::kOk) flagged_ms += 2 * kMinute;
    }
    hours.push_back(static_cast<double>(flagged_ms) / kHour * 7 / 4);
  }
  PrintAlarms("daily cycle on one destination", hours);
  EXPECT_LT(Quantile(hours, 1.0), 0.5);
}

TEST(ScenarioBank, RangeResizedMidStream) {
  // The range grows from 16384 to 28232 ports halfway through a steady week: not an alarm, and
  // a leak's forecast follows the new capacity.
  std::vector<double> hours;
  int flagged_before_full = 0;
  for (int seed = 0; seed < Seeds(); ++seed) {
    Noise noise(0.01 * kCap, seed);
    HostRun run;
    int64_t flagged_ms = 0;
    for (int64_t t = 0; t < 2 * kDay; t += 4 * kMinute) {
      const uint32_t cap = t < kDay ? kCapacity : 28232;
      run.Feed(PortsSample(t, 0.45 * kCap + noise(), cap));
      if (run.host().state() != HostState::kOk) flagged_ms += 4 * kMinute;
    }
    hours.push_back(static_cast<double>(flagged_ms) / kHour * 7 / 2);
    // A 3%/h-of-the-old-range leak whose range is resized at 40% of the way.
    HostRun leak;
    const double rate = 0.03 * kCap;
    bool flagged = false;
    for (int64_t t = 0;; t += 2 * kMinute) {
      const uint32_t cap = t < 10 * kHour ? kCapacity : 28232;
      const double ports = 0.2 * kCap + rate * t / kHour + noise();
      leak.Feed(PortsSample(t, ports, cap));
      if (leak.host().state() != HostState::kOk) flagged = true;
      if (ports >= cap) {
        flagged_before_full += flagged ? 1 : 0;
        break;
      }
    }
  }
  PrintAlarms("range resized 16384 -> 28232", hours);
  std::printf("BANK | %-34s | %3d | flagged before the new range is full: %d\n",
              "  leak across the resize", Seeds(), flagged_before_full);
  EXPECT_LT(Quantile(hours, 0.9), 0.5);
  EXPECT_EQ(flagged_before_full, Seeds());
}

// --- Churn --------------------------------------------------------------------------------------

TEST(ScenarioBank, ChurnPlateausStormsAndRamps) {
  std::vector<double> plateau_alarms, risky_share, storm_lead_s, ramp_lead_s;
  int storm_failures = 0, ramp_flagged = 0;
  for (int seed = 0; seed < Seeds(); ++seed) {
    std::mt19937_64 rng(seed);
    // A plateau at 55-70% (healthy) and one at 88-95% (at risk), 12 h at 30 s, Windows 120 s.
    for (int risky = 0; risky < 2; ++risky) {
      const double target = risky ? std::uniform_real_distribution<double>(0.88, 0.95)(rng)
                                  : std::uniform_real_distribution<double>(0.55, 0.70)(rng);
      const double rate = (target * kCap - 1000) / 120;
      Noise noise(0.01 * kCap, seed);
      HostRun run;
      int64_t flagged_ms = 0, span = 12 * kHour;
      for (int64_t t = 0; t < span; t += 30 * kSecond) {
        HostSample s = ChurnSample(t, 1000 + noise(), rate * 120 + noise());
        if (t == 0) {
          s.has_settings = true;
          s.settings = SettingsOf("Windows 10.0.20348");
        }
        run.Feed(s);
        if (run.host().state() != HostState::kOk) flagged_ms += 30 * kSecond;
      }
      const double share = static_cast<double>(flagged_ms) / span;
      if (risky) {
        risky_share.push_back(share);
      } else {
        plateau_alarms.push_back(share * 7 * 24);
      }
    }
    // A storm at real time scale: Windows Server 2003 (240 s), 5/s -> 70-100/s.
    {
      TimeWaitSim sim(240);
      const double storm = std::uniform_real_distribution<double>(70, 100)(rng);
      const int64_t storm_at = 1800 + static_cast<int64_t>(rng() % 900);
      for (int s = 0; s < 240; ++s) sim.Second(5);
      HostRun run;
      int64_t critical_at = -1, full_at = -1;
      Noise noise(20, seed);
      for (int64_t s = 0; s < storm_at + 1800 && full_at < 0; ++s) {
        sim.Second(s < storm_at ? 5 : storm);
        if (s % 15 != 0) continue;
        HostSample hs = ChurnSample(s * kSecond, 1000 + noise(), sim.time_wait());
        if (s == 0) {
          hs.has_settings = true;
          hs.settings = SettingsOf("Windows 5.2.3790");
        }
        run.Feed(hs);
        if (critical_at < 0 && run.host().state() == HostState::kCritical) critical_at = s;
        if (hs.ports_in_use >= 0.98 * kCap) full_at = s;
      }
      if (critical_at < 0 || full_at < 0) {
        ++storm_failures;
      } else {
        storm_lead_s.push_back(static_cast<double>(full_at - critical_at));
      }
    }
    // A churn ramp on Linux (60 s): the close rate grows by 0.5-1.5/s per minute from 20/s
    // until the range (28232) fills; flagged how long before?
    {
      TimeWaitSim sim(60);
      const double per_min = std::uniform_real_distribution<double>(0.5, 1.5)(rng);
      const uint32_t cap = 28232;
      HostRun run;
      int64_t flag_at = -1, full_at = -1;
      Noise noise(20, seed);
      for (int s = 0; s < 60; ++s) sim.Second(20);
      for (int64_t s = 0; full_at < 0 && s < 24 * 3600; ++s) {
        sim.Second(20 + per_min * static_cast<double>(s) / 60);
        if (s % 15 != 0) continue;
        HostSample hs = ChurnSample(s * kSecond, 500 + noise(), sim.time_wait(), cap);
        if (s == 0) {
          hs.has_settings = true;
          hs.settings = SettingsOf("Linux 6.1.0");
        }
        run.Feed(hs);
        if (flag_at < 0 && run.host().state() != HostState::kOk) flag_at = s;
        if (hs.ports_in_use >= 0.98 * cap) full_at = s;
      }
      if (flag_at >= 0 && full_at >= 0 && flag_at < full_at) {
        ++ramp_flagged;
        ramp_lead_s.push_back(static_cast<double>(full_at - flag_at));
      }
    }
  }
  PrintAlarms("churn plateau 55-70% (healthy)", plateau_alarms);
  std::printf("BANK | %-34s | %3zu | share of time flagged p10 %.3f min %.3f\n",
              "churn plateau 88-95% (at risk)", risky_share.size(), Quantile(risky_share, 0.1),
              *std::min_element(risky_share.begin(), risky_share.end()));
  std::printf("BANK | %-34s | %3d | critical before full in %zu; lead p10 %.0f s p50 %.0f s\n",
              "TIME_WAIT storm, 240 s, real time", Seeds(), storm_lead_s.size(),
              Quantile(storm_lead_s, 0.1), Quantile(storm_lead_s, 0.5));
  std::printf("BANK | %-34s | %3d | flagged before full in %d; lead p10 %.0f s p50 %.0f s\n",
              "churn ramp, Linux 60 s", Seeds(), ramp_flagged, Quantile(ramp_lead_s, 0.1),
              Quantile(ramp_lead_s, 0.5));
  EXPECT_EQ(Quantile(plateau_alarms, 1.0), 0);
  EXPECT_GT(Quantile(risky_share, 0.0), 0.99);
  EXPECT_EQ(storm_failures, 0);
  EXPECT_GE(Quantile(storm_lead_s, 0.1), 60);
  EXPECT_EQ(ramp_flagged, Seeds());
  EXPECT_GE(Quantile(ramp_lead_s, 0.1), 120);
}

// --- Tiers: the page (critical) and the ticket (drifting) ---------------------------------------
// When a leak pages (both the 30-min and the 6-h window forecast full within the hour), how long
// before the range is full (98%, exhausted); how long after a rise stops the page and the ticket
// end; that a stopped leak is not flagged again. The healthy cases' false pages are counted in
// HealthyHostsFalseAlarms.

// The first time a leak ports(t) (sampled every 2 min from t = 0) pages, and when it reaches 98%.
struct PageRun {
  int64_t critical_at = -1;
  int64_t full_at = -1;  // 98%: exhausted
};

PageRun RunUntilFull(const std::function<double(int64_t)>& ports, int64_t limit_ms) {
  HostRun run;
  PageRun out;
  for (int64_t t = 0; t < limit_ms && out.full_at < 0; t += 2 * kMinute) {
    const double x = ports(t);
    run.Feed(PortsSample(t, x));
    if (out.critical_at < 0 && run.host().state() == HostState::kCritical) out.critical_at = t;
    if (x >= 0.98 * kCap) out.full_at = t;
  }
  return out;
}

TEST(ScenarioBankTiers, LeaksPageBeforeExhaustion) {
  std::vector<double> slow_lead_min, steep_lead_min;
  int slow_paged = 0, steep_paged = 0;
  for (int seed = 0; seed < Seeds(); ++seed) {
    std::mt19937_64 rng(seed + 1000);
    // The bank's linear leaks: 1.5-4 %/h from 20%, 1% noise (a day or more to fill).
    {
      const double rate = std::uniform_real_distribution<double>(1.5, 4)(rng) / 100 * kCap;
      Noise noise(0.01 * kCap, seed);
      const PageRun r = RunUntilFull(
          [&](int64_t t) { return 0.2 * kCap + rate * t / kHour + noise(); }, 3 * kDay);
      if (r.critical_at >= 0 && r.full_at > r.critical_at) {
        ++slow_paged;
        slow_lead_min.push_back(static_cast<double>(r.full_at - r.critical_at) / kMinute);
      }
    }
    // Steep rises after 6 quiet hours at 20-40%: 20-60 %/h (full in 1-4 h).
    {
      const double base = std::uniform_real_distribution<double>(0.2, 0.4)(rng) * kCap;
      const double rate = std::uniform_real_distribution<double>(20, 60)(rng) / 100 * kCap;
      Noise noise(0.01 * kCap, seed);
      const int64_t rise = 6 * kHour;
      const PageRun r = RunUntilFull(
          [&](int64_t t) {
            return base + (t < rise ? 0 : rate * static_cast<double>(t - rise) / kHour) + noise();
          },
          rise + 6 * kHour);
      if (r.critical_at >= rise && r.full_at > r.critical_at) {
        ++steep_paged;
        steep_lead_min.push_back(static_cast<double>(r.full_at - r.critical_at) / kMinute);
      }
    }
  }
  std::printf("BANK | %-34s | %3d | paged before 98%% in %d; lead p10 %.0f min p50 %.0f min\n",
              "page: linear leak 1.5-4 %/h", Seeds(), slow_paged, Quantile(slow_lead_min, 0.1),
              Quantile(slow_lead_min, 0.5));
  std::printf("BANK | %-34s | %3d | paged before 98%% in %d; lead p10 %.0f min p50 %.0f min\n",
              "page: steep rise 20-60 %/h", Seeds(), steep_paged, Quantile(steep_lead_min, 0.1),
              Quantile(steep_lead_min, 0.5));
  // A slow leak's hour to full is the last 1.5-4% of its range, which the 30-min window, whose
  // noise is as large as that rise, rarely bounds before 98% (exhausted, which pages too):
  // regression bounds at today's level.
  EXPECT_GE(slow_paged, Seeds() / 4);
  EXPECT_GE(Quantile(slow_lead_min, 0.5), 10);
  // A sudden rise pages in every run, late: the long window averages it with the quiet hours.
  EXPECT_EQ(steep_paged, Seeds());
  EXPECT_GE(Quantile(steep_lead_min, 0.1), 5);
}

TEST(ScenarioBankTiers, ResetAfterALeakStops) {
  // A leak runs, is flagged, stops, and the level holds. Measured from the stop: when the page
  // (critical) ends, when the host is ok again, and whether it is flagged again afterwards.
  // The ticket's quick reset is compared with the slow rule alone (stop_evaluations unreachable).
  std::vector<double> page_end_min, ok_min, ok_slow_min;
  int reflagged = 0, reflagged_slow = 0, paged = 0, never_ok = 0;
  Options slow;
  slow.stop_evaluations = 1'000'000;
  for (int seed = 0; seed < Seeds(); ++seed) {
    std::mt19937_64 rng(seed + 2000);
    // A slow leak: 2.5-4 %/h from 30% for 12 h (60-78%), then flat for 10 h (within the first
    // day: past it the seasonal baseline judges the held level).
    const double rate = std::uniform_real_distribution<double>(2.5, 4)(rng) / 100 * kCap;
    const int64_t stop = 12 * kHour;
    for (int variant = 0; variant < 2; ++variant) {
      HostRun run(variant == 0 ? Options() : slow);
      Noise noise(0.01 * kCap, seed);
      int64_t last_flagged = -1, cleared_at = -1;
      bool again = false;
      for (int64_t t = 0; t < stop + 10 * kHour; t += 2 * kMinute) {
        const double h = static_cast<double>(std::min(t, stop)) / kHour;
        run.Feed(PortsSample(t, 0.3 * kCap + rate * h + noise()));
        const bool flagged = run.host().state() != HostState::kOk;
        if (flagged) {
          if (cleared_at >= 0) again = true;
          last_flagged = t;
        } else if (t > stop && last_flagged >= 0 && cleared_at < 0) {
          cleared_at = t;
        }
      }
      if (cleared_at < 0) {
        never_ok += variant == 0 ? 1 : 0;
        continue;
      }
      (variant == 0 ? ok_min : ok_slow_min)
          .push_back(static_cast<double>(cleared_at - stop) / kMinute);
      if (again) ++(variant == 0 ? reflagged : reflagged_slow);
    }
    // A steep rise that pages: 30-45 %/h from 10%, stopping at 75-85%.
    {
      const double steep = std::uniform_real_distribution<double>(0.30, 0.45)(rng);
      const double top = std::uniform_real_distribution<double>(0.75, 0.85)(rng);
      const int64_t steep_stop = static_cast<int64_t>((top - 0.1) / steep * kHour);
      HostRun run;
      Noise noise(0.01 * kCap, seed);
      int64_t last_critical = -1;
      for (int64_t t = 0; t < steep_stop + 4 * kHour; t += 2 * kMinute) {
        const double h = static_cast<double>(std::min(t, steep_stop)) / kHour;
        run.Feed(PortsSample(t, (0.1 + steep * h) * kCap + noise()));
        if (run.host().state() == HostState::kCritical) last_critical = t;
      }
      if (last_critical >= 0) {
        ++paged;
        page_end_min.push_back(static_cast<double>(last_critical - steep_stop) / kMinute);
      }
    }
  }
  std::printf(
      "BANK | %-34s | %3d | ok again after the stop p50 %.0f min p90 %.0f min (slow rule alone "
      "p50 %.0f p90 %.0f); never ok %d; flagged again %d (slow rule alone %d)\n",
      "reset: leak 2.5-4 %/h stops at 60-78%", Seeds(), Quantile(ok_min, 0.5),
      Quantile(ok_min, 0.9), Quantile(ok_slow_min, 0.5), Quantile(ok_slow_min, 0.9), never_ok,
      reflagged, reflagged_slow);
  std::printf(
      "BANK | %-34s | %3d | paged in %d; page ends after the stop p50 %.0f min p90 "
      "%.0f min max %.0f min\n",
      "reset: rise 30-45 %/h stops at 75-85%", Seeds(), paged, Quantile(page_end_min, 0.5),
      Quantile(page_end_min, 0.9),
      page_end_min.empty() ? 0.0 : *std::max_element(page_end_min.begin(), page_end_min.end()));
  EXPECT_EQ(never_ok, 0);
  EXPECT_EQ(reflagged, 0) << "a stopped leak is not flagged again while it holds";
  // Under 1% noise an hour bounds a 2.5-4 %/h slope only loosely: the quick reset seldom beats
  // the slow rule here (it does on steeper rises); regression bounds at today's level.
  EXPECT_LE(Quantile(ok_min, 0.9), Quantile(ok_slow_min, 0.9));
  EXPECT_LE(Quantile(ok_min, 0.9), 110);
  EXPECT_EQ(paged, Seeds());
  EXPECT_LE(Quantile(page_end_min, 0.9), 16) << "a few 2-minute buckets";
}

// --- Soft resets and the trend of minima (envelope.h) ----------------------------------------

TEST(ScenarioBank, SawtoothLeak) {
  // Net growth with periodic partial releases: every 4 h, 60% of what the last 4 h added goes.
  // Each release is a change point; the troughs across them rise at the net rate.
  LeakStats stats;
  for (int seed = 0; seed < Seeds(); ++seed) {
    std::mt19937_64 rng(seed);
    const double gross = std::uniform_real_distribution<double>(4, 7)(rng) / 100 * kCap;  // /h
    const double base = 0.15 * kCap;
    const double net = gross * 0.4;  // per hour, averaged over a cycle
    Noise noise(0.005 * kCap, seed);
    auto level = [&](int64_t t) {
      const double h = static_cast<double>(t) / kHour;
      const double cycles = std::floor(h / 4);
      return base + cycles * 4 * net + (h - cycles * 4) * gross;
    };
    int64_t full = 0;
    while (level(full) < kCap) full += kMinute;
    stats.Add(RunLeak([&](int64_t t) { return level(t) + noise(); }, 0, full, 2 * kMinute));
  }
  stats.Print("sawtooth leak (release 60% / 4 h)");
  EXPECT_EQ(stats.before, stats.runs);
  // Without the trend of minima: share 0.56 / 0.69, ETA error 63% (the gross rate), back to ok
  // up to 4 times. The troughs call it at the third one (8-12 h), at the net rate.
  EXPECT_LT(Quantile(stats.share, 0.9), 0.4);
  EXPECT_LT(Quantile(stats.abs_error, 0.5), 0.1);
  EXPECT_LT(Quantile(stats.abs_error, 0.9), 0.2);
  EXPECT_EQ(stats.max_ok_returns, 0) << "no flapping";
}

TEST(ScenarioBank, LeakWithADeployStepAndAGap) {
  // A deploy drops 15% of the range at 30% of the way; a 45-minute gap later (agent down), after
  // the first flag: the host must stay flagged across it (soft reset).
  LeakStats stats;
  for (int seed = 0; seed < Seeds(); ++seed) {
    std::mt19937_64 rng(seed);
    const double rate = std::uniform_real_distribution<double>(2, 4)(rng) / 100 * kCap;
    const double base = 0.2 * kCap;
    Noise noise(0.01 * kCap, seed);
    const int64_t step_at = static_cast<int64_t>(0.3 * (kCap - base) / rate * kHour);
    auto level = [&](int64_t t) {
      const double l = base + rate * t / kHour;
      return t < step_at ? l : l - 0.15 * kCap;
    };
    int64_t full = 0;
    while (level(full) < kCap) full += kMinute;
    const int64_t gap_from = (step_at + full) / 2, gap_to = gap_from + 45 * kMinute;
    const std::vector<double> xs =
        Generate([&](int64_t t) { return level(t) + noise(); }, full + 2 * kMinute, 2 * kMinute);
    full = FirstExhaustedSample(xs, step_at, 2 * kMinute, full);
    HostRun run;
    LeakRun r;
    HostState last = HostState::kOk;
    for (int64_t t = 0; t <= full; t += 2 * kMinute) {
      if (t >= gap_from && t < gap_to) continue;
      run.Feed(PortsSample(t, xs[static_cast<size_t>(t / (2 * kMinute))]));
      const HostState st = run.host().state();
      if (r.flagged && st == HostState::kOk && last != HostState::kOk) ++r.ok_returns;
      last = st;
      if (!r.flagged && st != HostState::kOk && t > step_at) {
        JudgeFirstFlag(&r, run.Describe(t).headline_fit, t, 0, full);
      }
    }
    stats.Add(r);
  }
  stats.Print("leak with a deploy step and a gap");
  EXPECT_EQ(stats.before, stats.runs);
  EXPECT_LT(Quantile(stats.abs_error, 0.9), 0.35);
  EXPECT_LT(Quantile(stats.share, 0.9), 0.6);
  EXPECT_EQ(stats.max_ok_returns, 0) << "the gap and the step cost no drifting state";
}

}  // namespace
}  // namespace portwatch::analysis
