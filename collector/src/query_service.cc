#include "src/query_service.h"

#include <cmath>
#include <map>

#include "portwatch/files.h"
#include "portwatch/tls.h"
#include "portwatch/wire.h"
#include "src/policy_query.h"

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
  out->set_churn_steps(fit.churn_steps);
  out->set_level_shifts(fit.level_shifts);
}

void SeriesToProto(const analysis::SeriesStatus& s, v1::SeriesInfo* out) {
  out->set_key(s.key);
  out->set_present(s.present);
  out->set_ports(s.ports);
  out->set_time_wait(s.time_wait);
  out->set_capacity(s.capacity);
  out->set_utilization(s.utilization);
  FitToProto(s.fit, out->mutable_forecast());
  out->set_short_window_eta_seconds(Finite(s.fit.short_window.eta_s));
  out->set_long_window_eta_seconds(Finite(s.fit.long_window.eta_s));
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

}  // namespace

void HostInfoToProto(const HostView& view, v1::HostInfo* out) {
  out->set_host(view.host);
  out->set_state(StateToProto(view.drift.state));
  out->set_last_seen_unix_ms(view.last_seen_unix_ms);
  out->set_os(static_cast<v1::OsKind>(view.hello.os));
  out->set_os_version(view.hello.os_version);
  out->set_agent_version(view.hello.agent_version);
  if (view.has_report()) {
    out->set_ports_in_use(view.report->sockets.ephemeral_ports_in_use);
    out->set_ports_usable(view.report->sockets.ephemeral_ports_usable);
    out->set_utilization(view.report->sockets.ephemeral_utilization());
    const SocketSummary& s = view.report->sockets;
    out->set_ephemeral_range_source(std::string(RangeSourceName(s.range_source)));
    out->set_ephemeral_range_assumed(s.range_source == RangeSource::kAssumedDefault);
    out->set_ephemeral_range_auto_reuse(s.auto_reuse_range);
  }
  if (view.status == nullptr) {
    // Known from a hello only: no analysis yet.
    out->set_reason(view.silent() ? "no report within the silent-after time" : "no report yet");
    return;
  }
  const analysis::HostStatus& st = *view.status;
  out->set_reason(st.reason);
  out->set_state_since_unix_ms(st.state_since_ms);
  FitToProto(st.headline_fit, out->mutable_forecast());
  out->set_headline(st.headline);
  out->set_driver_process(st.driver_process);
  out->set_driver_destination(st.driver_destination);
  out->set_explanation(st.explanation);
  out->set_steady_utilization(st.churn_worst.steady_utilization);
  out->set_churn_headroom(Finite(st.churn_worst.headroom));
  out->set_close_rate_per_second(st.churn_worst.close_rate_per_s);
  out->set_time_wait_seconds(st.time_wait_s);
  out->set_time_wait_source(st.time_wait_source);
  out->set_churn_key(st.churn_key);
  out->set_at_risk(st.at_risk);
  out->set_churn_explanation(st.churn_explanation);
  out->set_churn_process(st.churn_process);
  out->set_churn_process_inferred(st.churn_process_inferred);
  out->set_clock_skew_seconds(static_cast<double>(st.clock_skew_ms) / 1000);
  out->set_clock_corrections(st.clock_corrections);
  // The windows of the series that paged, else of the host's own range.
  const analysis::SeriesFit* windows = &st.ports.fit;
  for (const analysis::SeriesStatus& d : st.destinations) {
    if (st.trend_page && d.key == st.page_key) windows = &d.fit;
  }
  out->set_trend_page(st.trend_page);
  out->set_short_window_eta_seconds(Finite(windows->short_window.eta_s));
  out->set_long_window_eta_seconds(Finite(windows->long_window.eta_s));
}

QueryService::QueryService(const ViewPublisher& views, Rejections& rejections,
                           std::set<std::string> allowed_clients)
    : views_(views), rejections_(rejections), allowed_(std::move(allowed_clients)) {}

