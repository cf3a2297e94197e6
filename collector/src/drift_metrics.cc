#include "src/drift_metrics.h"

#include <cmath>
#include <string>

#include "portwatch/files.h"
#include "src/metric_families.h"

namespace portwatch::collector {
namespace {

// Hosts that are not ok get per-destination and per-process forecasts, at most this many hosts.
constexpr size_t kDetailHosts = 200;
// Fleet aggregates exported per scrape.
constexpr size_t kFleetTop = 20;

}  // namespace

std::vector<prometheus::MetricFamily> DriftCollectable::Collect() const {
  using prometheus::MetricType;
  auto state = NewFamily("portwatch_host_state",
                         "Drift state of the host: 1 for its current state (ok, drifting, "
                         "critical, exhausted, silent), 0 for the others",
                         MetricType::Gauge);
  auto eta = NewFamily("portwatch_host_exhaustion_eta_seconds",
                       "Seconds until the host runs out of ephemeral ports (or of 4-tuples toward "
                       "its worst destination) at its current growth; only while drifting or worse",
                       MetricType::Gauge);
  auto growth = NewFamily("portwatch_host_port_growth_ratio_per_second",
                          "Growth of the host's worst series as a share of its capacity per "
                          "second (x 360000 = percent per hour)",
                          MetricType::Gauge);
  auto dest_eta = NewFamily("portwatch_host_destination_exhaustion_eta_seconds",
                            "Seconds until the host's 4-tuples toward this destination run out, "
                            "for hosts that are not ok",
                            MetricType::Gauge);
  auto proc_growth = NewFamily("portwatch_host_process_port_growth_per_second",
                               "Growth of the ports a process holds, per second, for hosts that "
                               "are not ok",
                               MetricType::Gauge);
  auto skew = NewFamily("portwatch_host_clock_skew_seconds",
                        "Agent clock minus the collector's receipt time of the host's latest "
                        "report (includes delivery delay; ahead beyond the limit is re-timed)",
                        MetricType::Gauge);
  auto steady = NewFamily("portwatch_host_churn_steady_ratio",
                          "Where occupancy settles at today's TIME_WAIT churn, as a share of "
                          "capacity (the host's range or its worst destination's 4-tuples)",
                          MetricType::Gauge);
  auto by_state = NewFamily("portwatch_fleet_hosts_by_state", "Hosts in each drift state",
                            MetricType::Gauge);
  auto fleet_dest = NewFamily("portwatch_fleet_destination_growing_hosts",
                              "Hosts whose ports toward this destination grow significantly "
                              "(top destinations of the fleet)",
                              MetricType::Gauge);
  auto fleet_proc = NewFamily("portwatch_fleet_process_growing_hosts",
                              "Hosts where this process's ports grow significantly (top "
                              "processes of the fleet)",
                              MetricType::Gauge);
  auto out_of_order = NewFamily("portwatch_analysis_out_of_order_reports_total",
                                "Stored reports too old to analyse (replayed after newer ones)",
                                MetricType::Counter);

  for (const DriftSummary& h : drift_.Summaries()) {
    for (int s = 0; s < analysis::kHostStateCount; ++s) {
      const auto hs = static_cast<analysis::HostState>(s);
      AddSample(state, {{"host", h.host}, {"state", std::string(analysis::HostStateName(hs))}},
                h.summary.state == hs ? 1 : 0);
    }
    if (std::isfinite(h.summary.eta_s)) AddSample(eta, {{"host", h.host}}, h.summary.eta_s);
    if (std::isfinite(h.summary.growth_pct_per_hour)) {
      AddSample(growth, {{"host", h.host}}, h.summary.growth_pct_per_hour / 100 / 3600);
    }
    AddSample(skew, {{"host", h.host}}, h.summary.clock_skew_s);
    if (std::isfinite(h.summary.steady_utilization)) {
      AddSample(steady, {{"host", h.host}}, h.summary.steady_utilization);
    }
  }
  for (const analysis::HostStatus& st : drift_.Worst(kDetailHosts, NowUnixMs())) {
    for (const auto& d : st.destinations) {
      if (d.present && d.fit.forecast.finite && std::isfinite(d.fit.forecast.eta_s)) {
        AddSample(dest_eta, {{"host", st.host}, {"destination", d.key}}, d.fit.forecast.eta_s);
      }
    }
    for (const auto& p : st.processes) {
      if (p.present && p.fit.trend.valid && std::isfinite(p.fit.trend.per_hour)) {
        AddSample(proc_growth, {{"host", st.host}, {"process", p.key}}, p.fit.trend.per_hour / 3600);
      }
    }
  }
  const auto counts = drift_.StateCounts();
  for (int s = 0; s < analysis::kHostStateCount; ++s) {
    AddSample(by_state,
              {{"state", std::string(analysis::HostStateName(static_cast<analysis::HostState>(s)))}},
              counts[s]);
  }
  for (const auto& a : drift_.Destinations(kFleetTop)) {
    AddSample(fleet_dest, {{"destination", a.key}}, a.growing_hosts);
  }
  for (const auto& a : drift_.Processes(kFleetTop)) {
    AddSample(fleet_proc, {{"process", a.key}}, a.growing_hosts);
  }
  AddSample(out_of_order, {}, static_cast<double>(drift_.out_of_order()));
  return {std::move(state),     std::move(eta),        std::move(growth),
          std::move(dest_eta),  std::move(proc_growth), std::move(by_state),
          std::move(fleet_dest), std::move(fleet_proc), std::move(out_of_order),
          std::move(skew),      std::move(steady)};
}

}  // namespace portwatch::collector
