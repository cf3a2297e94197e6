// Linux socket table through netlink sock_diag, as ss(8) reads it: binary records straight from
// the kernel's hash tables, no text to parse.
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "collect/sock_diag.h"
#include "collect/socket_table.h"

namespace portwatch::agent {
namespace {

class LinuxSocketTable final : public SocketTable {
 public:
  LinuxSocketTable() : buf_(kBufSize) {}

  Status Scan(std::vector<SocketEntry>* out) override {
    out->clear();
    for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
      Status s = DumpFamily(family, out);
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  // The kernel sizes dump messages up to about 32 KiB; a larger buffer takes whole batches.
  static constexpr size_t kBufSize = 64 * 1024;

  Status DumpFamily(uint8_t family, std::vector<SocketEntry>* out) {
    // A fresh socket per dump: an interrupted earlier dump can never leave stale replies behind.
    int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
      return Status::Error(std::string("cannot open a netlink sock_diag socket: ") +
                           std::strerror(errno) +
                           "; the agent needs a Linux kernel with sock_diag (inet_diag)");
    }
    Status s = DumpOn(fd, family, out);
    ::close(fd);
    return s;
  }

  Status DumpOn(int fd, uint8_t family, std::vector<SocketEntry>* out) {
    const std::string req = BuildSockDiagRequest(family, ++seq_);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0) {
      return Status::Error(std::string("cannot send the sock_diag request: ") +
                           std::strerror(errno));
    }
    for (;;) {
      ssize_t n = ::recv(fd, buf_.data(), buf_.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::Error(std::string("cannot read the sock_diag reply: ") +
                             std::strerror(errno));
      }
      if (n == 0) return Status::Error("sock_diag reply ended before NLMSG_DONE");
      bool done = false;
      Status s = ParseSockDiagDatagram(buf_.data(), static_cast<size_t>(n), out, &done);
      if (!s.ok()) return s;
      if (done) return Status::Ok();
    }
  }

  std::vector<uint8_t> buf_;
  uint32_t seq_ = 0;
};

}  // namespace

std::unique_ptr<SocketTable> MakeSocketTable() { return std::make_unique<LinuxSocketTable>(); }

}  // namespace portwatch::agent