grpc::Status QueryService::Authorize(grpc::CallbackServerContext* ctx) const {
  // Only operator certificates (an operator URI SAN) may ask, and only those named in
  // --query-clients; an agent certificate is refused whatever its name.
  const PeerIdentity peer = IdentifyPeer(*ctx->auth_context());
  if (peer.role == PeerRole::kOperator && allowed_.count(peer.name)) {
    if (revocations_ && revocations_->revoked_count() > 0) {
      std::string why;
      if (PeerCertificateRevoked(*ctx->auth_context(), *revocations_, &why)) {
        rejections_.Reject("certificate_revoked",
                           "operator certificate '" + peer.name + "' asked a query: " + why);
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                            "certificate revoked: " + why +
                                " (the collector reloaded its CRL); issue a new operator "
                                "certificate: deploy/pki/pki.sh operator " +
                                peer.name);
      }
    }
    return grpc::Status::OK;
  }
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
  const std::shared_ptr<const FleetView> view = views_.Current();
  const auto policy = policy_ != nullptr ? policy_->Results() : nullptr;
  resp->set_total(static_cast<uint32_t>(view->hosts.size()));
  const size_t n = req->not_ok() ? view->not_ok_count() : view->ranked.size();
  for (size_t i = 0; i < n; ++i) {
    const HostView& h = *view->ranked[i];
    if (req->state() != v1::HOST_STATE_UNSPECIFIED && StateToProto(h.drift.state) != req->state()) {
      continue;
    }
    if (req->limit() != 0 && resp->hosts_size() >= static_cast<int>(req->limit())) break;
    HostInfoToProto(h, resp->add_hosts());
    if (policy != nullptr) {
      HostPolicyInfoToProto(*policy, h.host, resp->mutable_hosts(resp->hosts_size() - 1));
    }
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::GetHost(grpc::CallbackServerContext* ctx,
                                                const v1::GetHostRequest* req,
                                                v1::HostDetail* resp) {
  grpc::Status st = Authorize(ctx);
  if (!st.ok()) return Done(ctx, st);
  const std::shared_ptr<const FleetView> view = views_.Current();
  const HostView* h = view->Find(req->host());
  if (h == nullptr) {
    return Done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                  "no host '" + req->host() +
                                      "' has reported to this collector; `portwatchctl hosts` "
                                      "lists the hosts it knows"));
  }
  HostInfoToProto(*h, resp->mutable_info());
  if (h->status != nullptr) {
    for (const auto& d : h->status->destinations) SeriesToProto(d, resp->add_destinations());
    for (const auto& p : h->status->processes) SeriesToProto(p, resp->add_processes());
  }
  if (h->config != nullptr) ToProto(*h->config, resp->mutable_config());
  if (h->has_report()) ToProto(*h->report, resp->mutable_last_report());
  if (policy_ != nullptr) HostViolationsToProto(*policy_->Results(), req->host(), resp);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::FleetDestinations(grpc::CallbackServerContext* ctx,
                                                          const v1::FleetRequest* req,
                                                          v1::FleetAggregates* resp) {
  grpc::Status st = Authorize(ctx);
  if (!st.ok()) return Done(ctx, st);
  const std::shared_ptr<const FleetView> view = views_.Current();
  const size_t limit = req->limit() ? req->limit() : FleetView::kFleetTop;
  for (size_t i = 0; i < std::min(limit, view->destinations.size()); ++i) {
    AggregateToProto(view->destinations[i], resp->add_items());
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::FleetProcesses(grpc::CallbackServerContext* ctx,
                                                       const v1::FleetRequest* req,
                                                       v1::FleetAggregates* resp) {
  grpc::Status st = Authorize(ctx);
  if (!st.ok()) return Done(ctx, st);
  const std::shared_ptr<const FleetView> view = views_.Current();
  const size_t limit = req->limit() ? req->limit() : FleetView::kFleetTop;
  for (size_t i = 0; i < std::min(limit, view->processes.size()); ++i) {
    AggregateToProto(view->processes[i], resp->add_items());
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* QueryService::ListViolations(grpc::CallbackServerContext* ctx,
                                                       const v1::ListViolationsRequest* req,
                                                       v1::ListViolationsResponse* resp) {
  grpc::Status st = Authorize(ctx);
  if (!st.ok()) return Done(ctx, st);
  if (policy_ == nullptr) {
    return Done(ctx, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "this collector runs without the policy audit"));
  }
  ViolationsToProto(*policy_->Results(), *req, resp);
  return Done(ctx, grpc::Status::OK);
}

}  // namespace portwatch::collector
