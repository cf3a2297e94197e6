#include "src/fleet_core.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "portwatch/files.h"

namespace portwatch::collector {

FleetCore::FleetCore(FleetState& fleet, DriftMonitor& drift, ViewPublisher& views,
                     prometheus::Registry& registry, FleetCoreOptions options)
    : fleet_(fleet),
      drift_(drift),
      views_(views),
      opts_(options),
      queue_gauge_(prometheus::BuildGauge()
                       .Name("portwatch_publish_queue_length")
                       .Help("Committed hellos and reports waiting to reach fleet state and drift "
                             "analysis")
                       .Register(registry)
                       .Add({})),
      dropped_counter_(prometheus::BuildCounter()
                           .Name("portwatch_publish_queue_dropped_total")
                           .Help("Stored reports left out of fleet state and analysis because the "
                                 "state queue was full (they are stored and acknowledged; the "
                                 "host's next report brings its state up to date)")
                           .Register(registry)
                           .Add({})),
      removed_counter_(prometheus::BuildCounter()
                           .Name("portwatch_fleet_hosts_forgotten_total")
                           .Help("Hosts removed from fleet state, analysis and metrics because "
                                 "they were not heard from within the history retention")
                           .Register(registry)
                           .Add({})),
      publish_seconds_(prometheus::BuildHistogram()
                           .Name("portwatch_publish_duration_seconds")
                           .Help("Time to apply one batch to fleet state and analysis and publish "
                                 "the new fleet view")
                           .Register(registry)
                           .Add({}, prometheus::Histogram::BucketBoundaries{
                                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25, 0.5, 1, 2.5})) {}

FleetCore::~FleetCore() { Stop(); }

void FleetCore::Start() {
  thread_ = std::thread([this] { Run(); });
}

void FleetCore::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FleetCore::Submit(std::vector<StateEvent> events) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (StateEvent& ev : events) {
      // Hellos are few and tiny, and a lost one would leave the host without its facts.
      if (ev.kind != StateEvent::Kind::kHello && queue_.size() >= opts_.max_queue) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        dropped_counter_.Increment();
        continue;
      }
      queue_.push_back(std::move(ev));
    }
    queue_gauge_.Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
}

void FleetCore::Run() {
  using Clock = std::chrono::steady_clock;
  auto next_tick = Clock::now();
  std::vector<StateEvent> batch;
  for (;;) {
    bool stop;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait_until(lk, next_tick, [this] { return stopping_ || !queue_.empty(); });
      batch.clear();
      batch.swap(queue_);
      queue_gauge_.Set(0);
      stop = stopping_;
    }
    const auto now = Clock::now();
    const bool tick = now >= next_tick;
    if (tick) next_tick = now + std::chrono::milliseconds(opts_.tick_ms);
    if (!batch.empty() || tick || stop) Step(batch, tick, NowUnixMs());
    if (stop) return;
    // Under load, let the next events gather so that a view is not rebuilt for every report:
    // a view costs O(hosts), so on a large fleet publishing takes at most a quarter of this
    // thread (the view is then a little older, never inconsistent).
    if (!batch.empty() && opts_.min_publish_interval_ms > 0) {
      const double pause_ms =
          std::max<double>(opts_.min_publish_interval_ms, 3 * last_publish_ms_.load());
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait_for(lk, std::chrono::microseconds(static_cast<int64_t>(pause_ms * 1000)),
                   [this] { return stopping_; });
    }
  }
}

