// `portwatchctl violations [--rule R] [--host H] [--severity S]` and the violations section of
// `portwatchctl host NAME`.
#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "portwatch/v1/query.grpc.pb.h"

namespace portwatch::ctl {

struct ViolationsFlags {
  std::string rule, host, severity;
};

/// Adds the `violations` subcommand; its flags land in `flags`.
CLI::App* AddViolationsCommand(CLI::App& app, ViolationsFlags* flags);

/// Asks the collector and appends a table (or JSON) to `out`. `rpc_fail` turns an RPC error into the exit
/// code; a bad --severity is a usage error (exit 2).
int RunViolations(v1::Query::Stub& stub, grpc::ClientContext& ctx, const ViolationsFlags& flags,
                  bool json, const std::function<int(const grpc::Status&)>& rpc_fail,
                  std::string* out);

/// The VIOLATIONS section of a host's detail ("" when it has none).
std::string FormatHostViolations(const v1::HostDetail& detail);

}  // namespace portwatch::ctl
