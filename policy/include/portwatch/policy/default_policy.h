// The default policy compiled into the binary: generated at build time from
// deploy/policy/default.yaml by policy_embed, so builds without a YAML parser (mingw) have it too.
#pragma once

#include "portwatch/policy/policy.h"

namespace portwatch::policy {

/// The shipped default policy (origin "built-in default policy").
Policy DefaultPolicy();

}  // namespace portwatch::policy
