#include "src/ui/status_server.h"

#include <httplib.h>

#include "portwatch/files.h"
#include "src/ui/status_pages.h"

namespace portwatch::collector::ui {
namespace {

constexpr size_t kAggregateLimit = 10;
constexpr char kHtml[] = "text/html; charset=utf-8";
constexpr char kJson[] = "application/json";

// Defence in depth behind the escaping: no script may run, nothing may load from elsewhere.
void Harden(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                 "form-action 'self'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Cache-Control", "no-store");
}

FleetQuery QueryOf(const httplib::Request& req) {
  return ParseFleetQuery(req.get_param_value("state"), req.get_param_value("q"),
                         req.get_param_value("page"), req.get_param_value("per"));
}

// ?host= (host name contains), ?q= (destination or process contains), ?limit=.
AggregateQuery AggregateQueryOf(const httplib::Request& req) {
  return ParseAggregateQuery(req.get_param_value("host"), req.get_param_value("q"),
                             req.get_param_value("limit"));
}

size_t LimitOf(const httplib::Request& req, size_t dflt, size_t max) {
  const std::string s = req.get_param_value("limit");
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) {
    return dflt;
  }
  return std::min<size_t>(std::max<size_t>(std::stoul(s), 1), max);
}

std::string NotFoundMessage(const std::string& name) {
  return "No host '" + name +
         "' has reported to this collector. The fleet page lists the hosts it knows.";
}

}  // namespace

Expected<std::unique_ptr<StatusServer>> StatusServer::Bind(const WebConfig& web,
                                                           const std::string& host, uint16_t port) {
  // Pages are computed from memory in milliseconds: two workers suffice and bound the cost a
  // crowd of browsers can put on the collector.
  WebOptions options;
  options.threads = 2;
  options.request_timeout_s = 5;
  auto server = WebServer::Bind(web, options, host, port, "the status page",
                                "--ui-listen, or --ui-listen off");
  if (!server.ok()) return Status::Error(server.error());
  return std::unique_ptr<StatusServer>(new StatusServer(std::move(*server)));
}

void StatusServer::Serve(const StatusSource& source) {
  httplib::Server& svr = server_->http();
  const StatusSource* src = &source;

  svr.Get("/", [src](const httplib::Request& req, httplib::Response& res) {
    const int64_t now = NowUnixMs();
    Harden(res);
    const FleetQuery q = QueryOf(req);
    res.set_content(RenderFleetPage(src->Fleet(now, q, kAggregateLimit), q), kHtml);
  });
  svr.Get(R"(/host/(.+))", [src](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const int64_t now = NowUnixMs();
    Harden(res);
    auto d = src->Host(name, now);
    if (!d) {
      res.status = 404;
      res.set_content(RenderErrorPage("Unknown host", NotFoundMessage(name)), kHtml);
      return;
    }
    std::string err;
    auto history = src->History(name, kMaxHistoryPoints, &err);
    res.set_content(RenderHostPage(*d, history, err, now), kHtml);
  });
  svr.Get("/api/hosts", [src](const httplib::Request& req, httplib::Response& res) {
    Harden(res);
    const FleetQuery q = QueryOf(req);
    res.set_content(FleetJson(src->Fleet(NowUnixMs(), q, 0), q), kJson);
  });
  svr.Get(R"(/api/host/(.+))", [src](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    Harden(res);
    auto d = src->Host(name, NowUnixMs());
    if (!d) {
      res.status = 404;
      res.set_content("{\"error\": \"unknown host; /api/hosts lists the hosts known\"}\n", kJson);
      return;
    }
    std::string err;
    auto history = src->History(name, LimitOf(req, kMaxHistoryPoints, kMaxHistoryPoints), &err);
    res.set_content(HostJson(*d, history), kJson);
  });
  svr.Get("/api/destinations", [src](const httplib::Request& req, httplib::Response& res) {
    Harden(res);
    res.set_content(
        AggregatesJson(src->Aggregates(AggregateKind::kDestinations, AggregateQueryOf(req))),
        kJson);
  });
  svr.Get("/api/processes", [src](const httplib::Request& req, httplib::Response& res) {
    Harden(res);
    res.set_content(
        AggregatesJson(src->Aggregates(AggregateKind::kProcesses, AggregateQueryOf(req))), kJson);
  });

  server_->Start();
}

}  // namespace portwatch::collector::ui
