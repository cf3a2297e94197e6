#include "src/summary.h"

#include <algorithm>
#include <bitset>
#include <cstring>
#include <string>
#include <unordered_map>

namespace portwatch::agent {
namespace {

struct EndpointHash {
  size_t operator()(const Endpoint& e) const {
    // FNV-1a over the bytes that identify the endpoint.
    uint64_t h = 1469598103934665603ULL;
    auto mix = [&h](uint8_t b) { h = (h ^ b) * 1099511628211ULL; };
    mix(static_cast<uint8_t>(e.family));
    const size_t n = e.family == Family::kIpv6 ? 16 : 4;
    for (size_t i = 0; i < n; ++i) mix(e.addr[i]);
    mix(static_cast<uint8_t>(e.port >> 8));
    mix(static_cast<uint8_t>(e.port));
    return static_cast<size_t>(h);
  }
};

// Distinct count of a list of ports, reusing the caller's vector.
uint32_t DistinctPorts(std::vector<uint16_t>* ports) {
  std::sort(ports->begin(), ports->end());
  return static_cast<uint32_t>(std::unique(ports->begin(), ports->end()) - ports->begin());
}

void AddStates(StateCounts* into, const StateCounts& from) {
  for (int i = 0; i < kTcpStateCount; ++i) (*into)[i] += from[i];
}

// Keeps the K largest by `less` (which orders largest first) and folds the rest into `other`.
template <typename T, typename Less, typename Fold>
TopList<T> TopK(std::vector<T> items, size_t k, Less less, Fold fold) {
  TopList<T> out;
  if (items.size() > k) {
    std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(k), items.end(),
                      less);
    for (size_t i = k; i < items.size(); ++i) fold(&out.other, items[i]);
    out.other_count = static_cast<uint32_t>(items.size() - k);
    items.resize(k);
  } else {
    std::sort(items.begin(), items.end(), less);
  }
  out.top = std::move(items);
  return out;
}

// One program's live connections toward one destination: its pids summed, and the pid holding
// the most of them.
struct OwnerCount {
  const std::string* name = nullptr;
  uint32_t pid = 0;
  uint32_t connections = 0;
};

// Names the program with the most live connections in `owners` (one destination's, one entry per
// pid) as the destination's top process. Pids of one program count together, as the analysis
// sums processes by name; ties go to the smaller name, then the smaller pid, so equal scans
// give equal reports.
void PickTopProcess(std::vector<OwnerCount>* owners, DestinationUsage* d) {
  std::sort(owners->begin(), owners->end(), [](const OwnerCount& a, const OwnerCount& b) {
    if (*a.name != *b.name) return *a.name < *b.name;
    if (a.connections != b.connections) return a.connections > b.connections;
    return a.pid < b.pid;
  });
  const OwnerCount* best = nullptr;
  uint32_t best_total = 0;
  for (size_t i = 0; i < owners->size();) {
    const OwnerCount& first = (*owners)[i];  // the program's busiest pid: sorted so
    uint32_t total = 0;
    for (; i < owners->size() && *(*owners)[i].name == *first.name; ++i) {
      total += (*owners)[i].connections;
    }
    if (total > best_total) {
      best = &first;
      best_total = total;
    }
  }
  if (best == nullptr) return;
  d->top_process = *best->name;
  d->top_process_pid = best->pid;
  d->top_process_connections = best_total;
}

bool IsUsableEphemeral(const EphemeralPorts& ports, uint16_t port) {
  if (!ports.range.contains(port)) return false;
  for (const PortRange& r : ports.reserved) {
    if (r.contains(port)) return false;
  }
  return true;
}

}  // namespace

SocketSummary BuildSummary(const std::vector<SocketEntry>& sockets, const EphemeralPorts& ports) {
  SocketSummary s;
  s.ephemeral_range = ports.range;
  s.ephemeral_ports_usable = ports.usable();
  s.range_source = ports.source;
  s.auto_reuse_range = ports.auto_reuse;
  // 8 KiB on the stack: one bit per port beats a hash set for tables of any size.
  std::bitset<65536> held;
  for (const SocketEntry& e : sockets) {
    if (e.state == TcpState::kUnknown) continue;
    ++s.counts[static_cast<int>(e.family)][static_cast<int>(e.state)];
    ++s.total_sockets;
    if (ports.range.contains(e.local_port)) held.set(e.local_port);
  }
  for (const PortRange& r : ports.reserved) {
    for (uint32_t p = r.low; p <= r.high; ++p) held.reset(p);
  }
  s.ephemeral_ports_in_use = static_cast<uint32_t>(held.count());
  return s;
}

