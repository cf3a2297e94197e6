// The collector's hook for the status page: its flag, binding its port early, and serving it from
// the collector's state. main.cc calls these three and knows nothing else of the page.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "portwatch/status.h"
#include "src/fleet_view.h"
#include "src/policy_monitor.h"
#include "src/ui/status_server.h"
#include "src/ui/status_source.h"
#include "src/web_config.h"

namespace portwatch::collector::ui {

struct UiOptions {
  std::string listen = "off";  ///< HOST:PORT, or "off"
};

/// Adds --ui-listen to the collector's command line.
void AddUiOptions(CLI::App& app, UiOptions* options);

/// Binds the status page's port (null when it is off), secured by the same web config as the
/// metrics endpoint; a bad address or a taken port is an error.
Expected<std::unique_ptr<StatusServer>> BindUi(const UiOptions& options, const WebConfig& web);

/// Serves the status page from the published fleet view, the policy audit's results (when
/// `policy` is set) and the database at `db_path` (read through its own read-only connection) for
/// the lifetime of this object. Does nothing for a null server.
class ServingUi {
 public:
  ServingUi(std::unique_ptr<StatusServer>& server, const ViewPublisher& views,
            const std::string& db_path, const PolicyMonitor* policy = nullptr);
  ~ServingUi();
  ServingUi(const ServingUi&) = delete;
  ServingUi& operator=(const ServingUi&) = delete;

 private:
  std::unique_ptr<StatusServer>& server_;
  std::unique_ptr<StatusSource> source_;
};

/// The bound port, 0 when the page is off (for the ready file).
inline int UiPort(const std::unique_ptr<StatusServer>& server) {
  return server ? server->port() : 0;
}

}  // namespace portwatch::collector::ui
