// The Query gRPC service: read-only answers about the fleet from the published fleet view
// (fleet_view.h). Callback API; every call is answered inline from the view, with no lock that
// ingest or analysis holds and no blocking I/O. Only client certificates whose name is in the
// allowed set may call it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <set>
#include <string>

#include "portwatch/revocation.h"
#include "portwatch/v1/query.grpc.pb.h"
#include "src/fleet_view.h"
#include "src/policy_monitor.h"
#include "src/rejections.h"

namespace portwatch::collector {

class QueryService final : public v1::Query::CallbackService {
 public:
  QueryService(const ViewPublisher& views, Rejections& rejections,
               std::set<std::string> allowed_clients);

  grpc::ServerUnaryReactor* ListHosts(grpc::CallbackServerContext* ctx,
                                      const v1::ListHostsRequest* req,
                                      v1::ListHostsResponse* resp) override;
  grpc::ServerUnaryReactor* GetHost(grpc::CallbackServerContext* ctx,
                                    const v1::GetHostRequest* req,
                                    v1::HostDetail* resp) override;
  grpc::ServerUnaryReactor* FleetDestinations(grpc::CallbackServerContext* ctx,
                                              const v1::FleetRequest* req,
                                              v1::FleetAggregates* resp) override;
  grpc::ServerUnaryReactor* FleetProcesses(grpc::CallbackServerContext* ctx,
                                           const v1::FleetRequest* req,
                                           v1::FleetAggregates* resp) override;
  grpc::ServerUnaryReactor* ListViolations(grpc::CallbackServerContext* ctx,
                                           const v1::ListViolationsRequest* req,
                                           v1::ListViolationsResponse* resp) override;
  /// Answers ListViolations and adds violations to GetHost. Call before serving.
  void SetPolicyMonitor(const PolicyMonitor* policy) { policy_ = policy; }
  /// Checks every call's certificate against the CRL in force (the handshake checks it too, but a
  /// connection made before the CRL was reloaded keeps its handshake). Call before serving.
  void SetRevocations(std::shared_ptr<const RevocationList> revocations) {
    revocations_ = std::move(revocations);
  }

 private:
  /// OK, or PERMISSION_DENIED naming the certificate and what to do.
  grpc::Status Authorize(grpc::CallbackServerContext* ctx) const;

  const ViewPublisher& views_;
  Rejections& rejections_;
  const std::set<std::string> allowed_;
  const PolicyMonitor* policy_ = nullptr;
  std::shared_ptr<const RevocationList> revocations_;  // null: no --crl
};

/// The protobuf form of one host as a view holds it: its analysis and the agent's facts.
void HostInfoToProto(const HostView& view, v1::HostInfo* out);

}  // namespace portwatch::collector
