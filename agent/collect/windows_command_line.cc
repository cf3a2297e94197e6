// The service's command line: arguments quoted as CommandLineToArgvW splits them.
#include "collect/windows_mapping.h"

namespace portwatch::agent::win {

std::string QuoteWindowsArgument(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n\v\"") == std::string::npos) return arg;
  std::string out = "\"";
  size_t backslashes = 0;
  for (char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    // Backslashes are literal except before a quote, where each must be doubled.
    out.append(c == '"' ? backslashes * 2 + 1 : backslashes, '\\');
    backslashes = 0;
    out.push_back(c);
  }
  out.append(backslashes * 2, '\\');  // before the closing quote
  out.push_back('"');
  return out;
}

}  // namespace portwatch::agent::win
