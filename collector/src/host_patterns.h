// The optional allow-list of host names (--allow-hosts): glob patterns matched against the host
// name an agent certificate's DNS SAN gives, so a certificate the fleet CA issued by mistake (or
// for another purpose) cannot add a host outside the fleet's naming.
#pragma once

#include <string>
#include <vector>

#include "portwatch/status.h"

namespace portwatch::collector {

class HostPatterns {
 public:
  /// Parses a comma-separated list of glob patterns ("*.prod.example.com,web??"): `*` any run of
  /// characters (dots included), `?` one character, `[a-c]` a set. Matching ignores case, as DNS
  /// does. An empty list allows every host. `flag` names the option in error messages.
  static Expected<HostPatterns> Parse(const std::string& list, const std::string& flag);
  /// True when the list is empty or `host` matches one of its patterns.
  bool Allows(const std::string& host) const;
  bool empty() const { return patterns_.empty(); }
  /// The patterns, comma-separated (for messages).
  std::string ToString() const;

 private:
  std::vector<std::string> patterns_;
};

}  // namespace portwatch::collector
