#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "src/source_port.h"
#include "src/log.h"

namespace portwatch::agent {

SourcePortBinder::SourcePortBinder(std::vector<uint16_t> ports,
                                   std::function<void(const std::string&)> log)
    : ports_(std::move(ports)), log_(std::move(log)) {
  if (!log_) {
    log_ = [](const std::string& m) { LogInfo(m); };
  }
  // Start at a random port so that a restarted agent does not retry the 4-tuple its predecessor
  // may have left in TIME_WAIT.
  if (!ports_.empty()) next_ = std::random_device{}() % ports_.size();
}

uint16_t SourcePortBinder::Bind(int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  if (ports_.empty() || getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
      (domain != AF_INET && domain != AF_INET6)) {
    return 0;
  }
  // Lets the port be bound while an earlier connection from it is still in TIME_WAIT.
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  std::lock_guard<std::mutex> lk(mu_);
  int last_errno = 0;
  for (size_t i = 0; i < ports_.size(); ++i) {
    const size_t idx = (next_ + i) % ports_.size();
    const uint16_t port = ports_[idx];
    int rc;
    if (domain == AF_INET6) {
      // gRPC opens dual-stack sockets; the IPv6 wildcard covers IPv4-mapped peers too.
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_any;
      a.sin6_port = htons(port);
      rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_ANY);
      a.sin_port = htons(port);
      rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc == 0) {
      next_ = (idx + 1) % ports_.size();
      last_port_ = port;
      return port;
    }
    last_errno = errno;
  }
  ++fallbacks_;
  last_port_ = 0;
  log_("none of the " + std::to_string(ports_.size()) +
       " --source-ports could be bound (last error: " + std::strerror(last_errno) +
       "); this connection uses an ephemeral port. Is another program using them?");
  return 0;
}

uint64_t SourcePortBinder::fallbacks() const {
  std::lock_guard<std::mutex> lk(mu_);
  return fallbacks_;
}

uint16_t SourcePortBinder::last_port() const {
  std::lock_guard<std::mutex> lk(mu_);
  return last_port_;
}

}  // namespace portwatch::agent
