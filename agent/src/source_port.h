// Binding the agent's own connection to configured local ports, so that it can reconnect to the
// collector while the host's ephemeral range is exhausted (exactly when its reports matter most).
// Ports outside the ephemeral range, or inside it but listed in ip_local_reserved_ports, are never
// handed out by the kernel to other sockets; an explicit bind() may still use them.
//
// A small set of ports is rotated: the 4-tuple of a connection that just closed may sit in
// TIME_WAIT toward the collector, and the next attempt should not collide with it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collect/tcp_config.h"
#include "portwatch/status.h"

namespace portwatch::agent {

struct TransportOptions;

/// Parses --source-ports: "20000", "20000-20003" or "20000,20005-20006"; at most kMaxSourcePorts.
Expected<std::vector<uint16_t>> ParseSourcePorts(const std::string& text);
inline constexpr size_t kMaxSourcePorts = 64;

/// Warnings for configured ports the kernel may hand out to others: inside the ephemeral range
/// and not reserved. One line each, saying what to do; empty when all are safe.
std::vector<std::string> SourcePortWarnings(const std::vector<uint16_t>& ports,
                                            const EphemeralPorts& ephemeral);

class SourcePortBinder {
 public:
  /// `log` receives one line per problem (default: stderr).
  explicit SourcePortBinder(std::vector<uint16_t> ports,
                            std::function<void(const std::string&)> log = {});

  /// Binds `fd`, a TCP socket not yet connected, to the next configured port that can be bound,
  /// trying each once, starting after the one used last. Returns the port, or 0 when none could
  /// be bound: the connection then gets an ephemeral port from the OS, which is counted and
  /// logged. Sockets of other families (Unix) are left alone and also return 0.
  uint16_t Bind(int fd);

  /// Connections that had to fall back to an ephemeral port.
  uint64_t fallbacks() const;
  /// The port bound most recently (0: none yet, or the last attempt fell back).
  uint16_t last_port() const;
  const std::vector<uint16_t>& ports() const { return ports_; }

 private:
  const std::vector<uint16_t> ports_;
  std::function<void(const std::string&)> log_;
  mutable std::mutex mu_;
  size_t next_ = 0;
  uint64_t fallbacks_ = 0;
  uint16_t last_port_ = 0;
};

/// Makes the transport connect from one of `ports`, through a SourcePortBinder installed on each
/// channel as a gRPC socket mutator (source_port_grpc_posix.cc). POSIX only: gRPC's Windows
/// connector binds its sockets itself and never calls socket mutators.
void ConnectFromSourcePorts(std::vector<uint16_t> ports, TransportOptions* transport);

}  // namespace portwatch::agent
