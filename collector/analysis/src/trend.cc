#include "portwatch/analysis/trend.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace portwatch::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The k-th smallest of values[0, n) (0-based); reorders values.
double KthSmallest(double* values, size_t n, size_t k) {
  std::nth_element(values, values + k, values + n);
  return values[k];
}

}  // namespace

double MedianInPlace(double* values, size_t n) {
  if (n == 0) return 0;
  const size_t mid = n / 2;
  const double upper = KthSmallest(values, n, mid);
  if (n % 2 == 1) return upper;
  // After nth_element everything before `mid` is <= upper: the lower middle is their maximum.
  const double lower = *std::max_element(values, values + mid);
  return (lower + upper) / 2;
}

double LongRunFactor(const double* values, size_t n, size_t* lags_out) {
  if (lags_out != nullptr) *lags_out = 0;
  if (n < 8) return 1;
  double mean = 0;
  for (size_t i = 0; i < n; ++i) mean += values[i];
  mean /= static_cast<double>(n);
  double g0 = 0;
  for (size_t i = 0; i < n; ++i) g0 += (values[i] - mean) * (values[i] - mean);
  if (!(g0 > 0)) return 1;
  auto rho = [&](size_t k) {
    double g = 0;
    for (size_t i = 0; i + k < n; ++i) g += (values[i] - mean) * (values[i + k] - mean);
    return g / g0;
  };
  // Geyer's initial positive sequence: autocorrelations summed in neighbouring pairs while a pair
  // is positive. The whole sum of sample autocorrelations of centred data is 0, so it must stop
  // where the correlation has died out; pairs make that stop robust to one noisy lag.
  const size_t max_lag = n / 4;
  double sum = 0;
  size_t lags = 0;
  // The first pair must be clearly positive (one standard error of a pair of independent
  // values' autocorrelations, sqrt(2 / n)): on a short window a pair positive by chance, then
  // corrected for the mean's bias below, would double the factor of independent noise.
  const double first_pair_min = std::sqrt(2.0 / static_cast<double>(n));
  for (size_t k = 1; k + 1 <= max_lag; k += 2) {
    const double pair = rho(k) + rho(k + 1);
    if (!(pair > (k == 1 ? first_pair_min : 0))) break;
    sum += pair;
    lags = k + 1;
  }
  if (lags_out != nullptr) *lags_out = lags;
  const double nn = static_cast<double>(n);
  // The mean was estimated on the same values: each sample autocovariance is low by about the
  // long-run variance over n, and so is the variance. Undo it for the lags summed.
  const double raw = 1 + 2 * sum;
  const double a = raw / (1 - (2 * static_cast<double>(lags) + 1) / nn);
  return std::clamp(a / (1 + a / nn), 1.0, nn);
}

double StudentQuantile(double z, double dof) {
  const double v = std::max(1.0, dof);
  const double z2 = z * z;
  const double z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2;
  return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) +
         (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v);
}

SlopeEstimate HalfLagSlope(const Point* points, size_t n, double z, std::vector<double>* scratch,
                           double interval_z) {
  SlopeEstimate out;
  if (interval_z <= 0) interval_z = z;
  if (n < 2) {
    out.low = out.interval_low = -kInf;
    out.high = out.interval_high = kInf;
    return out;
  }
  const size_t lag = (n + 1) / 2;
  const size_t m = n - lag;
  scratch->resize(2 * m);
  double* s = scratch->data();
  double* sign = s + m;
  for (size_t i = 0; i < m; ++i) {
    s[i] = (points[i + lag].x - points[i].x) / (points[i + lag].t - points[i].t);
    sign[i] = s[i];  // in time order: the selections below reorder s
  }
  out.pairs = m;
  // The median first: it partitions the slopes around the middle, so each bound is then
  // selected within its own half, which halves the work of more full selections.
  out.slope = MedianInPlace(s, m);
  if (!(z > 0)) {  // the slope alone was asked for
    out.low = out.interval_low = -kInf;
    out.high = out.interval_high = kInf;
    return out;
  }
  // The interval counts pair slopes on either side of the median. Neighbouring pair slopes share
  // the noise's autocorrelation, so their signs do too: m signs are worth m / f independent ones,
  // f measured on the signs at every lag the correlation lasts (a lag-1 estimate misses most of
  // a slowly wandering noise's). Signs are robust to wild points, as the median is.
  for (size_t i = 0; i < m; ++i) {
    sign[i] = sign[i] > out.slope ? 1.0 : (sign[i] < out.slope ? -1.0 : 0.0);
  }
  size_t lags = 0;
  out.ess_factor = LongRunFactor(sign, m, &lags);
  const double mm = static_cast<double>(m);
  // Few effective pairs: Student's t for them, not the normal quantile. The factor itself is
  // estimated from 2K + 1 autocorrelations of m values, which leaves about m / (2K + 1) degrees
  // of freedom; the fewer of the two speaks.
  const double dof =
      std::max(1.0, std::min(mm / out.ess_factor - 1, mm / (2 * static_cast<double>(lags) + 1)));
  const size_t mid = m / 2;  // s[mid] is in place; smaller ranks lie before it
  // Lower ranks already selected partition the lower half further: select the next one only in
  // what lies above it (and likewise for the upper bounds).
  size_t lower_done = 0, upper_done = m - 1;
  auto bounds = [&](double zq, double* low, double* high) {
    const double half_width = StudentQuantile(zq, dof) * std::sqrt(mm * out.ess_factor) / 2;
    const double low_rank = std::floor(mm / 2 - half_width);
    if (low_rank < 0) {
      *low = -kInf;
      *high = kInf;
      return;
    }
    const size_t lo = static_cast<size_t>(low_rank);
    if (lo >= mid) {
      *low = s[mid];
    } else {
      const size_t from = lo >= lower_done ? lower_done : 0;
      *low = KthSmallest(s + from, mid - from, lo - from);
      lower_done = lo + 1;
    }
    const size_t hi = m - 1 - lo;
    if (hi <= mid) {
      *high = s[mid];
    } else {
      const size_t to = hi <= upper_done ? upper_done + 1 : m;
      *high = KthSmallest(s + mid + 1, to - mid - 1, hi - mid - 1);
      upper_done = hi - 1;
    }
  };
  // The wider (larger z) first, so the narrower one selects inside what it left.
  if (z >= interval_z) {
    bounds(z, &out.low, &out.high);
    bounds(interval_z, &out.interval_low, &out.interval_high);
  } else {
    bounds(interval_z, &out.interval_low, &out.interval_high);
    bounds(z, &out.low, &out.high);
  }
  return out;
}

