// The status page's HTTP server (cpp-httplib): GET only, a small thread pool, short timeouts.
// It serves the pages of status_pages.h from a StatusSource.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "portwatch/status.h"
#include "src/ui/status_source.h"

namespace httplib {
class Server;
}

namespace portwatch::collector::ui {

class StatusServer {
 public:
  /// Binds `host`:`port` (0: any free port) without serving yet, so a taken port is found before
  /// anything else starts. Fails with an actionable message when the address cannot be bound.
  static Expected<std::unique_ptr<StatusServer>> Bind(const std::string& host, uint16_t port);
  /// Serves the pages from `source` on the server's own threads until Stop() or destruction.
  void Serve(const StatusSource& source);
  /// Stops serving and joins its threads; the source is no longer read afterwards.
  void Stop();
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  int port() const { return port_; }

 private:
  StatusServer();
  void Run();
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
  std::mutex mu_;          // orders Stop() against a re-bind in Run()
  bool stopping_ = false;  // guarded by mu_
};

}  // namespace portwatch::collector::ui
