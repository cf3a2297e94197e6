#include "src/ui/status_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

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

StatusServer::StatusServer() : server_(std::make_unique<httplib::Server>()) {}

Expected<std::unique_ptr<StatusServer>> StatusServer::Bind(const std::string& host, uint16_t port) {
  std::unique_ptr<StatusServer> s(new StatusServer());
  httplib::Server& svr = *s->server_;
  // Pages are computed from memory in milliseconds: two workers suffice and bound the cost a
  // crowd of browsers can put on the collector.
  svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
  svr.set_read_timeout(5, 0);
  svr.set_write_timeout(5, 0);
  svr.set_keep_alive_timeout(5);
  svr.set_payload_max_length(4096);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second collector
  // bind the same port and take half of the requests.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s->host_ = host;
  if (port == 0) {
    s->port_ = svr.bind_to_any_port(host);
  } else if (svr.bind_to_port(host, port)) {
    s->port_ = port;
  }
  if (s->port_ <= 0) {
    return Status::Error("cannot serve the status page on " + host + ":" + std::to_string(port) +
                         ": is the port taken or the address not on this host? Choose another "
                         "with --ui-listen, or --ui-listen off");
  }
  return s;
}

void StatusServer::Serve(const StatusSource& source) {
  httplib::Server& svr = *server_;
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

  thread_ = std::thread([this] { Run(); });
}

// httplib 0.11 stops listening on any accept() error but EMFILE, e.g. ECONNABORTED when a client
// resets a queued connection (browsers do, closing preconnected sockets). The page must outlive
// its clients: bind the same port again and go on, until Stop().
void StatusServer::Run() {
  for (;;) {
    server_->listen_after_bind();
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    std::fprintf(stderr,
                 "portwatch-collector: status page stopped accepting (%s); listening "
                 "again on port %d\n",
                 std::strerror(errno), port_);
    if (!server_->bind_to_port(host_, port_)) {
      std::fprintf(stderr,
                   "portwatch-collector: cannot bind the status page's port %d again; "
                   "the page is off until the collector restarts\n",
                   port_);
      return;
    }
  }
}

void StatusServer::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

StatusServer::~StatusServer() { Stop(); }

}  // namespace portwatch::collector::ui