ResidualNoise MeasureResidualNoise(const Point* points, size_t n, double slope,
                                   double level_at_t_now, double t_now,
                                   std::vector<double>* scratch) {
  ResidualNoise out;
  if (n == 0) return out;
  double t_sum = 0;
  for (size_t i = 0; i < n; ++i) t_sum += points[i].t;
  out.t_center = t_sum / static_cast<double>(n);
  const size_t all = n;
  // The noise's spread and correlation are local properties: the newest kNoisePoints tell them,
  // which bounds the cost on a full window. The level's error counts every point.
  constexpr size_t kNoisePoints = 256;
  if (n > kNoisePoints) {
    points += n - kNoisePoints;
    n = kNoisePoints;
  }
  scratch->resize(2 * n);
  double* r = scratch->data();
  double* work = r + n;
  for (size_t i = 0; i < n; ++i) {
    r[i] = points[i].x - (level_at_t_now + slope * (points[i].t - t_now));
    work[i] = r[i];
  }
  const double center = MedianInPlace(work, n);
  for (size_t i = 0; i < n; ++i) work[i] = std::fabs(r[i] - center);
  out.sigma = 1.4826 * MedianInPlace(work, n);
  if (n >= 3) {
    for (size_t i = 0; i + 1 < n; ++i) work[i] = r[i + 1] - r[i];
    const double step_center = MedianInPlace(work, n - 1);
    for (size_t i = 0; i + 1 < n; ++i) work[i] = std::fabs(r[i + 1] - r[i] - step_center);
    out.step_sigma = 1.4826 * MedianInPlace(work, n - 1) / std::sqrt(2.0);
  }
  out.ess_factor = LongRunFactor(r, n);
  // The level is a median of the residual intercepts: sqrt(pi / 2) times a mean's error, over
  // the n / f effective points.
  out.level_se = 1.2533 * out.sigma * std::sqrt(out.ess_factor / static_cast<double>(all));
  return out;
}

