#include "src/ui/status_hook.h"

#include <cstdio>

#include "portwatch/files.h"
#include "src/ui/status_source_live.h"

namespace portwatch::collector::ui {

void AddUiOptions(CLI::App& app, UiOptions* options) {
  app.add_option("--ui-listen", options->listen,
                 "Status page (fleet and host views, /api JSON) address HOST:PORT, e.g. "
                 "127.0.0.1:9465 (port 0: any free port), or off. Read-only; TLS and basic auth "
                 "as --web-config-file says, the same as for /metrics (without one: keep it on "
                 "loopback or a trusted network)")
      ->capture_default_str();
}

Expected<std::unique_ptr<StatusServer>> BindUi(const UiOptions& options, const WebConfig& web) {
  if (options.listen == "off" || options.listen.empty()) {
    return std::unique_ptr<StatusServer>();
  }
  auto addr = ParseHostPort(options.listen, "--ui-listen");
  if (!addr.ok()) return Status::Error(addr.error() + " (or --ui-listen off)");
  return StatusServer::Bind(web, addr->host, addr->port);
}

ServingUi::ServingUi(std::unique_ptr<StatusServer>& server, const ViewPublisher& views,
                     const std::string& db_path, const PolicyMonitor* policy)
    : server_(server) {
  if (!server_) return;
  std::unique_ptr<HistoryReader> history;
  auto reader = HistoryReader::Open(db_path);
  if (reader.ok()) {
    history = std::move(*reader);
  } else {
    // The pages still work without curves; the host page repeats why.
    std::fprintf(stderr, "portwatch-collector: %s\n", reader.error().c_str());
  }
  source_ = std::make_unique<LiveStatusSource>(views, std::move(history), policy);
  server_->Serve(*source_);
  std::fprintf(stderr, "portwatch-collector: status page on port %d\n", server_->port());
}

ServingUi::~ServingUi() {
  if (server_) server_->Stop();
}

}  // namespace portwatch::collector::ui
