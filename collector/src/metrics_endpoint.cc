#include "src/metrics_endpoint.h"

#include <httplib.h>
#include <prometheus/text_serializer.h>

#include <chrono>

namespace portwatch::collector {

MetricsEndpoint::MetricsEndpoint(WebServer& server)
    : own_(std::make_shared<prometheus::Registry>()) {
  // The same names, help and quantiles as prometheus-cpp's Exposer, so existing dashboards and
  // rules keep their series.
  scrapes_ = &prometheus::BuildCounter()
                  .Name("exposer_scrapes_total")
                  .Help("Number of times metrics were scraped")
                  .Register(*own_)
                  .Add({});
  bytes_ = &prometheus::BuildCounter()
                .Name("exposer_transferred_bytes_total")
                .Help("Transferred bytes to metrics services")
                .Register(*own_)
                .Add({});
  latency_us_ =
      &prometheus::BuildSummary()
           .Name("exposer_request_latencies")
           .Help("Latencies of serving scrape requests, in microseconds")
           .Register(*own_)
           .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}});
  collectables_.push_back(own_);
  server.http().Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    std::string body = Render();
    bytes_->Increment(static_cast<double>(body.size()));
    scrapes_->Increment();
    res.set_header("Cache-Control", "no-store");
    res.set_content(std::move(body), "text/plain; version=0.0.4; charset=utf-8");
    latency_us_->Observe(static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                 std::chrono::steady_clock::now() - start)
                                                 .count()));
  });
}

void MetricsEndpoint::RegisterCollectable(
    const std::weak_ptr<prometheus::Collectable>& collectable) {
  std::lock_guard<std::mutex> lk(mu_);
  collectables_.push_back(collectable);
}

std::string MetricsEndpoint::Render() {
  std::vector<std::shared_ptr<prometheus::Collectable>> live;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& w : collectables_) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
  }
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : live) {
    auto f = c->Collect();
    families.insert(families.end(), std::make_move_iterator(f.begin()),
                    std::make_move_iterator(f.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace portwatch::collector