void BuildUsage(const std::vector<SocketEntry>& sockets, const EphemeralPorts& ports,
                const ProcessAttribution* attribution, const UsageOptions& options,
                Report* report) {
  report->sockets = BuildSummary(sockets, ports);

  // A connection whose local port is a listening port was accepted: it is inbound and uses no
  // port of this host's ephemeral range toward its peer, even when a service listens on a port
  // inside that range.
  std::bitset<65536> listening;
  for (const SocketEntry& e : sockets) {
    if (e.state == TcpState::kListen) listening.set(e.local_port);
  }

  struct ProcAcc {
    StateCounts states{};
    std::vector<uint16_t> ephemeral_ports;
  };
  // Destinations are indexed once; their (index, local port) pairs go into one flat vector that
  // is sorted at the end, instead of a small vector per destination.
  std::unordered_map<Endpoint, uint32_t, EndpointHash> dest_index;
  std::vector<DestinationUsage> dest_list;
  std::vector<uint64_t> dest_ports;  // index << 16 | port
  // Live connections with a known owner: index << 32 | pid. TIME_WAIT has no owner; the live
  // connections are what says which process opens (and will close) them.
  std::vector<uint64_t> dest_owners;
  std::unordered_map<uint32_t, ProcAcc> procs;
  std::vector<ListenerUsage> listeners;
  std::unordered_map<uint16_t, InboundUsage> inbound;
  const int tw = static_cast<int>(TcpState::kTimeWait);

  for (const SocketEntry& e : sockets) {
    if (e.state == TcpState::kUnknown) continue;
    const int st = static_cast<int>(e.state);
    const bool ephemeral = IsUsableEphemeral(ports, e.local_port);
    // Accepted on a listener, wherever that port lies. Its TIME_WAIT (the server closed first)
    // sits on the listener's port, so it costs outbound connects nothing; counted per listener
    // instead of as a pile of one-port "destinations" (the clients' ephemeral ports).
    if (e.remote_port != 0 && e.state != TcpState::kListen && e.state != TcpState::kBound &&
        listening.test(e.local_port)) {
      InboundUsage& u = inbound[e.local_port];
      u.port = e.local_port;
      ++u.states[st];
      if (st == tw) ++report->sockets.inbound_time_wait;
    }
    // Outbound connections: from an ephemeral local port toward a remote endpoint. Listeners and
    // bound-only sockets have no remote endpoint.
    if (ephemeral && e.remote_port != 0 && e.state != TcpState::kListen &&
        e.state != TcpState::kBound && !listening.test(e.local_port)) {
      Endpoint remote;
      remote.family = e.family;
      remote.addr = e.remote_addr;
      remote.port = e.remote_port;
      auto [it, inserted] = dest_index.try_emplace(remote, static_cast<uint32_t>(dest_list.size()));
      if (inserted) {
        dest_list.emplace_back();
        dest_list.back().remote = remote;
      }
      ++dest_list[it->second].states[st];
      dest_ports.push_back(uint64_t{it->second} << 16 | e.local_port);
      if (st != tw && e.owner_pid != 0) {
        dest_owners.push_back(uint64_t{it->second} << 32 | e.owner_pid);
      }
    }
    ProcAcc& p = procs[e.owner_pid];
    ++p.states[st];
    if (ephemeral) p.ephemeral_ports.push_back(e.local_port);
    if (e.state == TcpState::kListen) {
      ListenerUsage l;
      l.local.family = e.family;
      l.local.addr = e.local_addr;
      l.local.port = e.local_port;
      l.accept_queue = e.accept_queue;
      l.backlog = e.backlog;
      l.pid = e.owner_pid;
      listeners.push_back(std::move(l));
    }
  }

  std::sort(dest_ports.begin(), dest_ports.end());
  for (size_t i = 0; i < dest_ports.size(); ++i) {
    if (i == 0 || dest_ports[i] != dest_ports[i - 1]) ++dest_list[dest_ports[i] >> 16].local_ports;
  }
  dest_index.clear();
  std::sort(dest_owners.begin(), dest_owners.end());
  std::vector<OwnerCount> owners;  // one destination's, reused
  for (size_t i = 0; i < dest_owners.size() && attribution != nullptr;) {
    const uint64_t dest = dest_owners[i] >> 32;
    owners.clear();
    while (i < dest_owners.size() && dest_owners[i] >> 32 == dest) {
      const uint64_t key = dest_owners[i];
      uint32_t n = 0;
      for (; i < dest_owners.size() && dest_owners[i] == key; ++i) ++n;
      const uint32_t pid = static_cast<uint32_t>(key);
      const ProcessInfo* info = attribution->Info(pid);
      if (info != nullptr && !info->name.empty()) owners.push_back({&info->name, pid, n});
    }
    PickTopProcess(&owners, &dest_list[dest]);
  }
  report->destinations = TopK(
      std::move(dest_list), options.top_destinations,
      [](const DestinationUsage& a, const DestinationUsage& b) {
        if (a.local_ports != b.local_ports) return a.local_ports > b.local_ports;
        if (a.total() != b.total()) return a.total() > b.total();
        return a.remote < b.remote;  // a stable order for equal pressure
      },
      [](DestinationUsage* other, const DestinationUsage& d) {
        AddStates(&other->states, d.states);
        other->local_ports += d.local_ports;
      });

  std::vector<ProcessUsage> proc_list;
  proc_list.reserve(procs.size());
  for (auto& [pid, acc] : procs) {
    ProcessUsage p;
    p.pid = pid;
    const ProcessInfo* info = (pid != 0 && attribution) ? attribution->Info(pid) : nullptr;
    if (info != nullptr) {
      p.name = info->name;
      p.program = info->program;
    } else if (pid == 0) {
      p.name = kUnattributedProcess;
    }
    p.states = acc.states;
    p.ephemeral_ports = DistinctPorts(&acc.ephemeral_ports);
    proc_list.push_back(std::move(p));
  }
  report->processes = TopK(
      std::move(proc_list), options.top_processes,
      [](const ProcessUsage& a, const ProcessUsage& b) {
        if (a.ephemeral_ports != b.ephemeral_ports) return a.ephemeral_ports > b.ephemeral_ports;
        if (a.total() != b.total()) return a.total() > b.total();
        return a.pid < b.pid;
      },
      [](ProcessUsage* other, const ProcessUsage& p) {
        AddStates(&other->states, p.states);
        other->ephemeral_ports += p.ephemeral_ports;
      });

  // Fullest accept queues first: a listener at its backlog drops or resets new clients.
  auto fill = [](const ListenerUsage& l) {
    return l.backlog == 0 ? 0.0 : static_cast<double>(l.accept_queue) / l.backlog;
  };
  std::sort(listeners.begin(), listeners.end(), [&](const ListenerUsage& a, const ListenerUsage& b) {
    if (fill(a) != fill(b)) return fill(a) > fill(b);
    if (a.accept_queue != b.accept_queue) return a.accept_queue > b.accept_queue;
    return a.local < b.local;
  });
  if (listeners.size() > options.top_listeners) listeners.resize(options.top_listeners);
  for (ListenerUsage& l : listeners) {
    const ProcessInfo* info = (l.pid != 0 && attribution) ? attribution->Info(l.pid) : nullptr;
    l.process = info ? info->name : (l.pid == 0 ? kUnattributedProcess : "");
  }
  report->listeners = std::move(listeners);

  std::vector<InboundUsage> inbound_list;
  inbound_list.reserve(inbound.size());
  for (auto& [port, u] : inbound) inbound_list.push_back(u);
  auto total = [](const InboundUsage& u) {
    uint32_t n = 0;
    for (uint32_t c : u.states) n += c;
    return n;
  };
  std::sort(inbound_list.begin(), inbound_list.end(),
            [&](const InboundUsage& a, const InboundUsage& b) {
              if (a.states[tw] != b.states[tw]) return a.states[tw] > b.states[tw];
              if (total(a) != total(b)) return total(a) > total(b);
              return a.port < b.port;
            });
  if (inbound_list.size() > options.top_inbound) inbound_list.resize(options.top_inbound);
  report->sockets.inbound = std::move(inbound_list);
}

}  // namespace portwatch::agent
