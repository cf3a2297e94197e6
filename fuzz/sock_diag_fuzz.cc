// The netlink sock_diag reply parser on arbitrary datagrams.
#include <cstdint>
#include <vector>

#include "collect/sock_diag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<portwatch::SocketEntry> out;
  bool done = false;
  (void)portwatch::agent::ParseSockDiagDatagram(data, size, &out, &done);
  return 0;
}
