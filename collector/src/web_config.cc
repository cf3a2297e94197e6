#include "src/web_config.h"

namespace portwatch::collector {

std::vector<std::string> CivetOptions(const WebOptions& o) {
  // request_timeout_ms bounds every socket read and write of a request, so a client sending its
  // headers one byte at a time, or nothing at all, frees its thread within that time.
  return {"listening_ports",       o.listen,
          "num_threads",           std::to_string(o.threads),
          "request_timeout_ms",    std::to_string(o.request_timeout_ms),
          "enable_keep_alive",     "yes",
          "keep_alive_timeout_ms", std::to_string(o.keep_alive_timeout_ms)};
}

}  // namespace portwatch::collector