void FleetCore::Step(std::vector<StateEvent>& events, bool tick, int64_t now_unix_ms) {
  const auto t0 = std::chrono::steady_clock::now();
  std::set<std::string> changed;
  for (StateEvent& ev : events) {
    changed.insert(ev.host);
    Apply(ev);
  }
  if (tick) {
    Tick(now_unix_ms);
  }
  for (const std::string& host : changed) {
    if (fleet_.Find(host) != nullptr) Refresh(host, now_unix_ms);
  }
  const auto t1 = std::chrono::steady_clock::now();
  Publish(now_unix_ms);
  last_publish_ms_.store(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count());
  publish_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

void FleetCore::Apply(StateEvent& ev) {
  switch (ev.kind) {
    case StateEvent::Kind::kHello:
      fleet_.OnHello(ev.host, ev.hello, ev.received_unix_ms);
      fleet_.SetCertificateExpiry(ev.host, ev.certificate_not_after_unix);
      break;
    case StateEvent::Kind::kReport: {
      // Analysis and policy first: they read the report, fleet state then takes it over. The
      // settings fleet state kept (restored at start) stand in until the agent's next snapshot.
      const HostView* known = fleet_.Find(ev.host);
      // Reports are taken in receipt order; one dated before the host's newest (a clock that
      // stepped back, a spool delivered late, two agents sharing one identity) is analysed at
      // a corrected time and does not become the host's latest in the view: counted.
      if (known != nullptr && known->report != nullptr &&
          ev.report.collected_unix_ms < known->report->collected_unix_ms) {
        ++out_of_order_;
      }
      drift_.OnReport(ev.host, ev.report, ev.received_unix_ms,
                      known != nullptr ? known->config.get() : nullptr);
      if (policy_ != nullptr) policy_->OnReport(ev.host, ev.report);
      fleet_.OnReport(ev.host, std::move(ev.report), ev.received_unix_ms);
      fleet_.SetAgentReportsDropped(ev.host, ev.agent_dropped_total);
      break;
    }
    case StateEvent::Kind::kDuplicate:
      fleet_.OnDuplicate(ev.host, ev.received_unix_ms);
      fleet_.SetAgentReportsDropped(ev.host, ev.agent_dropped_total);
      break;
  }
}

void FleetCore::Refresh(const std::string& host, int64_t now_unix_ms) {
  if (auto summary = drift_.Summary(host)) {
    auto status = drift_.Host(host, now_unix_ms);
    fleet_.SetDrift(host, *summary,
                    status ? std::make_shared<const analysis::HostStatus>(std::move(*status))
                           : nullptr);
    return;
  }
  // Never analysed (a hello, no report yet): silent by the same rule, on the same clock.
  const HostView* h = fleet_.Find(host);
  analysis::HostSummary s;
  s.last_seen_ms = h->last_seen_unix_ms;
  s.state = now_unix_ms - h->last_contact_unix_ms > opts_.silent_after_ms
                ? analysis::HostState::kSilent
                : analysis::HostState::kOk;
  fleet_.SetDrift(host, s, nullptr);
}

void FleetCore::Tick(int64_t now_unix_ms) {
  drift_.Tick(now_unix_ms);
  std::vector<std::string> forget;
  std::unordered_map<std::string, analysis::HostState> states;
  for (const DriftSummary& s : drift_.Summaries()) states.emplace(s.host, s.summary.state);
  std::vector<std::string> refresh;
  fleet_.ForEach([&](const HostView& h) {
    if (opts_.forget_after_ms > 0 && now_unix_ms - h.last_contact_unix_ms > opts_.forget_after_ms) {
      forget.push_back(h.host);
      return;
    }
    auto it = states.find(h.host);
    const analysis::HostState now_state =
        it != states.end() ? it->second
        : now_unix_ms - h.last_contact_unix_ms > opts_.silent_after_ms
            ? analysis::HostState::kSilent
            : analysis::HostState::kOk;
    if (now_state != h.drift.state || (it != states.end() && h.status == nullptr)) {
      refresh.push_back(h.host);
    }
  });
  for (const std::string& host : forget) {
    fleet_.Remove(host);
    drift_.RemoveHost(host);
    if (policy_ != nullptr) policy_->Forget(host);
    removed_counter_.Increment();
    std::fprintf(stderr,
                 "portwatch-collector: forgot host '%s': not heard from within the history "
                 "retention\n",
                 host.c_str());
  }
  for (const std::string& host : refresh) Refresh(host, now_unix_ms);
}

void FleetCore::Publish(int64_t now_unix_ms) {
  auto view = std::make_shared<FleetView>();
  view->generation = ++generation_;
  view->published_unix_ms = now_unix_ms;
  view->hosts = fleet_.Publish();
  std::vector<const HostView*> not_ok;
  view->ranked.reserve(view->hosts.size());
  for (const auto& h : view->hosts) {
    ++view->state_counts[static_cast<int>(h->drift.state)];
    if (h->drift.state != analysis::HostState::kOk) not_ok.push_back(h.get());
  }
  auto eta = [](const HostView* h) {
    return h->drift.state == analysis::HostState::kSilent ? analysis::kNever : h->drift.eta_s;
  };
  std::sort(not_ok.begin(), not_ok.end(), [&](const HostView* a, const HostView* b) {
    const int sa = analysis::HostStateSeverity(a->drift.state);
    const int sb = analysis::HostStateSeverity(b->drift.state);
    if (sa != sb) return sa > sb;
    if (eta(a) != eta(b)) return eta(a) < eta(b);
    return a->host < b->host;
  });
  view->ranked = std::move(not_ok);
  for (const auto& h : view->hosts) {
    if (h->drift.state == analysis::HostState::kOk) view->ranked.push_back(h.get());
  }
  view->destinations = drift_.Destinations(FleetView::kFleetTop);
  view->processes = drift_.Processes(FleetView::kFleetTop);
  view->out_of_order_reports = out_of_order_;
  view->events_dropped = dropped_.load(std::memory_order_relaxed);
  views_.Publish(std::move(view));
}

}  // namespace portwatch::collector
