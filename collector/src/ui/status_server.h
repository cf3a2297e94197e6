// The status page's HTTP server (cpp-httplib): GET only, a small thread pool, short timeouts, and
// the same web config file (TLS, client certificates, basic auth) as the metrics endpoint. It
// serves the pages of status_pages.h from a StatusSource.
#pragma once

#include <memory>
#include <string>

#include "portwatch/status.h"
#include "src/ui/status_source.h"
#include "src/web_config.h"
#include "src/web_server.h"

namespace portwatch::collector::ui {

class StatusServer {
 public:
  /// Binds `host`:`port` (0: any free port) without serving yet, so a taken port is found before
  /// anything else starts, secured as `web` says. Fails with an actionable message when the
  /// address cannot be bound.
  static Expected<std::unique_ptr<StatusServer>> Bind(const WebConfig& web, const std::string& host,
                                                      uint16_t port);
  /// Serves the pages from `source` on the server's own threads until Stop() or destruction.
  void Serve(const StatusSource& source);
  /// Stops serving and joins its threads; the source is no longer read afterwards.
  void Stop() { server_->Stop(); }

  int port() const { return server_->port(); }

 private:
  explicit StatusServer(std::unique_ptr<WebServer> server) : server_(std::move(server)) {}
  std::unique_ptr<WebServer> server_;
};

}  // namespace portwatch::collector::ui
