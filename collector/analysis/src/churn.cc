#include "portwatch/analysis/churn.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace portwatch::analysis {
namespace {

// TcpTimedWaitDelay's documented range; Windows clamps values outside it.
constexpr int64_t kWindowsTwMin = 30;
constexpr int64_t kWindowsTwMax = 300;

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The major NT version in "Windows 6.1.7601 Service Pack 1", or -1.
int WindowsMajor(const std::string& os_version) {
  const size_t space = os_version.find(' ');
  if (space == std::string::npos) return -1;
  const char* p = os_version.c_str() + space + 1;
  char* end = nullptr;
  const long major = std::strtol(p, &end, 10);
  return end == p ? -1 : static_cast<int>(major);
}

std::string Format(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string Multiple(double x) { return Format(x < 9.95 ? "%.1f" : "%.0f", x); }

}  // namespace

HostSettings SettingsFromConfig(const ConfigSnapshot& config) {
  HostSettings s;
  s.known = true;
  s.os_version = config.os_version;
  for (const ConfigValue& v : config.values) {
    if (!v.present || v.type != ConfigValue::Type::kInt) continue;
    if (v.key == "Tcpip.TcpTimedWaitDelay") {
      s.has_tw_delay = true;
      s.tw_delay_s = v.int_value;
    } else if (v.key == "net.ipv4.tcp_tw_reuse") {
      s.tw_reuse = static_cast<int>(v.int_value);
    }
  }
  return s;
}

TimeWaitDuration TimeWaitFor(const HostSettings& settings) {
  TimeWaitDuration d;
  if (StartsWith(settings.os_version, "Linux")) {
    d.is_linux = true;
    d.seconds = 60;  // TCP_TIMEWAIT_LEN; tcp_fin_timeout is FIN_WAIT2's, not TIME_WAIT's
    d.source = "Linux (fixed)";
  } else if (StartsWith(settings.os_version, "Windows")) {
    d.is_windows = true;
    if (settings.has_tw_delay) {
      d.seconds =
          static_cast<double>(std::clamp(settings.tw_delay_s, kWindowsTwMin, kWindowsTwMax));
      d.source = "TcpTimedWaitDelay";
    } else {
      const int major = WindowsMajor(settings.os_version);
      d.seconds = major >= 0 && major < 6 ? 240 : 120;
      d.source = "Windows default";
    }
  } else {
    d.seconds = 120;
    d.source = "assumed (OS unknown)";
  }
  return d;
}

const ChurnTracker::Raw& ChurnTracker::At(size_t age) const {
  return ring_[(next_ + kPoints - 1 - age) % kPoints];
}

const ChurnTracker::Coarse& ChurnTracker::CoarseAt(size_t age) const {
  return coarse_[(coarse_next_ + kCoarse - 1 - age) % kCoarse];
}

const ChurnTracker::Coarse* ChurnTracker::CoarseAgo(double age_ms) const {
  if (size_ == 0) return nullptr;
  const int64_t now = At(0).unix_ms;
  const Coarse* best = nullptr;
  for (size_t i = 0; i < coarse_size_; ++i) {
    const Coarse& c = CoarseAt(i);
    const double age = static_cast<double>(now - c.unix_ms);
    if (age >= age_ms * 0.9) {
      if (best == nullptr || age < static_cast<double>(now - best->unix_ms)) best = &c;
    }
  }
  return best;
}

void ChurnTracker::Add(int64_t unix_ms, uint32_t ports, uint32_t time_wait, double tw_seconds,
                       uint32_t capacity) {
  if (size_ > 0 && unix_ms < At(0).unix_ms) return;
  if (size_ == 0) {
    first_ms_ = unix_ms;
    first_time_wait_ = time_wait;
  }
  ring_[next_] = {unix_ms, ports, time_wait};
  next_ = (next_ + 1) % kPoints;
  size_ = std::min(size_ + 1, kPoints);
  if (coarse_size_ == 0 ||
      static_cast<double>(unix_ms - CoarseAt(0).unix_ms) >= tw_seconds * 1000 / 8) {
    const ChurnEstimate e = Estimate(tw_seconds, capacity);
    coarse_[coarse_next_] = {unix_ms, static_cast<float>(e.close_rate_per_s),
                             static_cast<float>(e.steady)};
    coarse_next_ = (coarse_next_ + 1) % kCoarse;
    coarse_size_ = std::min(coarse_size_ + 1, kCoarse);
  }
}

ChurnEstimate ChurnTracker::Estimate(double tw_seconds, uint32_t capacity) const {
  ChurnEstimate e;
  if (size_ == 0 || tw_seconds <= 0) return e;
  const Raw& newest = At(0);
  // The TIME_WAIT count's rise per second, over the newest quarter of T_tw (a storm is seen
  // within a few samples) but at least four samples when they are within 2 T_tw.
  const double window_ms = tw_seconds * 1000 / 4;
  size_t n = 1;
  while (n < size_ && static_cast<double>(newest.unix_ms - At(n).unix_ms) <= window_ms) ++n;
  while (n < std::min<size_t>(4, size_) &&
         static_cast<double>(newest.unix_ms - At(n).unix_ms) <= 8 * window_ms) {
    ++n;
  }
  // Theil-Sen on the window (at most kPoints samples, so at most 28 pairs): one spiky reading
  // moves neither the rise nor the level.
  double tw_now = newest.time_wait;
  double rise_per_s = 0;
  if (n >= 2) {
    double slopes[kPoints * (kPoints - 1) / 2];
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        const double dt = static_cast<double>(At(i).unix_ms - At(j).unix_ms) / 1000;
        if (dt > 0) {
          slopes[k++] = (static_cast<double>(At(i).time_wait) - At(j).time_wait) / dt;
        }
      }
    }
    if (k > 0) {
      std::nth_element(slopes, slopes + k / 2, slopes + k);
      rise_per_s = slopes[k / 2];
    }
    if (n >= 3) {
      double level[kPoints];
      for (size_t i = 0; i < n; ++i) {
        level[i] = At(i).time_wait -
                   rise_per_s * static_cast<double>(At(i).unix_ms - newest.unix_ms) / 1000;
      }
      std::nth_element(level, level + n / 2, level + n);
      tw_now = std::max(0.0, level[n / 2]);
    }
  }
  // Ports held by live connections: the median of the newest three, for the same reason, or the
  // newest if lower (a rise must last two samples to count, a release counts at once).
  double held[3];
  const size_t hn = std::min<size_t>(3, size_);
  for (size_t i = 0; i < hn; ++i) {
    held[i] = std::max(0.0, static_cast<double>(At(i).ports) - At(i).time_wait);
  }
  e.valid = size_ >= 2;
  e.time_wait = tw_now;
  const double held_newest =
      std::max(0.0, static_cast<double>(newest.ports) - static_cast<double>(newest.time_wait));
  std::nth_element(held, held + hn / 2, held + hn);
  e.held = std::min(held_newest, held[hn / 2]);
  const double little = tw_now / tw_seconds;
  // Closes arrive at random, so over a window of d seconds the TIME_WAIT count moves by about
  // sqrt(2 * lambda * d) with no change of churn (what enters minus what leaves, each Poisson).
  // A rise within two such deviations is not evidence and is not projected: on a small range the
  // raw rise of a plateau (the kernel expires TIME_WAIT in timer-wheel batches, so the count
  // climbs between them), projected over T_tw / 2, moved the steady occupancy by 10-40 points.
  // The recursion below keeps the raw rise: only the projection's ceiling is held back.
  const double span_s = static_cast<double>(newest.unix_ms - At(n - 1).unix_ms) / 1000;
  const double noise_per_s = span_s > 0 ? 2 * std::sqrt(2 * little * span_s) / span_s : 0;
  const double raw_rise = std::max(0.0, rise_per_s);
  double rise = raw_rise > noise_per_s ? raw_rise : 0;
  const Coarse* ago = CoarseAgo(tw_seconds * 1000);
  if (ago == nullptr) {
    // Less than one T_tw of history: what closed before the first sample is unknown, so the
    // rise cannot be told from a churn that started just before it. The projection (rise / 2 *
    // T_tw) is then held to the TIME_WAIT growth seen since the first sample, beyond the same
    // counting noise.
    const double since_s = static_cast<double>(newest.unix_ms - first_ms_) / 1000;
    const double growth = tw_now - first_time_wait_ - 2 * std::sqrt(2 * little * since_s);
    rise = std::min(rise, 2 * std::max(0.0, growth) / tw_seconds);
  }
  e.close_rate_per_s = little + rise / 2;
  if (ago != nullptr) {
    e.close_rate_per_s =
        std::clamp(raw_rise + static_cast<double>(ago->rate), little, little + rise / 2);
  }
  e.steady = e.held + e.close_rate_per_s * tw_seconds;
  // Growth of the steady occupancy in each quarter of the last T_tw, the slowest: a churn that
  // keeps growing rises in all four, a storm that stepped up once rises only while the estimate
  // catches up (a quarter of T_tw, so in at most two).
  if (ago != nullptr) {
    double slowest = kNever;
    double later_steady = e.steady;
    int64_t later_ms = newest.unix_ms;
    for (int q = 1; q <= 4; ++q) {
      const Coarse* c = CoarseAgo(tw_seconds * 250 * q);
      if (c == nullptr || c->unix_ms >= later_ms) {
        slowest = 0;
        break;
      }
      const double g = (later_steady - static_cast<double>(c->steady)) /
                       (static_cast<double>(later_ms - c->unix_ms) / 1000);
      slowest = std::min(slowest, g);
      later_steady = c->steady;
      later_ms = c->unix_ms;
    }
    e.steady_growth_per_s = slowest;
    if (e.steady_growth_per_s > 0 && capacity > 0) {
      e.eta_s = std::max(0.0, static_cast<double>(capacity) - e.steady) / e.steady_growth_per_s;
    }
  }
  e.steady_utilization = capacity == 0 ? 0 : e.steady / capacity;
  const double churn_ports = e.close_rate_per_s * tw_seconds;
  if (churn_ports > 0 && capacity > 0) {
    e.headroom = (static_cast<double>(capacity) - e.held) / churn_ports - 1;
  }
  e.time_wait_share = newest.ports == 0 ? 0 : std::min(1.0, tw_now / newest.ports);
  return e;
}

