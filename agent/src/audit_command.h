// `portwatch-agent audit [--policy FILE] [--json]`: the policy audit of this one host, with no
// collector: the default (or given) policy against the host's settings and current traffic,
// through the same evaluation code the collector runs (portwatch_policy).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "portwatch/policy/policy.h"
#include "portwatch/status.h"
#include "src/sampler.h"

namespace portwatch::agent {

struct AuditFlags {
  std::string policy_file;  ///< empty: the built-in default policy
  bool json = false;
};

/// Adds the `audit` subcommand to `app`; its flags land in `flags`.
CLI::App* AddAuditCommand(CLI::App& app, AuditFlags* flags);

/// What one audit found.
struct AuditResult {
  policy::Policy policy;
  policy::HostFacts facts;  ///< the settings and observations evaluated
  std::vector<policy::Violation> violations;
};

/// Loads the policy, samples the host twice a second apart (counter deltas are evidence) and
/// evaluates. Errors: the policy cannot be read, or the host cannot be sampled.
Expected<AuditResult> AuditThisHost(const AuditFlags& flags, const std::string& host_name,
                                    Sampler& sampler);

/// Samples the host twice a second apart (counter deltas are evidence), evaluates, prints a
/// table or JSON. Exit code 0: no violation; 1: violations found; 2: the audit could not run.
int RunAudit(const AuditFlags& flags, const std::string& host_name, Sampler& sampler);

}  // namespace portwatch::agent
