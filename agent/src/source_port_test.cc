#include "src/source_port.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

namespace portwatch::agent {
namespace {

// A socket that closes itself.
struct Fd {
  int fd;
  explicit Fd(int domain) : fd(socket(domain, SOCK_STREAM, 0)) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  uint16_t LocalPort() const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port)
                                   : ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
  }
};

// A listener on 127.0.0.1 holding its port exclusively (no SO_REUSEADDR sharing with a listener).
struct Listener : Fd {
  explicit Listener(uint16_t port = 0) : Fd(AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(fd, 8) == 0;
  }
  bool ok = false;
};

// Ports the OS considers free right now: taken from it, then released.
std::vector<uint16_t> FreePorts(int n) {
  std::vector<uint16_t> out;
  for (int i = 0; i < n; ++i) {
    Listener l;
    out.push_back(l.LocalPort());
  }
  return out;
}

bool ConnectTo(int fd, int domain, uint16_t port) {
  if (domain == AF_INET6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr);
    a.sin6_port = htons(port);
    return connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

TEST(SourcePorts, ParsesPortsAndRanges) {
  EXPECT_EQ(*ParseSourcePorts("20000"), (std::vector<uint16_t>{20000}));
  EXPECT_EQ(*ParseSourcePorts("20000-20002"), (std::vector<uint16_t>{20000, 20001, 20002}));
  EXPECT_EQ(*ParseSourcePorts("20005,20000-20001"), (std::vector<uint16_t>{20000, 20001, 20005}));
  for (const char* bad : {"", "x", "70000", "20000-", "0", "1-1000"}) {
    auto r = ParseSourcePorts(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("--source-ports"), std::string::npos) << r.error();
  }
}

TEST(SourcePorts, WarnsAboutPortsOthersCanBeGiven) {
  EphemeralPorts e;
  e.range = {32768, 60999};
  e.reserved = {{40000, 40003}};
  auto w = SourcePortWarnings({20000, 40001, 50000}, e);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("port 50000"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("ip_local_reserved_ports"), std::string::npos) << w[0];
}

// The connection really leaves from the configured port, for IPv4 and dual-stack sockets.
TEST(SourcePortBinder, ConnectionsLeaveFromAConfiguredPort) {
  Listener server;
  ASSERT_TRUE(server.ok);
  for (int domain : {AF_INET, AF_INET6}) {
    const auto ports = FreePorts(2);
    SourcePortBinder binder(ports);
    Fd c(domain);
    const uint16_t bound = binder.Bind(c.fd);
    ASSERT_NE(bound, 0) << "domain " << domain;
    EXPECT_TRUE(bound == ports[0] || bound == ports[1]);
    ASSERT_TRUE(ConnectTo(c.fd, domain, server.LocalPort())) << strerror(errno);
    EXPECT_EQ(c.LocalPort(), bound);
  }
}

TEST(SourcePortBinder, RotatesAndSkipsPortsInUse) {
  const auto ports = FreePorts(3);
  Listener squatter(ports[1]);  // another program holds the middle port
  ASSERT_TRUE(squatter.ok);
  std::vector<std::string> log;
  SourcePortBinder binder(ports, [&](const std::string& m) { log.push_back(m); });
  std::set<uint16_t> used;
  uint16_t previous = 0;
  for (int i = 0; i < 6; ++i) {
    Fd c(AF_INET);
    const uint16_t p = binder.Bind(c.fd);
    ASSERT_NE(p, 0);
    EXPECT_NE(p, ports[1]);
    EXPECT_NE(p, previous) << "the same port twice in a row";
    previous = p;
    used.insert(p);
  }
  EXPECT_EQ(used, (std::set<uint16_t>{ports[0], ports[2]}));
  EXPECT_EQ(binder.fallbacks(), 0u);
  EXPECT_TRUE(log.empty());
}

TEST(SourcePortBinder, FallsBackToAnEphemeralPortWhenAllAreTaken) {
  const auto ports = FreePorts(2);
  Listener a(ports[0]), b(ports[1]);
  ASSERT_TRUE(a.ok && b.ok);
  std::vector<std::string> log;
  SourcePortBinder binder(ports, [&](const std::string& m) { log.push_back(m); });
  Fd c(AF_INET);
  EXPECT_EQ(binder.Bind(c.fd), 0);
  EXPECT_EQ(c.LocalPort(), 0);  // left unbound: connect() will pick a port
  EXPECT_EQ(binder.fallbacks(), 1u);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("Address already in use"), std::string::npos) << log[0];
}

}  // namespace
}  // namespace portwatch::agent
