// Reading a policy from YAML (yaml-cpp). A separate target from the rule model: the mingw build
// has no yaml-cpp and uses the default policy compiled in instead (see policy/README.md).
#pragma once

#include <string>

#include "portwatch/policy/policy.h"
#include "portwatch/status.h"

namespace portwatch::policy {

/// Parses and validates a policy. Errors name `origin`, the line and the problem
/// ("policy.yaml line 12: rule 'x': severity 'high' is not info, warning or critical").
Expected<Policy> ParsePolicyYaml(const std::string& text, const std::string& origin);

/// Reads `path` (bounded in size) and parses it.
Expected<Policy> LoadPolicyFile(const std::string& path);

}  // namespace portwatch::policy
