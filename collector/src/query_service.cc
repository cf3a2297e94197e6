#include "src/query_service.h"

#include <cmath>
#include <map>

#include "portwatch/files.h"
#include "portwatch/tls.h"
#include "portwatch/wire.h"

namespace portwatch::collector {
namespace {

v1::HostState StateToProto(analysis::HostState s) {
  switch (s) {
    case analysis::HostState::kOk: return v1::HOST_STATE_OK;
    case analysis::HostState::kDrifting: return v1::HOST_STATE_DRIFTING;
    case analysis::HostState::kCritical: return v1::HOST_STATE_CRITICAL;
    case analysis::HostState::kExhausted: return v1::HOST_STATE_EXHAUSTED;
    case analysis::HostState::kSilent: return v1::HOST_STATE_SILENT;
  }
  return v1::HOST_STATE_UNSPECIFIED;
}

double Finite(double v) { return std::isfinite(v) ? v : -1; }

void FitToProto(const analysis::SeriesFit& fit, v1::Forecast* out) {
  out->set_valid(fit.trend.valid);
  out->set_growth_per_hour(Finite(fit.trend.per_hour));
  out->set_growth_pct_per_hour(Finite(fit.trend.pct_per_hour));
  out->set_finite(fit.forecast.finite && std::isfinite(fit.forecast.eta_s));
  out->set_eta_seconds(Finite(fit.forecast.eta_s));
  out->set_eta_early_seconds(Finite(fit.forecast.eta_early_s));
  out->set_eta_late_seconds(Finite(fit.forecast.eta_late_s));
}

void SeriesToProto(const analysis::SeriesStatus& s, v1::SeriesInfo* out) {
  out->set_key(s.key);
  out->set_present(s.present);
  out->set_ports(s.ports);
  out->set_time_wait(s.time_wait);
  out->set_capacity(s.capacity);
  out->set_utilization(s.utilization);
  FitToProto(s.fit, out->mutable_forecast());
}

void AggregateToProto(const analysis::FleetAggregate& a, v1::FleetAggregate* out) {
  out->set_key(a.key);
  out->set_hosts(a.hosts);
  out->set_growing_hosts(a.growing_hosts);
  out->set_ports(a.ports);
  out->set_time_wait(a.time_wait);
  out->set_growth_per_hour(a.growth_per_hour());
}

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const grpc::Status& st) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(st);
  return r;
}

std::map<std::string, HostView> ViewsByHost(const FleetState& fleet) {
  std::map<std::string, HostView> out;
  for (HostView& v : fleet.Snapshot()) out.emplace(v.host, std::move(v));
  return out;
}

}  // namespace

void HostInfoToProto(const analysis::HostStatus& st, const HostView* view, v1::HostInfo* out) {
  out->set_host(st.host);
  out->set_state(StateToProto(st.state));
  out->set_reason(st.reason);
  out->set_state_since_unix_ms(st.state_since_ms);
  out->set_last_seen_unix_ms(st.last_seen_ms);
  out->set_ports_in_use(st.ports.ports);
  out->set_ports_usable(st.ports.capacity);
  out->set_utilization(st.ports.utilization);
  FitToProto(st.headline_fit, out->mutable_forecast());
  out->set_headline(st.headline);
  out->set_driver_process(st.driver_process);
  out->set_driver_destination(st.driver_destination);
  out->set_explanation(st.explanation);
  if (view != nullptr) {
    out->set_os(static_cast<v1::OsKind>(view->hello.os));
    out->set_os_version(view->hello.os_version);
    out->set_agent_version(view->hello.agent_version);
  }
}

QueryService::QueryService(const FleetState& fleet, const DriftMonitor& drift,
                           Rejections& rejections, std::set<std::string> allowed_clients)
    : fleet_(fleet), drift_(drift), rejections_(rejections), allowed_(std::move(allowed_clients)) {}

