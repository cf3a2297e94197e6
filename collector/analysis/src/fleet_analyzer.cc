#include "portwatch/analysis/fleet_analyzer.h"

#include <algorithm>
#include <iterator>

namespace portwatch::analysis {
Expected<std::unique_ptr<FleetAnalyzer>> FleetAnalyzer::Create(Options options) {
  Status st = options.Validate();
  if (!st.ok()) return st;
  return std::unique_ptr<FleetAnalyzer>(new FleetAnalyzer(std::move(options)));
}

Status FleetAnalyzer::OnSample(const std::string& host, const HostSample& sample,
                               int64_t received_unix_ms) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) {
    it = hosts_.emplace(host, std::make_unique<Entry>(host)).first;
    ++state_counts_[static_cast<int>(HostState::kOk)];
  }
  Entry* e = it->second.get();
  Status st = e->analyzer.Update(sample, received_unix_ms, options_, &workspace_);
  if (!st.ok()) return st;
  Recontribute(e);
  // Most recently heard from goes last, so Tick() only ever looks at the front.
  if (e->in_lru) by_last_seen_.erase(e->lru);
  e->lru = by_last_seen_.insert(by_last_seen_.end(), e);
  e->in_lru = true;
  Rerank(e);
  return Status::Ok();
}

void FleetAnalyzer::Tick(int64_t now_unix_ms) {
  while (!by_last_seen_.empty() &&
         now_unix_ms - by_last_seen_.front()->analyzer.last_seen_ms() >= options_.silent_after_ms) {
    Entry* e = by_last_seen_.front();
    by_last_seen_.pop_front();
    e->in_lru = false;
    e->analyzer.MarkSilent(now_unix_ms);
    Rerank(e);
  }
}

bool FleetAnalyzer::RemoveHost(const std::string& host) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return false;
  Entry* e = it->second.get();
  Release(&destinations_, e->destinations);
  Release(&processes_, e->processes);
  if (e->in_lru) by_last_seen_.erase(e->lru);
  if (e->ranked) ranking_.erase(e->rank);
  --state_counts_[static_cast<int>(e->counted_state)];
  hosts_.erase(it);
  return true;
}

FleetAggregate* FleetAnalyzer::Find(AggregateMap* map, const std::string& key) {
  auto it = map->find(key);
  if (it == map->end()) {
    it = map->emplace(key, FleetAggregate{}).first;
    it->second.key = key;
  }
  return &it->second;
}

void FleetAnalyzer::Apply(FleetAggregate* a, const Contribution& c, int sign) {
  a->hosts += sign;
  a->growing_hosts += c.growing ? sign : 0;
  a->ports += sign * static_cast<int64_t>(c.ports);
  a->time_wait += sign * static_cast<int64_t>(c.time_wait);
  a->growth_milli_per_hour += sign * c.growth_milli_per_hour;
}

void FleetAnalyzer::Release(AggregateMap* map, const std::vector<Share>& shares) {
  for (const Share& s : shares) {
    Apply(s.aggregate, s.contribution, -1);
    if (s.aggregate->hosts == 0) map->erase(map->find(s.aggregate->key));
  }
}

void FleetAnalyzer::Recontribute(Entry* e) {
  fresh_.clear();
  e->analyzer.ForEachDestination([&](const std::string& key, const Contribution& c) {
    fresh_.push_back({Find(&destinations_, key), c});
    Apply(fresh_.back().aggregate, c, +1);
  });
  Release(&destinations_, e->destinations);
  e->destinations.assign(fresh_.begin(), fresh_.end());
  fresh_.clear();
  e->analyzer.ForEachProcess([&](const std::string& key, const Contribution& c) {
    fresh_.push_back({Find(&processes_, key), c});
    Apply(fresh_.back().aggregate, c, +1);
  });
  Release(&processes_, e->processes);
  e->processes.assign(fresh_.begin(), fresh_.end());
}

void FleetAnalyzer::Rerank(Entry* e) {
  const HostSummary summary = e->analyzer.Summarize();
  if (summary.state != e->counted_state) {
    --state_counts_[static_cast<int>(e->counted_state)];
    ++state_counts_[static_cast<int>(summary.state)];
    e->counted_state = summary.state;
  }
  const int severity = HostStateSeverity(summary.state);
  RankKey key(-severity, summary.state == HostState::kSilent ? kNever : summary.eta_s,
              e->analyzer.host());
  if (e->ranked && (severity == 0 || key != e->rank)) {
    ranking_.erase(e->rank);
    e->ranked = false;
  }
  if (severity > 0 && !e->ranked) {
    e->rank = std::move(key);
    ranking_.insert(e->rank);
    e->ranked = true;
  }
}

std::optional<HostSummary> FleetAnalyzer::Summary(const std::string& host) const {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return std::nullopt;
  return it->second->analyzer.Summarize();
}

std::optional<HostStatus> FleetAnalyzer::Host(const std::string& host, int64_t now_unix_ms) const {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return std::nullopt;
  return it->second->analyzer.Describe(options_, now_unix_ms);
}

std::vector<HostStatus> FleetAnalyzer::Worst(size_t limit, int64_t now_unix_ms) const {
  std::vector<HostStatus> out;
  for (auto it = ranking_.begin(); it != ranking_.end() && out.size() < limit; ++it) {
    out.push_back(hosts_.at(std::get<2>(*it))->analyzer.Describe(options_, now_unix_ms));
  }
  return out;
}

std::vector<FleetAggregate> FleetAnalyzer::Ranked(const AggregateMap& map, size_t limit) {
  std::vector<FleetAggregate> all;
  all.reserve(map.size());
  for (const auto& [key, a] : map) all.push_back(a);
  const size_t n = std::min(limit, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const FleetAggregate& a, const FleetAggregate& b) {
                      return std::tie(b.growing_hosts, b.growth_milli_per_hour, b.ports, a.key) <
                             std::tie(a.growing_hosts, a.growth_milli_per_hour, a.ports, b.key);
                    });
  all.resize(n);
  return all;
}

std::vector<FleetAggregate> FleetAnalyzer::Destinations(size_t limit) const {
  return Ranked(destinations_, limit);
}

std::vector<FleetAggregate> FleetAnalyzer::Processes(size_t limit) const {
  return Ranked(processes_, limit);
}

std::optional<FleetAggregate> FleetAnalyzer::Destination(const std::string& key) const {
  auto it = destinations_.find(key);
  if (it == destinations_.end()) return std::nullopt;
  return it->second;
}

std::optional<FleetAggregate> FleetAnalyzer::Process(const std::string& name) const {
  auto it = processes_.find(name);
  if (it == processes_.end()) return std::nullopt;
  return it->second;
}

size_t FleetAnalyzer::MemoryBytes() const {
  size_t bytes = sizeof(*this) + hosts_.bucket_count() * sizeof(void*);
  for (const auto& [name, e] : hosts_) {
    bytes += sizeof(std::pair<const std::string, std::unique_ptr<Entry>>) + sizeof(void*) +
             name.capacity() + sizeof(Entry) - sizeof(HostAnalyzer) + e->analyzer.MemoryBytes() +
             (e->destinations.capacity() + e->processes.capacity()) * sizeof(Share) +
             (e->in_lru ? 3 * sizeof(void*) : 0);
  }
  for (const AggregateMap* map : {&destinations_, &processes_}) {
    bytes += map->bucket_count() * sizeof(void*) +
             map->size() * (sizeof(std::pair<const std::string, FleetAggregate>) + sizeof(void*));
  }
  return bytes;
}

}  // namespace portwatch::analysis
