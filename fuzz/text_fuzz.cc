// SanitizeText on arbitrary bytes: the output is always within the bound and a fixed point.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "portwatch/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t bound = data[0];  // the first byte picks the bound, so cuts are exercised too
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string out = portwatch::SanitizeText(in, bound);
  if (out.size() > bound) std::abort();
  if (!portwatch::IsCleanText(out, bound)) std::abort();
  return 0;
}