grpc::Status QueryService::Authorize(grpc::CallbackServerContext* ctx) const {
  // Only operator certificates (an operator URI SAN) may ask, and only those named in
  // --query-clients; an agent certificate is refused whatever its name.
  const PeerIdentity peer = IdentifyPeer(*ctx->auth_context());
  if (peer.role == PeerRole::kOperator && allowed_.count(peer.name)) return grpc::Status::OK;
  const bool agent = peer.role == PeerRole::kAgent;
  const std::string what = "certificate '" + peer.name + "'";
  rejections_.Reject("query_not_allowed", what + (agent ? " (an agent)" : "") + " asked a query");
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      what + " may not query this collector" +
                          (agent ? " (it is an agent certificate: it names a host)" : "") +
                          "; use an operator certificate "
                          "(deploy/pki/make-dev-pki.sh --operator NAME, URI SAN " +
                          std::string(kOperatorUriPrefix) +
                          "NAME) whose name is in the collector's --query-clients");
}

grpc::ServerUnaryReactor* QueryService::ListHosts(grpc::CallbackServerContext* ctx,
                                                  const v1::ListHostsRequest* req,
                                                  v1::ListHostsResponse* resp) {
  grpc::Status st = Authorize(ctx);
  if (!st.ok()) return Done(ctx, st);
  const int64_t now = NowUnixMs();
  const auto views = ViewsByHost(fleet_);
  auto hosts = req->not_ok() ? drift_.Worst(SIZE_MAX, now) : drift_.AllHosts(now);
  resp->set_total(static_cast<uint32_t>(views.size()));
  for (const analysis::HostStatus& h : hosts) {
    if (req->state() != v1::HOST_STATE_UNSPECIFIED && StateToProto(h.state) != req->state()) {
      continue;
    }
    if (req->limit() != 0 && resp->hosts_size() >= static_cast<int>(req->limit())) break;
    auto it = views.find(h.host);
    HostInfoToProto(h, it == views.end() ? nullptr : &it->second, resp->add_hosts());
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetHost(grpc::CallbackServerContext* ctx,
                                                const v1::GetHostRequest* req,
                                                v1::HostDetail* resp) {
  grpc::Status st = Authorize(ctx);
  if (!st.ok()) return Done(ctx, st);
  auto status = drift_.Host(req->host(), NowUnixMs());
  if (!status) {
    return Done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                  "no host '" + req->host() +
                                      "' has reported to this collector; `portwatchctl hosts` "
                                      "lists the hosts it knows"));
  }
  const std::optional<HostView> found = fleet_.Host(req->host());
  const HostView* view = found ? &*found : nullptr;
  HostInfoToProto(*status, view, resp->mutable_info());
  for (const auto& d : status->destinations) SeriesToProto(d, resp->add_destinations());
  for (const auto& p : status->processes) SeriesToProto(p, resp->add_processes());
  if (view != nullptr) {
    if (view->has_config) ToProto(view->config, resp->mutable_config());
    if (view->has_report) ToProto(view->last_report, resp->mutable_last_report());
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::FleetDestinations(grpc::CallbackServerContext* ctx,
                                                          const v1::FleetRequest* req,
                                                          v1::FleetAggregates* resp) {
  grpc::Status st = Authorize(ctx);
  if (!st.ok()) return Done(ctx, st);
  for (const auto& a : drift_.Destinations(req->limit() ? req->limit() : 50)) {
    AggregateToProto(a, resp->add_items());
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::FleetProcesses(grpc::CallbackServerContext* ctx,
                                                       const v1::FleetRequest* req,
                                                       v1::FleetAggregates* resp) {
  grpc::Status st = Authorize(ctx);
  if (!st.ok()) return Done(ctx, st);
  for (const auto& a : drift_.Processes(req->limit() ? req->limit() : 50)) {
    AggregateToProto(a, resp->add_items());
  }
  return Done(ctx, grpc::Status::OK);
}

}  // namespace portwatch::collector
