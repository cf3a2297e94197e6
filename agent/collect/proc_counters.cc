#include "collect/proc_counters.h"

#include <sstream>
#include <vector>

namespace portwatch::agent {
namespace {

std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

bool ParseValue(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 21) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size() || s.find_first_not_of("0123456789", i) != std::string::npos) return false;
  uint64_t v = 0;
  for (size_t k = i; k < s.size(); ++k) {
    const uint64_t d = static_cast<uint64_t>(s[k] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = i ? ~v + 1 : v;
  return true;
}

}  // namespace

Expected<std::map<std::string, uint64_t>> ParseProcNetCounters(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string header, values;
  int line_no = 0;
  while (std::getline(in, header)) {
    ++line_no;
    if (header.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!std::getline(in, values)) {
      return Status::Error("line " + std::to_string(line_no) + ": header without a value line");
    }
    ++line_no;
    std::vector<std::string> h = Fields(header), v = Fields(values);
    if (h.empty() || h[0].back() != ':' || v.empty() || v[0] != h[0]) {
      return Status::Error("line " + std::to_string(line_no) +
                           ": value line does not follow its header's prefix");
    }
    if (h.size() != v.size()) {
      return Status::Error("line " + std::to_string(line_no) + ": " + std::to_string(h.size()) +
                           " field names but " + std::to_string(v.size()) + " values");
    }
    const std::string prefix = h[0].substr(0, h[0].size() - 1);
    for (size_t i = 1; i < h.size(); ++i) {
      uint64_t val = 0;
      if (!ParseValue(v[i], &val)) {
        return Status::Error("line " + std::to_string(line_no) + ": value '" + v[i] + "' of " +
                             prefix + "." + h[i] + " is not a number");
      }
      out[prefix + "." + h[i]] = val;
    }
  }
  return out;
}

}  // namespace portwatch::agent