std::string HeadroomSentence(const std::string& key, const ChurnEstimate& c,
                             const TimeWaitDuration& tw) {
  const std::string where = key.empty() ? "churn on this host" : "churn toward " + key;
  std::string failure;
  if (tw.is_linux) {
    failure = " (EADDRNOTAVAIL)";
  } else if (tw.is_windows) {
    failure = key.empty() ? " (event 4231)" : " (event 4227)";
  }
  if (c.headroom >= ChurnEstimate::kNoHeadroomLimit) return where + " is negligible";
  if (c.headroom >= 0) {
    return where + " can grow " + Format("%.0f%%", c.headroom * 100) + " before connects fail" +
           failure;
  }
  return where + " is " + Format("%.0f%%", -c.headroom * 100 / (1 + c.headroom)) +
         " more than fits: connects fail" + failure + " within ~" + Format("%.0f", tw.seconds) +
         " s of TIME_WAIT";
}

std::string RemedySentence(const ChurnEstimate& c, const TimeWaitDuration& tw,
                           const HostSettings& settings, uint32_t capacity) {
  const double churn_ports = c.close_rate_per_s * tw.seconds;
  if (churn_ports <= 0 || capacity == 0) return "";
  const double room = static_cast<double>(capacity) - c.held;
  if (tw.is_windows && tw.seconds > kWindowsTwMin) {
    const double hold = room / (c.close_rate_per_s * kWindowsTwMin);
    return "TcpTimedWaitDelay " + Format("%.0f", tw.seconds) + " → " +
           std::to_string(kWindowsTwMin) + " would hold " + Multiple(hold) + "× this churn";
  }
  if (tw.is_linux) {
    if (settings.tw_reuse != 1) {
      return "Linux keeps TIME_WAIT 60 s: net.ipv4.tcp_tw_reuse=1 lets new connects reuse it, or "
             "widen net.ipv4.ip_local_port_range";
    }
    return "TIME_WAIT is fixed at 60 s on Linux and tcp_tw_reuse is on: widen "
           "net.ipv4.ip_local_port_range or reuse connections (keep-alive, pooling)";
  }
  return "reuse connections (keep-alive, pooling) or widen the ephemeral port range";
}

void OwnerTally::Add(const std::string& name, uint32_t connections) {
  for (double& w : weights_) w *= kDecay;
  if (name.empty() || connections == 0) return;
  int slot = 0;
  for (int i = 0; i < kSlots; ++i) {
    if (names_[i] == name) {
      slot = i;
      break;
    }
    // Not tallied: it takes the weakest slot (an empty one first, its weight being 0).
    if (weights_[i] < weights_[slot]) slot = i;
  }
  if (names_[slot] != name) {
    names_[slot] = name;
    weights_[slot] = 0;
  }
  weights_[slot] += connections;
}

const std::string& OwnerTally::Top() const {
  int best = 0;
  for (int i = 1; i < kSlots; ++i) {
    if (weights_[i] > weights_[best]) best = i;
  }
  return names_[best];
}

size_t OwnerTally::HeapBytes() const {
  size_t bytes = 0;
  for (const std::string& n : names_) bytes += n.capacity() > 15 ? n.capacity() + 1 : 0;
  return bytes;
}

}  // namespace portwatch::analysis
