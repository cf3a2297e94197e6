// store_bench: how fast the collector's store takes reports on this machine. Writes batches of
// report-sized rows through Store::Write, as the store writer does, for each sync mode and a few
// batch sizes, and prints reports per second and the time per commit (what an agent waits for
// its ack, on top of the network).
//
//   store_bench [--dir DIR] [--reports N] [--payload BYTES]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

#include "portwatch/files.h"
#include "src/store.h"

namespace pc = portwatch::collector;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"Measures the collector store's ingest rate"};
  std::string dir = fs::temp_directory_path().string();
  int reports = 20000;
  size_t payload_bytes = 2048;
  app.add_option("--dir", dir, "Where to put the scratch database (the disk under test)")
      ->capture_default_str();
  app.add_option("--reports", reports, "Reports per run")->capture_default_str();
  app.add_option("--payload", payload_bytes, "Bytes per serialized report")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::mt19937 rng(42);
  std::string payload(payload_bytes, '\0');
  for (char& c : payload) c = static_cast<char>(rng());
  const int kHosts = 1000;
  std::printf("%-7s %6s %10s %12s %12s %12s\n", "sync", "batch", "reports", "reports/s",
              "commit p50", "commit max");
  std::unique_ptr<pc::Store> prune_store;  // kept from one run to time a retention pass
  std::string prune_path;
  for (bool full : {true, false}) {
    for (size_t batch : {size_t{1}, size_t{32}, size_t{512}}) {
      const int n = batch == 1 ? std::min(reports, 2000) : reports;  // one fsync each: keep short
      const fs::path path = fs::path(dir) / ("store-bench-" + std::to_string(rng()) + ".db");
      pc::StoreOptions o;
      o.path = path.string();
      o.synchronous_full = full;
      auto store = pc::Store::Open(o);
      if (!store.ok()) {
        std::fprintf(stderr, "store_bench: %s\n", store.error().c_str());
        return 2;
      }
      std::vector<double> commit_ms;
      std::vector<pc::StoreOp> ops;
      const int64_t now = portwatch::NowUnixMs();
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n;) {
        ops.clear();
        for (size_t k = 0; k < batch && i < n; ++k, ++i) {
          pc::StoreOp op;
          op.host = "host" + std::to_string(i % kHosts);
          pc::StoredReport& r = op.report;
          r.host = op.host;
          r.instance_id = "bench";
          r.sequence = static_cast<uint64_t>(i / kHosts + 1);
          r.collected_unix_ms = now + i;
          r.received_unix_ms = now + i;
          r.ports_in_use = static_cast<uint32_t>(i % 28000);
          r.ports_usable = 28232;
          r.payload = payload;
          ops.push_back(std::move(op));
        }
        const auto c0 = std::chrono::steady_clock::now();
        auto res = (*store)->Write(ops);
        commit_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - c0)
                .count());
        if (!res.ok()) {
          std::fprintf(stderr, "store_bench: %s\n", res.error().c_str());
          return 1;
        }
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::sort(commit_ms.begin(), commit_ms.end());
      std::printf("%-7s %6zu %10d %12.0f %10.2fms %10.2fms\n", full ? "full" : "normal", batch, n,
                  n / secs, commit_ms[commit_ms.size() / 2], commit_ms.back());
      if (full && batch == 512) prune_store = std::move(*store);
      store->reset();
      if (prune_store && prune_path.empty()) {
        prune_path = path.string();
        continue;
      }
      for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
    }
  }
  // The writer runs retention once a minute; its cost grows with the number of hosts.
  const auto p0 = std::chrono::steady_clock::now();
  auto pruned = prune_store->Prune(portwatch::NowUnixMs());
  std::printf(
      "retention pass over %d hosts: %.1f ms (%llu reports deleted)\n", kHosts,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - p0).count(),
      static_cast<unsigned long long>(pruned.ok() ? *pruned : 0));
  prune_store.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(prune_path + suffix);
  return 0;
}
