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

SlopeEstimate HalfLagSlope(const Point* points, size_t n, double z, std::vector<double>* scratch) {
  SlopeEstimate out;
  if (n < 2) {
    out.low = -kInf;
    out.high = kInf;
    return out;
  }
  const size_t lag = (n + 1) / 2;
  const size_t m = n - lag;
  scratch->resize(m);
  double* s = scratch->data();
  for (size_t i = 0; i < m; ++i) {
    s[i] = (points[i + lag].x - points[i].x) / (points[i + lag].t - points[i].t);
  }
  out.pairs = m;
  // The median first: it partitions the slopes around the middle, so each bound is then
  // selected within its own half, which halves the work of two more full selections.
  out.slope = MedianInPlace(s, m);
  // Neighbouring pair slopes share the noise's autocorrelation: the m slopes are worth
  // m (1 - rho) / (1 + rho) independent ones (rho: lag-1 autocorrelation of the residuals from
  // the median line), so the rank interval widens by sqrt((1 + rho) / (1 - rho)).
  double rho = 0;
  {
    double intercept_sum = 0;
    for (size_t i = 0; i < n; ++i) intercept_sum += points[i].x - out.slope * points[i].t;
    const double mean = intercept_sum / static_cast<double>(n);
    double num = 0, den = 0, prev = 0;
    for (size_t i = 0; i < n; ++i) {
      const double r = points[i].x - out.slope * points[i].t - mean;
      den += r * r;
      if (i > 0) num += r * prev;
      prev = r;
    }
    if (den > 0) rho = std::clamp(num / den, 0.0, 0.95);
  }
  const double half_width = z * std::sqrt(static_cast<double>(m) * (1 + rho) / (1 - rho)) / 2;
  const double low_rank = std::floor(static_cast<double>(m) / 2 - half_width);
  if (low_rank < 0) {
    out.low = -kInf;
    out.high = kInf;
  } else {
    const size_t lo = static_cast<size_t>(low_rank);
    const size_t mid = m / 2;  // s[mid] is in place; smaller ranks lie before it
    out.low = lo < mid ? KthSmallest(s, mid, lo) : s[mid];
    const size_t hi = m - 1 - lo;
    out.high = hi > mid ? KthSmallest(s + mid + 1, m - mid - 1, hi - mid - 1) : s[mid];
  }
  return out;
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