namespace {

// The u with 1 - Phi(u) = q, for 0 < q < 1: Abramowitz & Stegun 26.2.23 (error below 4.5e-4),
// a closed form, since this runs three times a refit.
double UpperTailQuantile(double q) {
  const bool upper = q <= 0.5;
  const double p = upper ? q : 1 - q;
  const double t = std::sqrt(-2 * std::log(p));
  const double u = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                           (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
  return upper ? u : -u;
}

}  // namespace

double FirstPassageMargin(double sigma, double step_sigma, double rate, double p) {
  if (!(sigma > 0) || !(step_sigma > 0) || !(rate > 0) || !(p > 0) || !(p < 1)) return 0;
  // The tail probability 1 - Phi(u) the up-crossings need, then u.
  const double tail = -std::log(1 - p) * rate * std::sqrt(M_PI) / step_sigma;
  constexpr double kLow = -4, kHigh = 8;
  if (tail >= 1) return kLow * sigma;
  return std::clamp(UpperTailQuantile(tail), kLow, kHigh) * sigma;
}

double RobustLevelAt(const Point* points, size_t n, double slope, double t_at,
                     std::vector<double>* scratch) {
  scratch->resize(n);
  for (size_t i = 0; i < n; ++i) (*scratch)[i] = points[i].x - slope * points[i].t;
  return MedianInPlace(scratch->data(), n) + slope * t_at;
}

double DifferenceNoise(const Point* points, size_t n, std::vector<double>* scratch) {
  if (n < 3) return 0;
  scratch->resize(n - 1);
  double* d = scratch->data();
  for (size_t i = 0; i + 1 < n; ++i) {
    d[i] = (points[i + 1].x - points[i].x) / (points[i + 1].t - points[i].t);
  }
  const double center = MedianInPlace(d, n - 1);
  for (size_t i = 0; i + 1 < n; ++i) d[i] = std::fabs(d[i] - center);
  // 1.4826 turns a MAD into a normal standard deviation; a difference of two independent
  // values has sqrt(2) times the noise of one.
  return 1.4826 * MedianInPlace(d, n - 1) / std::sqrt(2.0);
}

double BlockDifferenceNoise(const Point* points, size_t n, size_t m,
                            std::vector<double>* scratch) {
  if (m == 0) return 0;
  const size_t blocks = n / m;
  if (blocks < 5) return 0;
  // One buffer: the block medians first, then one block's values at a time behind them.
  scratch->resize(blocks + m);
  double* medians = scratch->data();
  double* block = medians + blocks;
  const Point* first = points + (n - blocks * m);
  for (size_t b = 0; b < blocks; ++b) {
    for (size_t i = 0; i < m; ++i) block[i] = first[b * m + i].x;
    medians[b] = MedianInPlace(block, m);
  }
  // Second differences: a trend, and a change of trend (a rise that stops), leave them at 0
  // but for one block. Of independent medians, a second difference has sqrt(3) times the noise
  // of a first one, which is what a level shift test compares.
  for (size_t b = 0; b + 2 < blocks; ++b) {
    medians[b] = medians[b + 2] - 2 * medians[b + 1] + medians[b];
  }
  const size_t d = blocks - 2;
  const double center = MedianInPlace(medians, d);
  for (size_t b = 0; b < d; ++b) medians[b] = std::fabs(medians[b] - center);
  return 1.4826 * MedianInPlace(medians, d) / std::sqrt(3.0);
}

LevelShift TestLevelShift(const Point* points, size_t n, size_t c, size_t m, double slope,
                          double threshold, std::vector<double>* scratch) {
  LevelShift out;
  if (m == 0 || c < m || c + m > n) return out;
  scratch->resize(2 * m);
  double* before = scratch->data();
  double* after = before + m;
  double t_before = 0;
  double t_after = 0;
  for (size_t i = 0; i < m; ++i) {
    before[i] = points[c - m + i].x;
    after[i] = points[c + i].x;
    t_before += points[c - m + i].t;
    t_after += points[c + i].t;
  }
  const double expected_rise = slope * (t_after - t_before) / static_cast<double>(m);
  out.size = MedianInPlace(after, m) - MedianInPlace(before, m) - expected_rise;
  out.found = std::fabs(out.size) > threshold;
  return out;
}

CycleFit FitCycle(const Point* points, size_t n, double omega) {
  CycleFit out;
  if (n < 8) return out;
  // Normal equations of both fits, centred on the first point's time for conditioning.
  const double t0 = points[0].t;
  double s[3][3] = {}, r[3] = {};
  double lt = 0, ltt = 0, lx = 0, ltx = 0, xx = 0;
  for (size_t i = 0; i < n; ++i) {
    const double t = points[i].t - t0, x = points[i].x;
    const double f[3] = {1, std::cos(omega * t), std::sin(omega * t)};
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) s[a][b] += f[a] * f[b];
      r[a] += f[a] * x;
    }
    lt += t;
    ltt += t * t;
    lx += x;
    ltx += t * x;
    xx += x * x;
  }
  // Gaussian elimination with partial pivoting on the 3x3 system.
  double m[3][4];
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) m[a][b] = s[a][b];
    m[a][3] = r[a];
  }
  for (int col = 0; col < 3; ++col) {
    int pivot = col;
    for (int row = col + 1; row < 3; ++row) {
      if (std::fabs(m[row][col]) > std::fabs(m[pivot][col])) pivot = row;
    }
    if (std::fabs(m[pivot][col]) < 1e-12 * (std::fabs(s[0][0]) + 1)) return out;
    for (int k = 0; k < 4; ++k) std::swap(m[col][k], m[pivot][k]);
    for (int row = 0; row < 3; ++row) {
      if (row == col) continue;
      const double q = m[row][col] / m[col][col];
      for (int k = col; k < 4; ++k) m[row][k] -= q * m[col][k];
    }
  }
  const double coef[3] = {m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]};
  // RSS = x'x - coef' X'x for least squares.
  out.rss_cycle = std::max(0.0, xx - (coef[0] * r[0] + coef[1] * r[1] + coef[2] * r[2]));
  const double nn = static_cast<double>(n);
  const double det = nn * ltt - lt * lt;
  if (det <= 0) return out;
  const double slope = (nn * ltx - lt * lx) / det;
  const double icpt = (lx - slope * lt) / nn;
  out.rss_line = std::max(0.0, xx - (icpt * lx + slope * ltx));
  out.peak = coef[0] + std::hypot(coef[1], coef[2]);
  out.valid = true;
  return out;
}

}  // namespace portwatch::analysis
