// The Query gRPC service: read-only answers about the fleet from fleet state and drift analysis.
// Callback API; every call is answered inline from in-memory state (no blocking I/O). Only client
// certificates whose name is in the allowed set may call it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <set>
#include <string>

#include "portwatch/v1/query.grpc.pb.h"
#include "src/drift_monitor.h"
#include "src/fleet_state.h"
#include "src/policy_monitor.h"
#include "src/rejections.h"

namespace portwatch::collector {

class QueryService final : public v1::Query::CallbackService {
 public:
  QueryService(const FleetState& fleet, const DriftMonitor& drift, Rejections& rejections,
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

 private:
  /// OK, or PERMISSION_DENIED naming the certificate and what to do.
  grpc::Status Authorize(grpc::CallbackServerContext* ctx) const;

  const FleetState& fleet_;
  const DriftMonitor& drift_;
  Rejections& rejections_;
  const std::set<std::string> allowed_;
  const PolicyMonitor* policy_ = nullptr;
};

/// The protobuf form of one host's analysis, with the agent facts fleet state holds.
void HostInfoToProto(const analysis::HostStatus& st, const HostView* view, v1::HostInfo* out);

}  // namespace portwatch::collector
