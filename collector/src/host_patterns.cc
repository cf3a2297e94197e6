#include "src/host_patterns.h"

#include <fnmatch.h>

namespace portwatch::collector {
namespace {

// What a DNS name can hold, plus the glob's own characters: anything else in a pattern is a typo
// (a space, a quote) that would silently match nothing.
bool PatternChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_' || c == '*' || c == '?' || c == '[' || c == ']' || c == '!';
}

}  // namespace

Expected<HostPatterns> HostPatterns::Parse(const std::string& list, const std::string& flag) {
  HostPatterns out;
  size_t pos = 0;
  while (pos <= list.size() && !list.empty()) {
    const size_t comma = list.find(',', pos);
    const std::string p =
        list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (p.empty()) {
      return Status::Error(flag + " '" + list +
                           "': an empty pattern between commas; list patterns like "
                           "*.prod.example.com,web??");
    }
    for (char c : p) {
      if (!PatternChar(c)) {
        return Status::Error(flag + " pattern '" + p + "': character '" + std::string(1, c) +
                             "' cannot be in a host name; use letters, digits, '.', '-' and the "
                             "glob characters * ? [ ]");
      }
    }
    if (p.size() > 253)
      return Status::Error(flag + " pattern '" + p + "' is longer than a DNS name");
    out.patterns_.push_back(p);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

bool HostPatterns::Allows(const std::string& host) const {
  if (patterns_.empty()) return true;
  for (const auto& p : patterns_) {
    if (fnmatch(p.c_str(), host.c_str(), FNM_CASEFOLD) == 0) return true;
  }
  return false;
}

std::string HostPatterns::ToString() const {
  std::string s;
  for (const auto& p : patterns_) s += (s.empty() ? "" : ",") + p;
  return s;
}

}  // namespace portwatch::collector
