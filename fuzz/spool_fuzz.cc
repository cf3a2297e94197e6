// The agent's spool reader on an arbitrary segment file: the input is written as the oldest
// segment of a spool directory, which is opened as an agent does at start. Beyond not crashing:
// the damaged file never stops the spool from opening, every report it accepted is readable, and a
// report appended afterwards survives a restart along with everything recovered before (unless
// the file holds an intact "consumed" marker naming that position: then it was acknowledged).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "src/spool.h"

namespace fs = std::filesystem;
namespace pa = portwatch::agent;

namespace {

std::string g_dir;

pa::SpoolOptions Options() {
  pa::SpoolOptions o;
  o.dir = g_dir;
  o.max_bytes = 1ull << 30;  // no bound drops: what is kept is what the reader recovered
  o.max_age_ms = 0;
  o.sync = false;
  o.log = [](const std::string&) {};
  return o;
}

uint64_t Le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// The furthest position an intact consumed marker in the file names, as (segment, offset).
std::pair<uint64_t, uint64_t> FurthestMarker(const uint8_t* d, size_t n) {
  std::pair<uint64_t, uint64_t> best{0, 0};
  for (size_t p = 0; p + 12 + 17 <= n; ++p) {
    if (std::memcmp(d + p, "PWSP", 4) != 0 || Le(d + p + 4, 4) != 17 || d[p + 12] != 2) continue;
    if (pa::Crc32(d + p + 12, 17) != Le(d + p + 8, 4)) continue;
    best = std::max(best, std::make_pair(Le(d + p + 13, 8), Le(d + p + 21, 8)));
  }
  return best;
}

std::vector<pa::SpoolEntry> Drain(pa::Spool& s) {
  std::vector<pa::SpoolEntry> out;
  for (auto e = s.Next(0); e; e = s.Next(e->id)) out.push_back(std::move(*e));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* shm = fs::is_directory("/dev/shm") ? "/dev/shm" : nullptr;
  g_dir = ((shm ? fs::path(shm) : fs::temp_directory_path()) /
           ("portwatch-spool-fuzz-" + std::to_string(getpid())))
              .string();
  std::atexit([] { fs::remove_all(g_dir); });  // the last input's spool goes with the run
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fs::remove_all(g_dir);
  fs::create_directory(g_dir);
  {
    std::ofstream f(g_dir + "/seg-0000000000000001.pws", std::ios::binary);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::vector<pa::SpoolEntry> first;
  uint64_t sentinel_offset = 0;
  {
    auto s = pa::Spool::Open(Options(), 1000);
    if (!s.ok()) std::abort();  // a damaged segment must not keep the agent from starting
    const uint64_t recovered = (*s)->stats().recovered_records;
    first = Drain(**s);
    if (first.size() != recovered) std::abort();  // an accepted record turned unreadable
    sentinel_offset = fs::exists(g_dir + "/seg-0000000000000002.pws")
                          ? fs::file_size(g_dir + "/seg-0000000000000002.pws")
                          : 0;
    (*s)->Append("sentinel", 7, 2000, "the report appended after the damage", 2000);
  }
  auto s = pa::Spool::Open(Options(), 3000);
  if (!s.ok()) std::abort();
  const std::vector<pa::SpoolEntry> again = Drain(**s);
  const bool acknowledged =
      FurthestMarker(data, size) > std::make_pair(uint64_t{2}, sentinel_offset);
  if (acknowledged) return 0;
  if (again.size() != first.size() + 1) std::abort();
  for (size_t i = 0; i < first.size(); ++i) {
    if (again[i].instance_id != first[i].instance_id || again[i].sequence != first[i].sequence ||
        again[i].payload != first[i].payload) {
      std::abort();
    }
  }
  if (again.back().instance_id != "sentinel" || again.back().sequence != 7 ||
      again.back().payload != "the report appended after the damage") {
    std::abort();
  }
  return 0;
}
