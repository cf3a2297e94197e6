// An HTTP(S) server for the collector's web endpoints (/metrics, the status page), secured by a
// web config file (web_config.h): TLS with an optional client-certificate check, basic auth, a
// bounded thread pool and timeouts. Both endpoints use it, so they share one set of options.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "portwatch/status.h"
#include "src/web_config.h"

namespace httplib {
class Server;
}

namespace portwatch::collector {

class WebServer {
 public:
  /// Builds the server `config` asks for and binds `host`:`port` (0: any free port) without
  /// serving yet, so a bad certificate or a taken port is found before anything else starts.
  /// `what` names the endpoint in messages ("metrics"), `flag` the option that sets its address
  /// ("--metrics-listen").
  static Expected<std::unique_ptr<WebServer>> Bind(const WebConfig& config,
                                                   const WebOptions& options,
                                                   const std::string& host, uint16_t port,
                                                   const std::string& what,
                                                   const std::string& flag);
  /// Routes are added here before Start(). Every request passes the basic-auth check first.
  httplib::Server& http() { return *server_; }
  /// Serves on the server's own threads until Stop() or destruction.
  void Start();
  /// Stops serving and joins its threads.
  void Stop();
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  int port() const { return port_; }
  /// "https" with TLS, else "http" (for log lines that show the address).
  const char* scheme() const { return tls_ ? "https" : "http"; }

 private:
  WebServer() = default;
  void Run();
  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<BasicAuth> auth_;
  std::thread thread_;
  std::string host_;
  std::string what_;
  int port_ = 0;
  bool tls_ = false;
  std::mutex mu_;          // orders Stop() against a re-bind in Run()
  bool stopping_ = false;  // guarded by mu_
};

/// Loads `tls`'s files into a fresh TLS context the way WebServer would, to report a bad
/// certificate, key or CA file (naming the web config file and field) at startup.
Status CheckTlsFiles(const WebConfig& config);

}  // namespace portwatch::collector
