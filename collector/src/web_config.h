// The metrics endpoint's HTTP server settings. prometheus-cpp's Exposer runs civetweb with 2
// threads and no request timeout by default, so two idle TCP connections could hold a scrape for
// half a minute; these settings give it enough threads and bounded waits that slow or idle clients
// cannot starve Prometheus.
#pragma once

#include <string>
#include <vector>

namespace portwatch::collector {

struct WebOptions {
  std::string listen;              ///< "HOST:PORT"
  int threads = 16;                ///< concurrent requests served (idle clients hold one each)
  int request_timeout_ms = 10000;  ///< a client that has not sent its request by then is dropped
  int keep_alive_timeout_ms = 5000;
};

/// The civetweb options for prometheus::Exposer's options constructor.
std::vector<std::string> CivetOptions(const WebOptions& options);

}  // namespace portwatch::collector
