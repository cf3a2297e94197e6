// GET /metrics on a WebServer: prometheus-cpp's text format of every registered collectable. It
// replaces prometheus::Exposer (civetweb), so /metrics gets the web config file's TLS and basic
// auth and the same server code as the status page. It keeps the Exposer's own families
// (exposer_scrapes_total, exposer_transferred_bytes_total, exposer_request_latencies), which
// dashboards read.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>

#include <memory>
#include <mutex>
#include <vector>

#include "src/web_server.h"

namespace portwatch::collector {

class MetricsEndpoint {
 public:
  /// Adds GET /metrics to `server` (before it starts).
  explicit MetricsEndpoint(WebServer& server);
  /// Adds a collectable to every later scrape. Held weakly, as the Exposer did: one destroyed
  /// before the server stops is skipped.
  void RegisterCollectable(const std::weak_ptr<prometheus::Collectable>& collectable);
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

 private:
  std::string Render();
  std::mutex mu_;  // guards collectables_
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
  std::shared_ptr<prometheus::Registry> own_;
  prometheus::Counter* scrapes_;
  prometheus::Counter* bytes_;
  prometheus::Summary* latency_us_;
};

}  // namespace portwatch::collector
